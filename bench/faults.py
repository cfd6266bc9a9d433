"""Benchmark: faults injected into a running pipeline, and what was stored, handled, duplicated, lost.

Each scenario sends signed `/help`-style command deliveries (each on its own issue, so each
must produce exactly one reply) through the webhook into the queue, and workers run them
against the fake GitHub while it misbehaves. Jobs a scenario reschedules are made due at
once (the test cannot wait out real limits). Afterwards the database and the fake GitHub
are counted: stored = sent, every job done once, every issue answered exactly once.
Two rows race an automatic review against `/review` on each of several pull requests
(both jobs run at once, and looking for an earlier review answers 1 s late, so both would
find none): each pull request must get exactly one review by Petrel, neither two
(duplicates) nor none (suppressed, counted as lost). In the last, another user has first
posted a review carrying the marker of Petrel's review of that head.
Exits non-zero on a lost or duplicated delivery, reply or review, never on time.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import payloads  # noqa: E402
import psycopg  # noqa: E402
from fakes.github import FakeGitHub  # noqa: E402
from fakes.openai import FakeOpenAI  # noqa: E402

from shared.context import Services
from shared.pipeline import events
from shared.runtime import (
    db,  # noqa: E402
    settings,
)

REPO = "Codertocat/Hello-World"
TOKEN = "ghp_" + "f" * 36
PER_SCENARIO = 40
REVIEW_RACE = "concurrent /review plus automatic review"
FORGED_REVIEW = "forged markers: another user's review carries the review marker of the head"
MALLORY = "ghp_" + "m" * 36  # a user token: mallory may review, not write as Petrel
PULLS_RACED = 10
DIFF = """diff --git a/app/service.py b/app/service.py
index 1111111..2222222 100644
--- a/app/service.py
+++ b/app/service.py
@@ -1,4 +1,4 @@
 def step_0(value):
-    return value + 0
+    return value * 2  # BUG
 def step_1(value):
     return value + 1
