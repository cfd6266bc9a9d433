#!/usr/bin/env python3
"""Build one deployable bundle per function: `python infra/package.py [--out dist] [--check] [--installed]`.

For every `functions/<name>/main.py` it writes `<out>/<name>/`:

- `main.py`: the function's file, unchanged;
- `shared/`: only the shared modules the function imports, transitively. Imports are read with
  `ast`, everywhere in a file (inside functions too, where Petrel imports heavy things lazily).
  `shared/runtime/migrations/*.sql` come along whenever `shared/runtime/db.py` does;
- `functions/<other>/main.py`: routing stubs, only in bundles holding `shared/pipeline/subscriptions.py`
  (the webhook). Each stub is nothing but the `SUBSCRIBES` literal of one function, which
  `shared/pipeline/subscriptions.py` reads with `ast` to know which jobs a delivery makes. No code;
- `requirements.txt`: only the distributions those modules import, with the pins of the
  repository's requirements.txt.

`pgserver` (the embedded Postgres of `make run`) is never bundled: a deployed function needs
`DATABASE_URL`. The build fails when a module imports it outside a function body, so that
importing a bundle never needs it.

Rules, checked on every build (each fails it with one line naming the file or module):
- an import of a third-party module that DISTRIBUTIONS or PROVIDED_BY does not know;
- a distribution imported but not pinned in requirements.txt;
- a `shared.*` import that names no file;
- a bundle holding a distribution FORBIDDEN for it (the webhook: neither PyGithub nor openai).

`--check` then proves each bundle complete, against a fresh venv holding only its own
requirements (`python -m venv` + `pip install -r`, one venv per distinct requirements file):
every module of the bundle is imported in a child process whose sys.path is the bundle, the
standard library and that venv, and every third-party module imported anywhere in the bundle
(lazily too) must be installed there. It exits 1 on the first bundle that misses something.

`--installed` adds, per bundle: the installed size of its requirements (site-packages of that
venv), its cold start (spawning functions-framework to the first 2xx: a signed ping for the
webhook, a CloudEvent of a subscribed type for the others; against a pgserver Postgres this
script starts and deletes), and the peak RSS of its processes; and the same figures for a
"monolith": every function module imported in one process, from the whole repository, with
every pinned distribution but pgserver. It needs pgserver and psycopg (the project's .venv;
the script re-runs itself with .venv/bin/python when they are missing).

The table is printed and written to `<out>/packaging-report.md`. docs/packaging.md explains it.
"""

from __future__ import annotations

import argparse
import ast
import datetime
import hashlib
import hmac
import http.client
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as `python infra/package.py`: the repository's shared/ is importable
    sys.path.insert(0, str(ROOT))
from shared.pipeline.subscriptions import read_subscriptions  # noqa: E402  (the one SUBSCRIBES reader)
SHARED = "shared"

# import name -> the distribution (as requirements.txt names it) that provides it
DISTRIBUTIONS = {
    "functions_framework": "functions-framework",
    "cloudevents": "cloudevents",
    "psycopg": "psycopg",
    "psycopg_pool": "psycopg-pool",
    "pgvector": "pgvector",
    "pgserver": "pgserver",
    "github": "PyGithub",
    "openai": "openai",
    "requests": "requests",
    "unidiff": "unidiff",
    "yaml": "PyYAML",
    "cmarkgfm": "cmarkgfm",
}
# imported, but not pinned on their own: they come with one of these pinned distributions
# (PyGithub requires PyJWT[crypto] and urllib3; functions-framework requires Flask)
PROVIDED_BY = {
    "jwt": ("PyGithub",),
    "urllib3": ("PyGithub", "requests"),
    "flask": ("functions-framework",),
    "werkzeug": ("functions-framework",),
}
# never bundled: the embedded Postgres of `make run`. Deployed functions get DATABASE_URL.
LOCAL_ONLY = {"pgserver"}
# distributions a bundle must not carry: functions declare nothing, so the rule lives here
FORBIDDEN = {"webhook": ("PyGithub", "openai")}

MIB = 1024 * 1024
START_TIMEOUT_S = 60.0
COLD_RUNS = 3  # measured starts per bundle, after one discarded warm-up start
SECRET = "packaging-webhook-secret"


class PackagingError(Exception):
    """A bundle cannot be built or is incomplete; the message names the file or module."""


# --------------------------------------------------------------------------- reading the sources

def canonical(distribution: str) -> str:
    """PEP 503 name: `PyYAML` and `pyyaml`, `psycopg_pool` and `psycopg-pool` are one distribution."""
    return re.sub(r"[-_.]+", "-", distribution).lower()


