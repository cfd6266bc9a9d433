"""memory_indexer against the fake GitHub and real pgvector: backfill, push, issues, uninstall."""

from __future__ import annotations

import copy

import payloads
import psycopg
import pytest
from fakes.github import FakeGitHub

from shared.memory.store import Memory
from shared.model.embeddings import HashingEmbedder
from shared.pipeline.worker import cloudevent_for, load_handler
from shared.runtime.db import make_pool

REPO = "Codertocat/Hello-World"
TOKEN = "ghp_" + "m" * 36
PARSER = (
    '"""Config parsing."""\n\n\ndef load_config(path):\n    """Read config.yml and return a dict."""\n    return {}\n'
)


@pytest.fixture
def world(env, clean_db):
    github = FakeGitHub().start()
    github.add_repo(REPO, default_branch="master")
    github.add_token(TOKEN, repos=[REPO])
    github.add_file(REPO, "README.md", "# Hello\n\nInstall with pip. Configure with config.yml.\n")
    github.add_file(REPO, "docs/usage.md", "# Usage\n\nRun `hello serve` to start the server.\n")
    github.add_file(REPO, "src/parser.py", PARSER)
    github.add_file(REPO, "package-lock.json", "{}\n")
    github.add_file(REPO, "logo.png", b"\x89PNG\r\n\x1a\n\x00\x00")
    github.add_issue(REPO, 1, title="Crash when config is missing", body="FileNotFoundError at start.", state="closed")
    github.add_issue(REPO, 2, title="Add dark mode", body="Please.", pull_request=True, head_sha="a" * 40)
    github.add_comment(REPO, 1, "Happens on Windows too.")
    github.add_comment(REPO, 1, "<!-- petrel:triage -->\nPetrel's own words", user="petrel[bot]", user_type="Bot")
    env(
        GITHUB_TOKEN=TOKEN,
        GITHUB_API_URL=github.url,
        DATABASE_URL=clean_db,
        PETREL_EMBEDDING_MODEL="offline",
        PETREL_GITHUB_WRITE_SPACING_SECONDS=0,
    )
    pool = make_pool(clean_db)
    handler = load_handler("memory_indexer")

    def deliver(event, payload):
        import json

        from shared.pipeline import events

        delivery = events.parse_delivery(
            {"X-GitHub-Event": event, "X-GitHub-Delivery": f"d-{len(github.requests)}"}, json.dumps(payload).encode()
        )
        handler(cloudevent_for(delivery))

    yield github, Memory(pool, HashingEmbedder()), deliver, clean_db
    pool.close()
    github.stop()


def installed(installation_id=7):
    payload = copy.deepcopy(payloads.example("installation", "created"))
    payload["installation"]["id"] = installation_id
    payload["repositories"] = [{"full_name": REPO, "name": "Hello-World", "private": False}]
    return payload


def rows(url, *columns):
    with psycopg.connect(url) as conn:
        return conn.execute(f"SELECT {', '.join(columns)} FROM documents ORDER BY kind, source, chunk").fetchall()


def test_installation_backfills_docs_code_issues_and_pull_requests(world):
    github, memory, deliver, url = world
    deliver("installation", installed())
    stored = {(kind, source) for kind, source in rows(url, "kind", "source")}
    assert stored == {
        ("file", "README.md"),
        ("file", "docs/usage.md"),
        ("file", "src/parser.py"),
        ("issue", "1"),
        ("pull_request", "2"),
    }
    [thread] = [body for kind, source, body in rows(url, "kind", "source", "body") if source == "1"]
    assert "Happens on Windows too." in thread and "Petrel's own words" not in thread
    assert {i for (i,) in rows(url, "installation_id")} == {7}
    [hit] = memory.search(REPO, "how do I load the config file", k=1, kinds=("file",))
    assert hit.source == "src/parser.py" and "def load_config" in hit.title  # small pieces merged into one chunk
    assert (hit.start_line, hit.end_line) == (1, 6)


def test_push_reindexes_only_changed_files_and_drops_removed_ones(world):
    github, memory, deliver, url = world
    deliver("installation", installed())
    github.add_file(REPO, "src/parser.py", PARSER.replace("return {}", "return {'debug': False}"))
    github.remove_file(REPO, "docs/usage.md")
    before = len([r for r in github.requests if "/git/blobs/" in r.path])
    push = copy.deepcopy(payloads.example("push"))
    push["ref"] = "refs/heads/master"
    deliver("push", push)
    fetched = [r.path for r in github.requests if "/git/blobs/" in r.path][before:]
    assert len(fetched) == 1  # only the changed file
    assert {source for kind, source in rows(url, "kind", "source") if kind == "file"} == {"README.md", "src/parser.py"}
    assert "debug" in memory.search(REPO, "debug", k=1, kinds=("file",))[0].body


def test_push_to_another_branch_changes_nothing(world):
    github, memory, deliver, url = world
    push = copy.deepcopy(payloads.example("push"))  # refs/tags/simple-tag
    deliver("push", push)
    assert rows(url, "source") == []
    assert not [r for r in github.requests if "/git/" in r.path]


def test_issue_events_keep_the_thread_current(world):
    github, memory, deliver, url = world
    payload = payloads.with_installation(copy.deepcopy(payloads.example("issues", "edited")), 7)
    payload["issue"].update(
        number=1,
        title="Crash when config.yml is missing",
        body="Edited body.",
        comments=0,
        updated_at="2026-11-25T10:00:00Z",
    )
    deliver("issues", payload)
    assert rows(url, "kind", "source", "title", "body", "version") == [
        ("issue", "1", "Crash when config.yml is missing", "Edited body.", "2026-11-25T10:00:00Z")
    ]


def test_uninstall_and_removed_repositories_forget_their_memory(world):
    github, memory, deliver, url = world
    deliver("installation", installed(7))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO documents (installation_id, repository, kind, source, body, model, embedding) "
            "VALUES (8, 'other/repo', 'issue', '1', 'x', 'm', '[1,0]')"
        )
    removed = copy.deepcopy(payloads.example("installation_repositories", "removed"))
    removed["repositories_removed"] = [{"full_name": REPO}]
    deliver("installation_repositories", removed)
    assert {r for (r,) in rows(url, "repository")} == {"other/repo"}
    deliver("installation", installed(7))
    deleted = copy.deepcopy(payloads.example("installation", "deleted"))
    deleted["installation"]["id"] = 7
    deliver("installation", deleted)
    assert {r for (r,) in rows(url, "repository")} == {"other/repo"}


def test_a_persons_comment_with_a_marker_is_knowledge_and_petrels_own_is_not(world):
    github, memory, deliver, url = world
    github.add_comment(REPO, 1, "<!-- petrel:summary -->\nIt crashes in config.py line 3.", user="mallory")
    github.add_comment(REPO, 1, "<!-- petrel:help -->\nPetrel's help, as a personal token's user", user="petrel-bot")
    deliver("installation", installed())
    [thread] = [body for kind, source, body in rows(url, "kind", "source", "body") if source == "1"]
    assert "It crashes in config.py line 3." in thread
    assert "Petrel's help" not in thread and "Petrel's own words" not in thread