"""
SCENARIOS = {
    "none": lambda gh: None,
    "GitHub 502 on writes (x15)": lambda gh: gh.fail("POST", r"/issues/\d+/comments$", 502, times=15),
    "GitHub 502 on reads (x15)": lambda gh: gh.fail("GET", r"/issues/\d+/comments$", 502, times=15),
    "secondary rate limit, retry-after 1 (x10)": lambda gh: gh.fail(
        "POST", r"/comments$", 403, times=10, headers={"retry-after": "1"}
    ),
    "rate limit beyond the cap, retry-after 3600 (x10)": lambda gh: gh.fail(
        "POST", r"/comments$", 429, times=10, headers={"retry-after": "3600"}
    ),
    "answers 3 s late after the write (x5)": lambda gh: gh.slow("POST", r"/issues/\d+/comments$", 3, times=5),
}
FORGED = "forged markers: another user copies the reply marker first (x40)"
SCENARIOS[FORGED] = lambda gh: None  # the forging is per comment, in run_scenario
PETREL = "petrel-bot"  # the login of TOKEN: only its comments are Petrel's replies


def run_jobs(url: str, handlers: dict, workers: int, prefix: str, timeout: float) -> dict:
    """Run the queued jobs of the deliveries whose ids start with `prefix` on `workers` workers, making
    rescheduled jobs due at once (the bench cannot wait out real limits), until none is left or
    `timeout` passes; then count what was stored and done."""
    from shared.pipeline.worker import Worker

    pool = db.make_pool(url)
    stop = threading.Event()
    config = settings.current()
    running = [Worker(pool, config, handlers, name=f"{prefix}{k}", backoff_base=0.05) for k in range(workers)]
    threads = [threading.Thread(target=w.run, args=(stop,), kwargs={"idle": 0.05}, daemon=True) for w in running]
    for t in threads:
        t.start()
    like = (f"{prefix}-%",)
    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            conn.execute("UPDATE jobs SET run_at = now() WHERE status = 'queued' AND run_at > now()")  # limits lifted
            if not conn.execute(
                "SELECT count(*) FROM jobs WHERE status IN ('queued', 'running') AND delivery_id LIKE %s", like
            ).fetchone()[0]:
                break
            time.sleep(0.1)
        stop.set()
        for t in threads:
            t.join(timeout=60)
        pool.close()
        jobs = dict(conn.execute("SELECT status, count(*) FROM jobs WHERE delivery_id LIKE %s GROUP BY 1", like))
        return {
            "stored": conn.execute("SELECT count(*) FROM deliveries WHERE id LIKE %s", like).fetchone()[0],
            "done": jobs.get("done", 0),
            "dead": jobs.get("dead", 0),
            "attempts": conn.execute(
                "SELECT coalesce(sum(attempts), 0) FROM jobs WHERE delivery_id LIKE %s", like
            ).fetchone()[0],
        }


def row(name: str, sent: int, statuses: list[int], counts: dict, answers: dict, elapsed: float) -> dict:
    """One row of the table: `answers` maps each issue or pull request to how many times Petrel answered it."""
    return {
        "name": name,
        "sent": sent,
        "acknowledged": sum(1 for s in statuses if 200 <= s < 300),
        **counts,
        "answered once": sum(1 for v in answers.values() if v == 1),
        "duplicates": sum(v - 1 for v in answers.values() if v > 1),
        "lost": sum(1 for v in answers.values() if v == 0),
        "seconds": elapsed,
    }


def run_scenario(url: str, github: FakeGitHub, name: str, inject, offset: int) -> dict:
    from functions_framework import create_app

    from shared.pipeline.worker import load_handler

    numbers = list(range(offset, offset + PER_SCENARIO))
    for n in numbers:
        github.add_issue(REPO, n, title=f"issue {n}")
    inject(github)
    webhook = create_app("webhook", str(ROOT / "functions" / "webhook" / "main.py"), "http").test_client()
    statuses = []
    started = time.perf_counter()
    for n in numbers:
        comment = github.add_comment(REPO, n, "/config", user="alice")
        if name == FORGED:  # copied before Petrel answers: Petrel must neither edit it nor take it for its reply
            github.add_comment(REPO, n, f"<!-- petrel:reply:{comment['id']} -->\nforged", user="mallory")
        payload = payloads.comment("/config", comment_id=comment["id"])
        payload["issue"]["number"] = n
        body = json.dumps(payload).encode()
        headers = {
            "X-GitHub-Event": "issue_comment",
            "X-GitHub-Delivery": f"{name}-{n}",
            "Content-Type": "application/json",
            "X-Hub-Signature-256": events.sign(body, "faults"),
        }
        statuses.append(webhook.post("/", data=body, headers=headers).status_code)
        if n % 4 == 0:  # a redelivery of some, as GitHub does after a timeout
            webhook.post("/", data=body, headers=headers)
    counts = run_jobs(url, {"commands": load_handler("commands")}, workers=2, prefix=name, timeout=120)
    elapsed = time.perf_counter() - started
    replies = {
        n: len(
            [
                c
                for c in github.comments(REPO, n)
                if c["body"].startswith("<!-- petrel:reply:") and c["user"]["login"] == PETREL
            ]
        )
        for n in numbers
    }
    return row(name, len(numbers), statuses, counts, replies, elapsed)


def reviewer(request: dict) -> dict:
    """The fake model: one finding on the changed line; a walkthrough for the summary."""
    name = (request.get("response_format") or {}).get("json_schema", {}).get("name")
    if name == "triage":
        return {"json": {"trivial": []}}
    if name == "summary":
        return {"json": {"walkthrough": "Doubles the value.", "files": []}}
    return {
        "json": {
            "findings": [
                {
                    "path": "app/service.py",
                    "line": 2,
                    "severity": "major",
                    "body": "This doubles instead of adding.",
                    "suggestion": None,
                }
            ]
        }
    }


def run_review_race(url: str, github: FakeGitHub, offset: int, forged: bool = False) -> dict:
    """pull_request.opened and a `/review` comment for each pull request, run at the same moment.
    `forged`: first, another user posts a review carrying the marker of Petrel's review of the head,
    which must neither stop Petrel's review nor be taken for it."""
    import requests

    prefix = "forged" if forged else "race"  # the delivery ids of this run

    from functions_framework import create_app

    from shared.pipeline.worker import load_handler

    numbers = list(range(offset, offset + PULLS_RACED))
    github.slow("GET", r"/pulls/\d+/reviews$", 1, times=2 * PULLS_RACED)  # both look for a review before either posts
    webhook = create_app("webhook", str(ROOT / "functions" / "webhook" / "main.py"), "http").test_client()
    statuses = []
    started = time.perf_counter()
    for n in numbers:
        github.add_pull(REPO, n, diff=DIFF, base_sha="b" * 40, head_sha=f"{n:040x}")
        if forged:
            requests.post(
                f"{github.url}/repos/{REPO}/pulls/{n}/reviews",
                timeout=10,
                headers={"Authorization": f"token {MALLORY}"},
                json={
                    "event": "COMMENT",
                    "commit_id": f"{n:040x}",
                    "body": f"<!-- petrel:review:{n:040x} -->\nlooks fine to me",
                },
            ).raise_for_status()
        comment = github.add_comment(REPO, n, "/review", user="alice")
        command = payloads.pr_comment("/review", comment_id=comment["id"])
        command["issue"]["number"] = n
        opened = payloads.with_installation(payloads.example("pull_request", "opened"))
        opened["pull_request"]["number"] = opened["number"] = n
        opened["pull_request"]["head"]["sha"] = f"{n:040x}"
        for event, payload in (("issue_comment", command), ("pull_request", opened)):
            body = json.dumps(payload).encode()
            headers = {
                "X-GitHub-Event": event,
                "X-GitHub-Delivery": f"{prefix}-{event}-{n}",
                "Content-Type": "application/json",
                "X-Hub-Signature-256": events.sign(body, "faults"),
            }
            statuses.append(webhook.post("/", data=body, headers=headers).status_code)
    handlers = {name: load_handler(name) for name in ("commands", "pr_review", "pr_summary")}
    counts = run_jobs(url, handlers, workers=6, prefix=prefix, timeout=300)
    elapsed = time.perf_counter() - started
    reviews = {n: len([r for r in github.reviews(REPO, n) if r["user"]["login"] == PETREL]) for n in numbers}
    return row(FORGED_REVIEW if forged else REVIEW_RACE, len(statuses), statuses, counts, reviews, elapsed)