def read_pins(requirements: Path) -> dict[str, str]:
    """canonical name -> its requirement as written (`psycopg[binary]==3.3.9`), comments dropped."""
    pins = {}
    for raw in requirements.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        name = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line)
        if not name:
            raise PackagingError(f"{requirements}: cannot read the requirement {raw!r}")
        pins[canonical(name.group(0))] = line
    return pins


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, root: Path) -> list[tuple[str, bool, bool, int]]:
    """(dotted name, from an ImportFrom's names, at module level, line) of every import in a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                found.extend((alias.name, False, top, child.lineno) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                module = child.module or ""
                if child.level:  # relative: resolve against the importing module's package
                    package = _module_name(path, root).split(".")
                    if path.name != "__init__.py":
                        package.pop()
                    base = package[: len(package) - (child.level - 1)] if child.level > 1 else package
                    module = ".".join(base + ([module] if module else []))
                if module and module != "__future__":
                    found.append((module, False, top, child.lineno))
                    found.extend((f"{module}.{alias.name}", True, top, child.lineno)
                                 for alias in child.names if alias.name != "*")
            visit(child, top and not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(tree, True)
    return found


def _local_file(name: str, root: Path) -> Path | None:
    """The file of `shared.x.y`, or None when that name is not a module of the repository."""
    base = root.joinpath(*name.split("."))
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


def _attribute(name: str, root: Path) -> bool:
    """True when `from parent import last` names something defined in the module `parent`
    (a function, a class, a constant), as opposed to a submodule that does not exist."""
    parent, _, last = name.rpartition(".")
    file = _local_file(parent, root)
    if file is None:
        return False
    if file.name != "__init__.py":
        return True  # a plain module: anything it lacks fails at import, which --check runs
    tree = ast.parse(file.read_text(encoding="utf-8"))
    defined = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            defined.update(t.id for t in targets if isinstance(t, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            defined.update((a.asname or a.name).split(".")[0] for a in node.names)
    return last in defined


def is_stdlib(top: str) -> bool:
    return top in sys.stdlib_module_names or top in ("__future__", "__main__")


@dataclass
class Scan:
    """What one function needs: its shared files and the third-party modules they import."""
    files: set[Path] = field(default_factory=set)            # shared/*.py, __init__ included
    third_party: dict[str, set[str]] = field(default_factory=dict)  # top-level module -> "file:line"
    module_level: dict[str, set[str]] = field(default_factory=dict)  # the same, imported at import time


def scan(main_py: Path, root: Path) -> Scan:
    """Every shared module and third-party module `main_py` imports, transitively."""
    result = Scan()
    todo, seen = [main_py], {main_py}
    while todo:
        path = todo.pop()
        where = path.relative_to(root)
        for name, from_names, top_level, line in _imports(path, root):
            top = name.split(".")[0]
            if top == SHARED:
                parts = name.split(".")
                # `import shared.x.y` runs shared/__init__.py and shared/x/__init__.py too
                for depth in range(1, len(parts) + 1):
                    file = _local_file(".".join(parts[:depth]), root)
                    if file is None:
                        if from_names and depth == len(parts) and _attribute(name, root):
                            break  # `from shared.github.pulls import contents_fetcher`: an attribute
                        raise PackagingError(f"{where}:{line} imports {name}, which is not a file of the repository")
                    result.files.add(file)
                    if file not in seen:
                        seen.add(file)
                        todo.append(file)
            elif not from_names and not is_stdlib(top):
                result.third_party.setdefault(top, set()).add(f"{where}:{line}")
                if top_level:
                    result.module_level.setdefault(top, set()).add(f"{where}:{line}")
    result.files.discard(main_py)
    return result


def distributions_of(third_party: dict[str, set[str]], name: str) -> set[str]:
    """The pinned distributions a set of imported top-level modules needs (LOCAL_ONLY left out)."""
    needed = set()
    unknown = [top for top in third_party if top not in DISTRIBUTIONS and top not in PROVIDED_BY]
    if unknown:
        top = sorted(unknown)[0]
        raise PackagingError(f"{name}: {', '.join(sorted(third_party[top]))} imports {top!r}, which infra/package.py "
                             f"does not map to a distribution: add it to DISTRIBUTIONS (and requirements.txt)")
    for top in third_party:
        if top in DISTRIBUTIONS and top not in LOCAL_ONLY:
            needed.add(DISTRIBUTIONS[top])
    for top in third_party:
        if top in PROVIDED_BY and not needed.intersection(PROVIDED_BY[top]):
            needed.add(PROVIDED_BY[top][0])
    return needed


def entry_point(main_py: Path) -> tuple[str, str]:
    """(target, signature type) from the functions_framework decorator in main.py."""
    tree = ast.parse(main_py.read_text(encoding="utf-8"), filename=str(main_py))
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for decorator in node.decorator_list:
                text = ast.unparse(decorator)
                if text in ("functions_framework.http", "http"):
                    return node.name, "http"
                if text in ("functions_framework.cloud_event", "cloud_event"):
                    return node.name, "cloudevent"
    raise PackagingError(f"{main_py}: no function decorated with @functions_framework.http or .cloud_event")


# --------------------------------------------------------------------------- planning and writing

@dataclass
class Bundle:
    name: str
    source: Path
    target: str
    signature: str
    shared: list[str]                  # paths inside the bundle: shared/__init__.py, shared/runtime/db.py, ...
    data: list[str]                    # shared/runtime/migrations/*.sql
    routes: dict[str, tuple[str, ...]]  # routing stubs: function -> SUBSCRIBES
    distributions: list[str]           # as requirements.txt names them, in its order
    requirements: list[str]            # the pinned lines
    subscribes: tuple[str, ...] | None

    @property
    def modules(self) -> list[str]:
        return [p[len(SHARED) + 1:-3] for p in self.shared if not p.endswith("__init__.py")]

    @property
    def requirements_text(self) -> str:
        return "\n".join(self.requirements) + "\n"


def function_sources(root: Path) -> list[Path]:
    return sorted((root / "functions").glob("*/main.py"))


def plan(root: Path = ROOT) -> list[Bundle]:
    """What each bundle holds; raises PackagingError when a rule breaks."""
    pins = read_pins(root / "requirements.txt")
    order = list(pins)
    sources = function_sources(root)
    if not sources:
        raise PackagingError(f"no functions/*/main.py under {root}")
    routes = {p.parent.name: s for p in sources if (s := read_subscriptions(p)) is not None}
    bundles = []
    for main_py in sources:
        name = main_py.parent.name
        found = scan(main_py, root)
        for top in sorted(LOCAL_ONLY.intersection(found.module_level)):
            raise PackagingError(f"{name}: {', '.join(sorted(found.module_level[top]))} imports {top} at import time; "
                                 f"it is local-only (not bundled), so import it inside the function that needs it")
        wanted = distributions_of(found.third_party, name)
        missing = sorted(d for d in wanted if canonical(d) not in pins)
        if missing:
            raise PackagingError(f"{name}: imports {missing[0]}, which requirements.txt does not pin")
        wanted_canonical = {canonical(d) for d in wanted}
        for forbidden in FORBIDDEN.get(name, ()):
            if canonical(forbidden) in wanted_canonical:
                culprits = [f"{top} ({', '.join(sorted(w))})" for top, w in sorted(found.third_party.items())
                            if canonical(forbidden) in {canonical(d) for d in (DISTRIBUTIONS.get(top),
                                                                               *PROVIDED_BY.get(top, ())) if d}]
                raise PackagingError(f"{name} must not carry {forbidden}, but imports {'; '.join(culprits)}")
        requirements = [pins[c] for c in order if c in wanted_canonical]
        shared = sorted(str(p.relative_to(root)) for p in found.files)
        data = []
        if f"{SHARED}/runtime/db.py" in shared:
            data = sorted(str(p.relative_to(root)) for p in (root / SHARED / "runtime" / "migrations").glob("*.sql"))
        target, signature = entry_point(main_py)
        bundles.append(Bundle(
            name=name, source=main_py, target=target, signature=signature, shared=shared, data=data,
            routes=dict(routes) if f"{SHARED}/pipeline/subscriptions.py" in shared else {},
            distributions=[re.match(r"[A-Za-z0-9._-]+(\[[^\]]*\])?", line).group(0) for line in requirements],
            requirements=requirements, subscribes=read_subscriptions(main_py),
        ))
    return bundles


STUB = '''"""Routing stub written by infra/package.py: the SUBSCRIBES of functions/{name}/main.py.

