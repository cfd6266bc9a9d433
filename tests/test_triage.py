"""Issue triage on real pgvector memory with the fake model: tiers, labels, first answers."""

from __future__ import annotations

from dataclasses import replace

import payloads
import pytest
from fakes.openai import FakeOpenAI

from shared.github import actions
from shared.memory.store import Document, Memory
from shared.model import llm
from shared.model.embeddings import HashingEmbedder
from shared.model.llm import Model
from shared.repo_config.schema import DEFAULTS
from shared.runtime import settings
from shared.runtime.db import make_pool
from shared.triage import TRIAGE_KEY, IssueInfo, issue_from_payload, plan_triage, skip_reason

REPO = "o/r"
EARLIER = [
    (
        1,
        "Crash when the config file is missing",
        "Starting the app without config.yml raises FileNotFoundError.",
        "closed",
    ),
    (2, "Dark mode for the settings page", "Please add a dark theme to the settings screen.", "open"),
    (3, "Login fails with SSO", "Single sign-on redirects back to the login page forever.", "open"),
]
LABELS = {
    "bug": "Something is broken",
    "question": "Further information is requested",
    "duplicate": "This issue already exists",
    "enhancement": "New feature",
}
NEW = IssueInfo(
    REPO,
    10,
    "App crashes at start when config.yml is missing",
    "If there is no config file the app raises FileNotFoundError on start.",
    "alice",
    False,
    (),
)


@pytest.fixture
def memory(clean_db):
    pool = make_pool(clean_db)
    memory = Memory(pool, HashingEmbedder())
    for number, title, body, state in EARLIER:
        memory.replace(REPO, "issue", str(number), [Document(REPO, "issue", str(number), title, body, state=state)])
    memory.replace(
        REPO,
        "file",
        "docs/config.md",
        [
            Document(
                REPO,
                "file",
                "docs/config.md",
                "Configuration",
                "The app reads config.yml from the working directory. Create it with `app init`.",
                start_line=1,
                end_line=12,
            )
        ],
    )
    yield memory
    pool.close()


class Model_:
    """The fake model server, answering each kind of triage question from a table."""

    def __init__(self):
        self.server = FakeOpenAI().start()
        self.answers = {
            "duplicates": {"candidates": []},
            "labels": {"labels": []},
            "answer": {"answerable": False, "answer": "", "sources": []},
        }
        self.server.responder = lambda request: {
            "json": self.answers[request["response_format"]["json_schema"]["name"]]
        }
        llm._MODES.clear()

    def model(self) -> Model:
        config = settings.from_env(
            {"OPENAI_BASE_URL": self.server.url + "/v1", "OPENAI_API_KEY": "sk-test", "PETREL_MODEL_MAX_RETRIES": "0"}
        )
        return Model(config, function="issue_triage", repository=REPO)

    def asked(self, name) -> list[dict]:
        return [r for r in self.server.chat_requests() if r["response_format"]["json_schema"]["name"] == name]


@pytest.fixture
def fake_model():
    model = Model_()
    yield model
    model.server.stop()


def comment_of(steps):
    found = [s for s in steps if isinstance(s, actions.UpsertComment)]
    assert [s.key for s in found] in ([], [TRIAGE_KEY])
    return found[0].body if found else None


def labels_of(steps):
    found = [s for s in steps if isinstance(s, actions.AddLabels)]
    return list(found[0].labels) if found else []


def test_high_confidence_duplicate_gets_the_label_and_a_link(memory, fake_model):
    fake_model.answers["duplicates"] = {
        "candidates": [
            {"number": 1, "confidence": 0.93, "reason": "Same crash."},
            {"number": 3, "confidence": 0.1, "reason": "Unrelated."},
        ]
    }
    steps, report = plan_triage(NEW, memory, fake_model.model(), DEFAULTS, LABELS)
    assert report.duplicate == (1, 0.93, "Same crash.") and 1 in report.candidates
    assert labels_of(steps) == ["duplicate"]
    assert comment_of(steps).startswith("This looks like a duplicate of #1 (Crash when the config file is missing)")
    shown = fake_model.asked("duplicates")[0]["messages"][-1]["content"]
    assert "#1 (issue, closed): Crash when the config file is missing" in shown
    assert "#10" not in shown.split("EARLIER:")[1]  # the new issue is never its own candidate


