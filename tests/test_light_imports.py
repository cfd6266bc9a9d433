"""Light is the point: a function imports at start only what its first step needs.

The commands function answers `/help` and `/config` without the model, so importing it must load
neither PyGithub nor openai nor psycopg: those come when a command needs them (BENCHMARKS.md has
the import cost of each function). The webhook has its own test (test_webhook.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import ROOT

PROBE = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("probe", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def loaded_by(function: str) -> set[str]:
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), "GITHUB_WEBHOOK_SECRET": "probe-secret"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(ROOT / "functions" / function / "main.py")],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout))


def test_the_commands_function_starts_without_pygithub_openai_or_psycopg():
    loaded = loaded_by("commands")
    assert "functions_framework" in loaded  # the probe really imported the function
    assert not loaded & {"github", "openai", "psycopg", "psycopg_pool"}