shared/pipeline/subscriptions.py reads it with `ast` to know which jobs a delivery makes; it is never imported.
"""

SUBSCRIBES = {subscribes!r}
'''

REQUIREMENTS_HEADER = """\
# functions/{name} bundle: the distributions it imports, pinned as in the repository's requirements.txt.
# Written by infra/package.py. pgserver (the local embedded Postgres) is not here: set DATABASE_URL.
"""


def write(bundle: Bundle, out: Path, root: Path = ROOT) -> Path:
    """Write one bundle to `<out>/<name>/`, replacing what was there."""
    target = out / bundle.name
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    shutil.copy2(bundle.source, target / "main.py")
    for relative in bundle.shared + bundle.data:
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / relative, target / relative)
    for name, subscribes in bundle.routes.items():
        (target / "functions" / name).mkdir(parents=True)
        (target / "functions" / name / "main.py").write_text(STUB.format(name=name, subscribes=subscribes),
                                                             encoding="utf-8")
    (target / "requirements.txt").write_text(REQUIREMENTS_HEADER.format(name=bundle.name) + bundle.requirements_text,
                                             encoding="utf-8")
    return target


def build(out: Path, root: Path = ROOT) -> list[Bundle]:
    bundles = plan(root)
    out.mkdir(parents=True, exist_ok=True)
    for bundle in bundles:
        write(bundle, out, root)
    return bundles


def tree_bytes(path: Path) -> int:
    """Bytes of the regular files under `path` (their sizes, not the blocks they take)."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