def test_middle_confidence_is_possibly_related_and_low_is_nothing(memory, fake_model):
    fake_model.answers["duplicates"] = {"candidates": [{"number": 1, "confidence": 0.7, "reason": "Close."}]}
    steps, report = plan_triage(NEW, memory, fake_model.model(), DEFAULTS, LABELS)
    assert report.duplicate is None and labels_of(steps) == []
    assert comment_of(steps).startswith("Possibly related:\n- #1 Crash when the config file is missing")
    fake_model.answers["duplicates"] = {"candidates": [{"number": 1, "confidence": 0.3, "reason": "Not really."}]}
    steps, _ = plan_triage(NEW, memory, fake_model.model(), DEFAULTS, LABELS)
    assert steps == []


def test_numbers_the_model_was_not_shown_are_ignored(memory, fake_model):
    fake_model.answers["duplicates"] = {
        "candidates": [
            {"number": 999, "confidence": 1.0, "reason": "Invented."},
            {"number": 10, "confidence": 1.0, "reason": "Itself."},
        ]
    }
    steps, report = plan_triage(NEW, memory, fake_model.model(), DEFAULTS, LABELS)
    assert report.duplicate is None and steps == []


def test_no_duplicate_label_when_the_repository_has_none(memory, fake_model):
    fake_model.answers["duplicates"] = {"candidates": [{"number": 1, "confidence": 0.95, "reason": "Same."}]}
    labels = {k: v for k, v in LABELS.items() if k != "duplicate"}
    steps, _ = plan_triage(NEW, memory, fake_model.model(), DEFAULTS, labels)
    assert labels_of(steps) == [] and "duplicate of #1" in comment_of(steps)


def test_labels_only_from_the_repository_above_the_threshold_and_mapped(memory, fake_model):
    fake_model.answers["labels"] = {
        "labels": [
            {"name": "Bug", "confidence": 0.9},
            {"name": "security", "confidence": 0.99},
            {"name": "question", "confidence": 0.4},
            {"name": "duplicate", "confidence": 0.99},
            {"name": "defect", "confidence": 0.8},
        ]
    }
    config = replace(
        DEFAULTS, triage=replace(DEFAULTS.triage, duplicates=False, label_mapping=(("defect", "enhancement"),))
    )
    steps, report = plan_triage(NEW, memory, fake_model.model(), config, LABELS)
    assert labels_of(steps) == ["bug", "enhancement"] and report.labels == ["bug", "enhancement"]
    offered = fake_model.asked("labels")[0]["messages"][-1]["content"]
    assert "- bug: Something is broken" in offered and "- defect" in offered and "- duplicate" not in offered


def test_first_answer_cites_only_retrieved_files(memory, fake_model):
    fake_model.answers["answer"] = {
        "answerable": True,
        "answer": "Run `app init` to create config.yml.",
        "sources": ["docs/config.md", "docs/invented.md"],
    }
    config = replace(DEFAULTS, triage=replace(DEFAULTS.triage, first_answer=True, duplicates=False, labels=False))
    info = replace(NEW, server="https://github.com", default_branch="main")
    steps, report = plan_triage(info, memory, fake_model.model(), config, LABELS)
    body = comment_of(steps)
    assert body.startswith("Run `app init` to create config.yml.")
    assert "[`docs/config.md`](https://github.com/o/r/blob/main/docs/config.md#L1-L12)" in body
    assert "invented" not in body and report.sources == ["docs/config.md"]


def test_first_answer_is_off_by_default_and_silent_when_docs_do_not_answer(memory, fake_model):
    plan_triage(NEW, memory, fake_model.model(), DEFAULTS, LABELS)
    assert fake_model.asked("answer") == []
    config = replace(DEFAULTS, triage=replace(DEFAULTS.triage, first_answer=True, duplicates=False, labels=False))
    steps, _ = plan_triage(NEW, memory, fake_model.model(), config, LABELS)
    assert steps == []


def test_issue_from_a_real_payload_and_skips():
    payload = payloads.example("issues", "opened")
    info = issue_from_payload(payload)
    assert (info.repository, info.number) == (payload["repository"]["full_name"], payload["issue"]["number"])
    assert skip_reason(info) is None
    assert "bot" in skip_reason(replace(info, author_is_bot=True, author="dependabot[bot]"))
    assert "@petrel ignore" in skip_reason(replace(info, body="please @petrel ignore this"))
