"""Benchmark: from a command's delivery to its reply on GitHub, Petrel's own overhead.

The whole local stack runs here: the webhook over loopback HTTP (the `make run` app), the
job queue in an embedded Postgres, one worker woken by NOTIFY, the commands function. The
fake GitHub and the fake model server answer at once, so the time measured is Petrel's:
verification, storage, queueing, pickup, configuration, the planning loop, and GitHub
requests (the reaction, the config read, the reply). Median and p90 of many deliveries.
"""

from __future__ import annotations

import http.client
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import payloads  # noqa: E402
from fakes.github import FakeGitHub  # noqa: E402
from fakes.openai import FakeOpenAI  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from shared.pipeline import events
from shared.runtime import (
    db,  # noqa: E402
    settings,
)

RUNS = 30
REPO = "Codertocat/Hello-World"
TOKEN = "ghp_" + "b" * 36


def main() -> int:
    with db.throwaway() as server:
        github, model = FakeGitHub().start(), FakeOpenAI().start()
        model.responder = lambda request: "Answered."
        github.add_repo(REPO)
        github.add_token(TOKEN, repos=[REPO])
        github.add_issue(REPO, 1, title="Question")
        stop = threading.Event()
        try:
            url = server.get_uri()
            os.environ.update(
                GITHUB_WEBHOOK_SECRET="bench",
                DATABASE_URL=url,
                GITHUB_TOKEN=TOKEN,
                GITHUB_API_URL=github.url,
                OPENAI_BASE_URL=model.url + "/v1",
                OPENAI_API_KEY="sk-bench",
                PETREL_EMBEDDING_MODEL="offline",
                PETREL_GITHUB_WRITE_SPACING_SECONDS="0",
                PETREL_LOG_LEVEL="WARNING",
            )
            settings.reset()
            config = settings.current()
            from shared.modes.local import create_app
            from shared.pipeline.worker import Worker, listen, load_handler

            pool = db.make_pool(url)
            httpd = make_server("127.0.0.1", 0, create_app({}, pool), threaded=True)
            port = httpd.server_port
            threading.Thread(target=httpd.serve_forever, daemon=True).start()
            wake = threading.Event()
            threading.Thread(target=listen, args=(url, wake, stop), daemon=True).start()
            worker = Worker(pool, config, {"commands": load_handler("commands")})
            threading.Thread(target=worker.run, args=(stop, wake), kwargs={"idle": 1.0}, daemon=True).start()
            time.sleep(0.5)
            results = {}
            for command in ("/config", "/ask what is this?"):
                timings = []
                for n in range(RUNS + 2):
                    comment = github.add_comment(REPO, 1, command, user="alice")
                    payload = payloads.comment(command, comment_id=comment["id"])
                    body = json.dumps(payload).encode()
                    headers = {
                        "X-GitHub-Event": "issue_comment",
                        "X-GitHub-Delivery": f"bench-{command}-{n}",
                        "X-Hub-Signature-256": events.sign(body, "bench"),
                        "Content-Type": "application/json",
                    }
                    marker = f"petrel:reply:{comment['id']}"
                    before = len(github.requests)
                    started = time.perf_counter()
                    conn = http.client.HTTPConnection("127.0.0.1", port)
                    conn.request("POST", "/webhook", body=body, headers=headers)
                    assert conn.getresponse().status == 202
                    conn.close()
                    while not any(
                        r.method in ("POST", "PATCH") and marker in json.dumps(r.json or "")
                        for r in github.requests[before:]
                    ):
                        if time.perf_counter() - started > 30:
                            raise RuntimeError(f"no reply to {command}")
                        time.sleep(0.001)
                    if n >= 2:  # two warm-ups
                        timings.append((time.perf_counter() - started) * 1000)
                results[command] = timings
            stop.set()
            httpd.shutdown()
            pool.close()
        finally:
            stop.set()
            github.stop()
            model.stop()
    print("## 7. Command to reply (`bench/commands.py`)\n")
    print(
        f"From POSTing a signed `issue_comment` to the fake GitHub receiving the reply, {RUNS} deliveries each, "
        "fake GitHub and fake model answering at once (Petrel's own overhead).\n"
    )
    print("| command | median ms | p90 ms | what it does on GitHub |")
    print("|---|---:|---:|---|")
    for command, timings in results.items():
        p90 = sorted(timings)[int(len(timings) * 0.9) - 1]
        per = (
            "reaction, config, reply"
            if command == "/config"
            else "reaction, config, pull or repo, reply + 1 model call"
        )
        print(f"| `{command.split()[0]}` | {statistics.median(timings):.0f} | {p90:.0f} | {per} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