# --------------------------------------------------------------------------- venvs

def bundle_requirements(bundle_dir: Path) -> list[str]:
    lines = (bundle_dir / "requirements.txt").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


class Venvs:
    """One fresh venv per distinct requirements set, made on first use under `workdir`."""

    def __init__(self, workdir: Path, python: str = sys.executable):
        self.workdir = Path(workdir)
        self.python = python
        self.made: dict[tuple[str, ...], Path] = {}
        self.seconds: dict[tuple[str, ...], float] = {}

    @staticmethod
    def key(requirements: list[str]) -> tuple[str, ...]:
        return tuple(sorted(requirements, key=str.lower))

    def get(self, requirements: list[str]) -> Path:
        key = self.key(requirements)
        if key not in self.made:
            self.made[key] = self._make(key)
        return self.made[key]

    def _make(self, key: tuple[str, ...]) -> Path:
        digest = hashlib.sha256("\n".join(key).encode()).hexdigest()[:10]
        venv = self.workdir / f"venv-{digest}"
        marker = venv / "petrel-requirements.txt"  # written last: the venv is complete
        if marker.is_file() and marker.read_text(encoding="utf-8") == "\n".join(key) + "\n":
            return venv  # made by an earlier run with --venvs
        if venv.exists():
            shutil.rmtree(venv)
        started = time.perf_counter()
        subprocess.run([self.python, "-m", "venv", str(venv)], check=True, stdin=subprocess.DEVNULL)
        requirements = self.workdir / f"requirements-{digest}.txt"
        requirements.write_text("\n".join(key) + "\n", encoding="utf-8")
        done = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                               "--disable-pip-version-check", "-r", str(requirements)],
                              capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise PackagingError(f"pip install -r {requirements} failed:\n{(done.stdout + done.stderr)[-3000:]}")
        self.seconds[key] = time.perf_counter() - started
        marker.write_text("\n".join(key) + "\n", encoding="utf-8")
        return venv


def site_packages(venv: Path) -> Path:
    [path] = (venv / "lib").glob("python*/site-packages")
    return path


def clean_env(**extra: str) -> dict[str, str]:
    """A child's environment: nothing of Petrel's, no PYTHONPATH or venv leaking in, no .pyc written."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GITHUB_", "PETREL_", "OPENAI_", "PYTHON", "PIP_"))
           and k not in ("DATABASE_URL", "K_SINK", "PORT", "VIRTUAL_ENV")}
    env.update(PYTHONDONTWRITEBYTECODE="1", PYTHONNOUSERSITE="1")
    env.update(extra)
    return env


# --------------------------------------------------------------------------- --check

CHECK_CHILD = r"""
import importlib, importlib.util, json, os, sys
bundle, spec = os.path.realpath(sys.argv[1]), json.loads(sys.argv[2])
problems = []
for name in spec["modules"]:
    try:
        if name == "main":
            loader = importlib.util.spec_from_file_location("bundle_main", os.path.join(bundle, "main.py"))
            module = importlib.util.module_from_spec(loader)
            loader.loader.exec_module(module)
        else:
            importlib.import_module(name)
    except BaseException as error:
        problems.append(f"import {name}: {type(error).__name__}: {error}")
for top in spec["third_party"]:
    if importlib.util.find_spec(top) is None:
        problems.append(f"{top} (imported by {spec['third_party'][top]}) is not installed by the bundle's requirements")
