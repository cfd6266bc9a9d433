"""`--check`: prove each bundle complete against a fresh venv holding only its own requirements.

Apart from the build because it runs things (venvs, pip, child interpreters) where the build only
reads and copies files; bench/bundles.py reuses the venvs to measure installed size and cold start.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from import_graph import (
    LOCAL_ONLY,
    SHARED,
    PackagingError,
    _attribute,
    _imports,
    _local_file,
    _module_name,
    is_stdlib,
)

SECRET = "packaging-webhook-secret"


def bundle_requirements(bundle_dir: Path) -> list[str]:
    """The requirement lines of a built bundle's requirements.txt, comments left out."""
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
        done = subprocess.run(
            [
                str(venv / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
                str(requirements),
            ],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        if done.returncode != 0:
            raise PackagingError(f"pip install -r {requirements} failed:\n{(done.stdout + done.stderr)[-3000:]}")
        self.seconds[key] = time.perf_counter() - started
        marker.write_text("\n".join(key) + "\n", encoding="utf-8")
        return venv


def site_packages(venv: Path) -> Path:
    """The site-packages directory of a venv."""
    [path] = (venv / "lib").glob("python*/site-packages")
    return path


def clean_env(**extra: str) -> dict[str, str]:
    """A child's environment: nothing of Petrel's, no PYTHONPATH or venv leaking in, no .pyc written."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GITHUB_", "PETREL_", "OPENAI_", "PYTHON", "PIP_"))
        and k not in ("DATABASE_URL", "K_SINK", "PORT", "VIRTUAL_ENV")
    }
    env.update(PYTHONDONTWRITEBYTECODE="1", PYTHONNOUSERSITE="1")
    env.update(extra)
    return env


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
    env = clean_env(
        PYTHONPATH=str(bundle_dir),
        GITHUB_WEBHOOK_SECRET=SECRET,
        DATABASE_URL="postgresql://petrel@127.0.0.1:9/never-connected",
    )
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-s", "-c", CHECK_CHILD, str(bundle_dir), json.dumps(spec)],
        cwd=bundle_dir,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )
    try:
        problems += json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        problems.append(f"the check process failed ({done.returncode}): {(done.stdout + done.stderr)[-2000:]}")
    return problems


def check(out: Path, names: list[str], venvs: Venvs) -> dict[str, list[str]]:
    """Problems per bundle (empty lists when every bundle is complete)."""
    return {name: check_bundle(out / name, venvs.get(bundle_requirements(out / name))) for name in names}
