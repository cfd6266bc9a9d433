"""Benchmark: what Petrel itself costs to plan the review of a large pull request.

The diff is a real one (tests/fixtures/diffs/large.diff, about 5,000 changed lines of a
public project's history). The model is the fake OpenAI-compatible server from the tests,
answering at once, so the time measured is Petrel's own: parsing, filtering, ranking,
packing, prompts, validation and placement, plus the loopback HTTP of each call. The time
spent inside model calls is measured separately and reported too.

Reported (median of several runs): planning time without the model's time, model calls,
tokens sent, and the share of changed lines that reached the model.
"""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from fakes.openai import FakeOpenAI  # noqa: E402

from shared import diff  # noqa: E402
from shared.github.pulls import PullInfo  # noqa: E402
from shared.model import llm
from shared.repo_config.schema import DEFAULTS  # noqa: E402
from shared.review.plan import plan_review  # noqa: E402
from shared.runtime import settings

RUNS = 5
DIFF = ROOT / "tests" / "fixtures" / "diffs" / "large.diff"


class DiffSource:
    """A pull request made of one saved diff."""

    def __init__(self, text: str):
        self.text = text

    def info(self) -> PullInfo:
        return PullInfo(
            "bench/repository", 1, "A large change", "", False, (), "someone", False, "f" * 40, "e" * 40, "main"
        )

    def changes(self) -> diff.Changes:
        return diff.Changes(diff.parse(self.text))

    def changes_since(self, old_head):
        return None

    def posted_findings(self):
        return []

    def head_file(self, path):
        return None  # the saved diff has no head files: no code around the changes

    def default_file(self, path):
        return None  # no repository: no rule files

    def commit_messages(self):
        return []

    def issue(self, number):
        return None

    def config(self):
        raise NotImplementedError


def answer(request: dict):
    name = (request.get("response_format") or {}).get("json_schema", {}).get("name")
    return {"json": {"trivial": []}} if name == "triage" else {"json": {"findings": []}}


class TimedModel(llm.Model):
    """The model, with the time spent waiting for answers added up."""

    waited = 0.0

    def _call(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return super()._call(*args, **kwargs)
        finally:
            self.waited += time.perf_counter() - started


def run_once(server: FakeOpenAI, text: str) -> dict:
    config = settings.from_env(
        {
            "OPENAI_BASE_URL": server.url + "/v1",
            "OPENAI_API_KEY": "sk-bench",
            "PETREL_MODEL_CONTEXT_TOKENS": "32000",
            "PETREL_MODEL_MAX_RETRIES": "0",
        }
    )
    model = TimedModel(config, function="bench")
    started = time.perf_counter()
    # one chunk at a time, so the time inside model calls can be subtracted exactly
    config_one = replace(DEFAULTS, review=replace(DEFAULTS.review, concurrency=1))
    steps, report, skipped = plan_review(DiffSource(text), model, config_one, None)
    total = time.perf_counter() - started
    assert skipped is None and steps, skipped
    sent = sum(len(r["messages"][-1]["content"]) for r in server.chat_requests())
    return {
        "total_ms": total * 1000,
        "model_ms": model.waited * 1000,
        "petrel_ms": (total - model.waited) * 1000,
        "calls": model.calls,
        "prompt_tokens": model.prompt_tokens,
        "chars_sent": sent,
        "lines_changed": report.lines_changed,
        "lines_to_model": report.lines_to_model,
        "chunks": report.chunks,
        "not_reviewed": len(report.not_reviewed),
        "files": len(diff.parse(text)),
    }


def main() -> int:
    if not DIFF.exists():
        print(f"{DIFF} is missing", file=sys.stderr)
        return 1
    text = DIFF.read_bytes().decode("utf-8", errors="replace")
    results = []
    for run in range(RUNS + 1):  # the first run warms up (imports, connections) and is not counted
        server = FakeOpenAI().start()
        server.responder = answer
        try:
            result = run_once(server, text)
            if run:
                results.append(result)
        finally:
            server.stop()
    median = {key: statistics.median(r[key] for r in results) for key in results[0]}
    share = median["lines_to_model"] / median["lines_changed"] if median["lines_changed"] else 0
    print("## 4. Planning the review of a large pull request\n")
    print(
        f"Diff: `{DIFF.relative_to(ROOT)}`, {median['files']:.0f} files, {median['lines_changed']:.0f} changed "
        f"lines. Model: the fake server, answering at once. Context set to 32,000 tokens, chunks reviewed one at a time. "
        f"Median of {RUNS} runs after a warm-up.\n"
    )
    print(
        "| Petrel's own time ms | time in model calls ms | whole ms | model calls | chunks | prompt tokens | "
        "changed lines sent | share | files listed as not reviewed |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {median['petrel_ms']:.0f} | {median['model_ms']:.0f} | {median['total_ms']:.0f} | {median['calls']:.0f} | "
        f"{median['chunks']:.0f} | {median['prompt_tokens']:.0f} | {median['lines_to_model']:.0f} | {share:.0%} | "
        f"{median['not_reviewed']:.0f} |"
    )
    runs = ", ".join(f"{r['petrel_ms']:.0f}" for r in results)
    print(f"\n- Petrel's own time per run (ms): {runs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