for name, module in list(sys.modules.items()):
    where = getattr(module, "__file__", None)
    if (name == "shared" or name.startswith("shared.")) and where and not os.path.realpath(where).startswith(bundle + os.sep):
        problems.append(f"{name} came from {where}, outside the bundle")
for top in spec["local_only"]:
    if top in sys.modules:
        problems.append(f"importing the bundle imported {top} although DATABASE_URL is set")
print(json.dumps(problems))
"""


def check_bundle(bundle_dir: Path, venv: Path) -> list[str]:
    """What `bundle_dir` misses, run against `venv`: [] when every module imports and every
    third-party module imported anywhere in it (lazily too) is installed."""
    bundle_dir = bundle_dir.resolve()
    problems, third_party = [], {}
    files = sorted(bundle_dir.glob(f"{SHARED}/**/*.py")) + [bundle_dir / "main.py"]
    for file in files:
        try:
            imports = _imports(file, bundle_dir)
        except SyntaxError as error:
            problems.append(f"{file.relative_to(bundle_dir)}: {error}")
            continue
        for name, from_names, _, line in imports:
            top = name.split(".")[0]
            where = f"{file.relative_to(bundle_dir)}:{line}"
            if top == SHARED:
                if _local_file(name, bundle_dir) is not None:
                    continue
                if from_names:
                    if _local_file(name.rpartition(".")[0], bundle_dir) is None or _attribute(name, bundle_dir):
                        continue  # the module itself is reported, or this is an attribute of it
                problems.append(f"{where} imports {name}, which the bundle lacks")
            elif not from_names and not is_stdlib(top) and top not in LOCAL_ONLY:
                third_party.setdefault(top, where)
    modules = ["main"] + [_module_name(f, bundle_dir) for f in files if f.name != "main.py" or f.parent != bundle_dir]
    spec = {"modules": modules, "third_party": third_party, "local_only": sorted(LOCAL_ONLY)}
    env = clean_env(PYTHONPATH=str(bundle_dir), GITHUB_WEBHOOK_SECRET=SECRET,
                    DATABASE_URL="postgresql://petrel@127.0.0.1:9/never-connected")
    done = subprocess.run([str(venv / "bin" / "python"), "-s", "-c", CHECK_CHILD, str(bundle_dir), json.dumps(spec)],
                          cwd=bundle_dir, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300)
    try:
        problems += json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        problems.append(f"the check process failed ({done.returncode}): {(done.stdout + done.stderr)[-2000:]}")
    return problems


def check(out: Path, names: list[str], venvs: Venvs) -> dict[str, list[str]]:
    """Problems per bundle (empty lists when every bundle is complete)."""
    return {name: check_bundle(out / name, venvs.get(bundle_requirements(out / name))) for name in names}


# --------------------------------------------------------------------------- --installed

def _fixture(event: str, action: str | None, root: Path) -> dict:
    payloads = json.loads((root / "tests" / "fixtures" / "webhooks" / f"{event}.json").read_text(encoding="utf-8"))
    matching = [p for p in payloads if action is None or p.get("action") == action]
    if not matching:
        raise LookupError(f"{event}.{action}")
    return next((p for p in matching if "installation" in p), matching[0])


def first_event(subscribes: tuple[str, ...], root: Path) -> tuple[str, dict]:
    """The first subscribed `event.action` with a recorded payload: (CloudEvent type, payload)."""
    for name in subscribes:
        event, _, action = name.partition(".")
        try:
            return f"com.github.{name}", _fixture(event, action or None, root)
        except (LookupError, OSError):
            continue
    raise PackagingError(f"no recorded payload in tests/fixtures/webhooks for any of {subscribes}")


def request_for(bundle: Bundle, root: Path) -> tuple[dict[str, str], bytes]:
    """(headers, body) of the first event a bundle serves: a signed ping, or a subscribed CloudEvent."""
    delivery = str(uuid.uuid4())
    if bundle.signature == "http":
        body = json.dumps(_fixture("ping", None, root)).encode()
        signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        return {"X-GitHub-Event": "ping", "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": signature,
                "Content-Type": "application/json", "User-Agent": "GitHub-Hookshot/packaging"}, body
    kind, payload = first_event(bundle.subscribes or (), root)
    headers = {"ce-specversion": "1.0", "ce-type": kind, "ce-id": delivery,
               "ce-source": (payload.get("repository") or {}).get("html_url") or "urn:github",
               "Content-Type": "application/json"}
    number = (payload.get("issue") or payload.get("pull_request") or {}).get("number")
    if number is not None:
        headers["ce-subject"] = str(number)
    return headers, json.dumps(payload).encode()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _descendants(pid: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2:].split()
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        found += children
        todo += children
    return found


def _hwm(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@dataclass
class Start:
    ms: float
    rss_largest: int  # VmHWM of the largest process (the gunicorn worker, or its master)
    rss_total: int    # summed over the server's processes (shared pages counted twice)


def start_once(command: list[str], cwd: Path, env: dict, headers: dict, body: bytes, log: Path) -> Start:
    """Spawn the server; POST the event until it is served; its time and peak memory; stop it."""
    port = _free_port()
    command = command + ["--host", "127.0.0.1", "--port", str(port)]
    with open(log, "ab") as out:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = started + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise PackagingError(f"{' '.join(command)} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                conn.request("POST", "/", body=body, headers=headers)
                response = conn.getresponse()
                answer = response.read()
                conn.close()
                break
            except ConnectionRefusedError:
                if time.perf_counter() > deadline:
                    raise PackagingError(f"{' '.join(command)} did not answer in {START_TIMEOUT_S:.0f}s:\n"
                                         f"{log.read_text()[-3000:]}") from None
                time.sleep(0.005)
        elapsed = (time.perf_counter() - started) * 1000
        if not 200 <= response.status < 300:
            raise PackagingError(f"{' '.join(command)} answered {response.status} {answer[:300]!r}:\n"
                                 f"{log.read_text()[-3000:]}")
        pids = [process.pid] + _descendants(process.pid)
        sizes = [_hwm(p) for p in pids]
        return Start(elapsed, max(sizes), sum(sizes))
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=20)


def measure_starts(command, cwd, env, headers_body, log, runs=COLD_RUNS) -> Start:
    """Median over `runs` starts, after one discarded warm-up start (page cache, first connection)."""
    results = []
    for i in range(runs + 1):
        headers, body = headers_body()
        result = start_once(command, cwd, env, headers, body, log)
        if i:
            results.append(result)
    return Start(statistics.median(r.ms for r in results), int(statistics.median(r.rss_largest for r in results)),
                 int(statistics.median(r.rss_total for r in results)))


MONOLITH = '''"""Every function module in one process, served as the webhook (infra/package.py)."""
import importlib.util
from pathlib import Path

MODULES = {}
for main in sorted((Path(__file__).resolve().parent / "functions").glob("*/main.py")):
    spec = importlib.util.spec_from_file_location(f"petrel_functions.{main.parent.name}", main)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    MODULES[main.parent.name] = module

webhook = MODULES["webhook"].webhook
'''


@dataclass
class Row:
    name: str
    target: str
    modules: list[str]
    distributions: list[str]
    bundle_bytes: int
    installed_bytes: int | None = None
    start: Start | None = None


def ensure_measuring_interpreter() -> None:
    """--installed needs pgserver and psycopg: re-run under the project's venv when they are missing."""
    import importlib.util

    if not all(importlib.util.find_spec(name) for name in ("pgserver", "psycopg")):
        venv_python = ROOT / ".venv" / "bin" / "python"
        in_venv = Path(sys.prefix).resolve() == (ROOT / ".venv").resolve()
        if venv_python.exists() and not in_venv and not os.environ.get("PETREL_PACKAGE_REEXEC"):
            os.environ["PETREL_PACKAGE_REEXEC"] = "1"
            os.execv(str(venv_python), [str(venv_python), str(Path(__file__).resolve()), *sys.argv[1:]])
        raise SystemExit("--installed needs pgserver and psycopg: run it with .venv/bin/python (make install)")