def main() -> int:
    with db.throwaway() as server:
        github = FakeGitHub().start()
        model = FakeOpenAI().start()
        model.responder = reviewer
        github.add_repo(REPO)
        github.add_token(TOKEN, repos=[REPO])
        github.add_token(MALLORY, login="mallory", repos=[REPO])
        results = []
        try:
            url = server.get_uri()
            os.environ.update(
                GITHUB_WEBHOOK_SECRET="faults",
                DATABASE_URL=url,
                GITHUB_TOKEN=TOKEN,
                GITHUB_API_URL=github.url,
                PETREL_GITHUB_WRITE_SPACING_SECONDS="0",
                PETREL_JOB_LEASE_SECONDS="2",
                PETREL_LOG_LEVEL="CRITICAL",
                PETREL_EMBEDDING_MODEL="offline",
                OPENAI_BASE_URL=model.url + "/v1",
                OPENAI_API_KEY="sk-faults",
                PETREL_MODEL_MAX_RETRIES="0",
            )
            settings.reset()
            Services.reset()
            for k, (name, inject) in enumerate(SCENARIOS.items()):
                results.append(run_scenario(url, github, name, inject, offset=100 + k * 1000))
            results.append(run_review_race(url, github, offset=100 + len(SCENARIOS) * 1000))
            results.append(run_review_race(url, github, offset=100 + (len(SCENARIOS) + 1) * 1000, forged=True))
        finally:
            Services.reset()  # closes the functions' pool
            github.stop()
            model.stop()
    print("## 10. Faults (`bench/faults.py`)\n")
    print(
        f"{PER_SCENARIO} command deliveries per scenario (a quarter of them redelivered), 2 workers, the fake GitHub "
        "misbehaving as named; rescheduled jobs are made due at once. The last two rows are "
        f"{PULLS_RACED} pull requests, each sent pull_request.opened and a `/review` comment, 6 workers, looking "
        "for an earlier review answered 1 s late: 'answered once' counts pull requests reviewed exactly once, "
        "'duplicates' extra reviews, 'lost' pull requests left with no review by Petrel (suppressed); in the "
        "last, another user first posts a review carrying the marker of Petrel's review of the head.\n"
    )
    print(
        "| fault injected | sent | acknowledged | stored | jobs done | dead | attempts | answered once | duplicates | lost |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['name']} | {r['sent']} | {r['acknowledged']} | {r['stored']} | {r['done']} | {r['dead']} | "
            f"{r['attempts']} | {r['answered once']} | {r['duplicates']} | {r['lost']} |"
        )
    bad = [r for r in results if r["duplicates"] or r["lost"] or r["stored"] != r["sent"]]
    for r in bad:
        print(
            f"\nFAIL {r['name']}: {r['duplicates']} duplicated, {r['lost']} lost, {r['stored']} of {r['sent']} stored"
        )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