class Postgres:
    """A throwaway pgserver Postgres with pgvector and Petrel's migrations."""

    def __enter__(self) -> str:
        if not os.environ.get("XDG_RUNTIME_DIR"):  # pgserver asks platformdirs for one
            os.environ["XDG_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="petrel-xdg-")
        import pgserver
        import psycopg

        self.data = Path(tempfile.mkdtemp(prefix="petrel-package-pg-"))
        self.server = pgserver.get_server(self.data, cleanup_mode="delete")
        url = self.server.get_uri()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        sys.path.insert(0, str(ROOT))
        from shared.runtime import db

        db.migrate(url)  # applied once here, so no start below pays for it
        return url

    def __exit__(self, *exc) -> None:
        self.server.cleanup()


def measure(out: Path, bundles: list[Bundle], rows: list[Row], venvs: Venvs, root: Path = ROOT) -> Row:
    """Installed size, cold start and peak RSS of each bundle and of the monolith; returns the monolith row."""
    workdir = venvs.workdir
    with Postgres() as url:
        base_env = clean_env(GITHUB_WEBHOOK_SECRET=SECRET, DATABASE_URL=url, PETREL_DRY_RUN="1")
        for bundle, row in zip(bundles, rows):
            bundle_dir = (out / bundle.name).resolve()
            venv = venvs.get(bundle_requirements(bundle_dir))
            row.installed_bytes = tree_bytes(site_packages(venv))
            command = [str(venv / "bin" / "functions-framework"), "--target", bundle.target, "--source", "main.py"]
            if bundle.signature == "cloudevent":
                command += ["--signature-type", "cloudevent"]
            print(f"  starting {bundle.name} alone ...", file=sys.stderr)
            row.start = measure_starts(command, bundle_dir, dict(base_env, PYTHONPATH=str(bundle_dir)),
                                       lambda b=bundle: request_for(b, root), workdir / f"{bundle.name}.log")

        # the monolith: the whole repository's functions/ and shared/ (no .pyc), every pin but pgserver
        mono = workdir / "monolith"
        if mono.exists():
            shutil.rmtree(mono)
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        shutil.copytree(root / "functions", mono / "functions", ignore=ignore)
        shutil.copytree(root / SHARED, mono / SHARED, ignore=ignore)
        (mono / "monolith.py").write_text(MONOLITH, encoding="utf-8")
        pins = read_pins(root / "requirements.txt")
        requirements = [line for c, line in pins.items() if c not in {canonical(d) for d in LOCAL_ONLY}]
        venv = venvs.get(requirements)
        webhook = next(b for b in bundles if b.signature == "http")
        print("  starting the monolith ...", file=sys.stderr)
        start = measure_starts([str(venv / "bin" / "functions-framework"), "--target", "webhook", "--source", "monolith.py"],
                               mono, dict(base_env, PYTHONPATH=str(mono)), lambda: request_for(webhook, root),
                               workdir / "monolith.log")
        modules = sorted(_module_name(p, mono) for p in (mono / SHARED).rglob("*.py") if p.name != "__init__.py")
        return Row("monolith (every function, one process)", "webhook",
                   [m.split(".", 1)[1] for m in modules],
                   [re.match(r"[A-Za-z0-9._-]+(\[[^\]]*\])?", line).group(0) for line in requirements],
                   tree_bytes(mono), tree_bytes(site_packages(venv)), start)


# --------------------------------------------------------------------------- report

def table(rows: list[Row], total_shared: int) -> str:
    installed = any(r.start for r in rows)
    head = ["function", "target", "shared modules", "distributions", "bundle KiB"]
    if installed:
        head += ["installed MiB", "cold start ms", "peak RSS MiB (largest process)", "peak RSS MiB (all processes)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * 4 + ["---:"] * (len(head) - 4)) + "|"]
    for r in rows:
        cells = [r.name, r.target, f"{len(r.modules)} of {total_shared}", ", ".join(r.distributions),
                 f"{r.bundle_bytes / 1024:.0f}"]
        if installed:
            cells += [f"{r.installed_bytes / MIB:.1f}" if r.installed_bytes is not None else "",
                      f"{r.start.ms:.0f}" if r.start else "",
                      f"{r.start.rss_largest / MIB:.0f}" if r.start else "",
                      f"{r.start.rss_total / MIB:.0f}" if r.start else ""]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report(rows: list[Row], bundles: list[Bundle], total_shared: int, checked: bool | None, venvs: Venvs | None) -> str:
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "# Packaging report",
        "",
        f"Written by `infra/package.py` on {now}. Machine: {os.cpu_count()} CPUs, {platform.system()} "
        f"{platform.release()} ({platform.machine()}), CPython {platform.python_version()}.",
        "",
        table(rows, total_shared),
        "",
        "- bundle KiB: bytes of the files in `dist/<name>/` (main.py, shared/, routing stubs, requirements.txt).",
    ]
    if any(r.start for r in rows):
        parts += [
            "- installed MiB: bytes of the files in the site-packages of a fresh venv after "
            "`pip install -r dist/<name>/requirements.txt` (pip and setuptools included, about 15 MiB).",
            f"- cold start: from spawning `functions-framework` (gunicorn) to the first 2xx answer: a signed `ping` "
            f"for the webhook, a CloudEvent of the function's first subscribed type (a recorded payload) for the "
            f"others, in dry-run with no GitHub credentials, `DATABASE_URL` at a local pgserver Postgres. Median of "
            f"{COLD_RUNS} starts after a discarded one, with PYTHONDONTWRITEBYTECODE=1 and no .pyc in the bundle "
            f"(as the Dockerfile runs it).",
            "- peak RSS: VmHWM of each process of the server right after that answer; gunicorn's master imports "
            "the function and forks one worker, so the sum counts shared pages twice.",
            "- monolith: `functions/` and `shared/` of the repository, every function module imported by one "
            "process (served as the webhook), with every distribution of requirements.txt but pgserver.",
        ]
    if venvs and venvs.seconds:
        made = ", ".join(f"{len(k)} distributions in {s:.0f} s" for k, s in venvs.seconds.items())
        parts.append(f"- venvs made (python -m venv + pip install -r): {made}.")
    if checked is not None:
        parts.append(f"- `--check`: {'every bundle imports completely from its own venv' if checked else 'FAILED'}.")
    parts += ["", "## What each bundle holds", ""]
    for b in bundles:
        extras = []
        if b.data:
            extras.append(f"{len(b.data)} migrations")
        if b.routes:
            extras.append(f"routing stubs for {', '.join(sorted(b.routes))}")
        parts.append(f"- **{b.name}** (`--target {b.target}`{', cloudevent' if b.signature == 'cloudevent' else ''}): "
                     f"{', '.join(b.modules) or 'no shared module'}"
                     f"{'; ' + '; '.join(extras) if extras else ''}. Requirements: {', '.join(b.requirements)}.")
    return "\n".join(parts) + "\n"


def check_only(out: Path, venvs_dir: Path | None) -> int:
    names = sorted(p.parent.name for p in out.glob("*/main.py"))
    if not names:
        print(f"infra/package.py --check: no bundle under {out}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="petrel-package-") as scratch:
        workdir = venvs_dir.resolve() if venvs_dir else Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        problems = check(out, names, Venvs(workdir))
    for name, found in problems.items():
        for problem in found:
            print(f"infra/package.py --check: {name}: {problem}", file=sys.stderr)
        print(f"{name}: {'complete' if not found else f'{len(found)} problems'}")
    failed = any(problems.values())
    print(f"--check {'FAILED' if failed else 'passed'} for {len(names)} bundles in {out}")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="where the bundles go (default dist/)")
    parser.add_argument("--check", action="store_true",
                        help="import every bundle from a fresh venv of its own requirements; exit 1 if one misses a module")
    parser.add_argument("--installed", action="store_true",
                        help="also measure installed size, cold start and peak RSS, and the monolith")
    parser.add_argument("--venvs", type=Path, default=None,
                        help="where to make the venvs (default: a temporary directory, deleted at the end)")
    parser.add_argument("--no-build", action="store_true",
                        help="with --check: check the bundles already in --out (what an image would copy), build nothing")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    if args.no_build:
        if not args.check or args.installed:
            parser.error("--no-build goes with --check alone")
        return check_only(out, args.venvs)
    if args.installed:
        ensure_measuring_interpreter()
    try:
        bundles = build(out)
    except PackagingError as error:
        print(f"infra/package.py: {error}", file=sys.stderr)
        return 1
    total_shared = len([p for p in (ROOT / SHARED).rglob("*.py") if p.name != "__init__.py"])
    rows = [Row(b.name, b.target, b.modules, b.distributions, tree_bytes(out / b.name)) for b in bundles]

    checked, venvs, status = None, None, 0
    scratch = None if args.venvs else tempfile.TemporaryDirectory(prefix="petrel-package-")
    try:
        if args.check or args.installed:
            workdir = args.venvs.resolve() if args.venvs else Path(scratch.name)
            workdir.mkdir(parents=True, exist_ok=True)
            venvs = Venvs(workdir)
        if args.check:
            problems = check(out, [b.name for b in bundles], venvs)
            checked = not any(problems.values())
            for name, found in problems.items():
                for problem in found:
                    print(f"infra/package.py --check: {name}: {problem}", file=sys.stderr)
            status = 0 if checked else 1
        if args.installed:
            try:
                rows.append(measure(out, bundles, rows, venvs))
            except PackagingError as error:
                print(f"infra/package.py --installed: {error}", file=sys.stderr)
                return 1
    finally:
        if scratch:
            scratch.cleanup()

    text = report(rows, bundles, total_shared, checked, venvs)
    (out / "packaging-report.md").write_text(text, encoding="utf-8")
    print(text)
    print(f"bundles written to {out}/<name>/; report in {out / 'packaging-report.md'}"
          + ("" if checked is None else f"; --check {'passed' if checked else 'FAILED'}"))
    return status


if __name__ == "__main__":
    sys.exit(main())
