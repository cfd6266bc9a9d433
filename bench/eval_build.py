"""Rebuilds the evaluation set of `make eval` (tests/fixtures/eval/) from real commits of public projects.

The built cases are committed; this script is how they were made, so the set can be checked or
rebuilt. Each case of bench/eval_cases.json names a repository, a commit and, for 30 of them, one
defect to inject: a substring of one ADDED line (`find`, the `occurrence`-th such line, default the
first) and its replacement. For each case it writes:

- `head/<path>`: each changed file as it is at the commit, with the defect injected; to keep the set
  small, a file over HEAD_BYTES is left out (as a reviewer's `head_file` answers None for a file too
  large to read), except the file that holds the defect;
- `pr.diff`: `git diff` from the commit's parent to that head, as git shows it (made in a scratch
  repository, so the injected line is an ordinary added line with a real blob id);
- `case.json`: repository, commit and its parent, licence, language, title and body (the commit message), and the
  defect (path, new-side line, class, description, the original and injected line) or null.

The repositories are read from bare mirrors (`--mirrors`, one `<owner>+<name>/repo` git dir each);
nothing is fetched. Usage:

    python bench/eval_build.py --mirrors /work/.mirror [--out tests/fixtures/eval] [--only NAME...]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "bench" / "eval_cases.json"
OUT = ROOT / "tests" / "fixtures" / "eval"
GIT = ["git", "-c", "core.quotepath=off", "-c", "core.autocrlf=false"]
HEAD_BYTES = 24_000
IDENTITY = ["-c", "user.name=eval", "-c", "user.email=eval@example.invalid"]


def git(repo: Path, *args: str, text: bool = True) -> str | bytes:
    """Output of one git command in `repo` (raises on failure)."""
    out = subprocess.run([*GIT, "-C", str(repo), *args], capture_output=True, check=True).stdout
    return out.decode("utf-8") if text else out


def changed_files(mirror: Path, commit: str) -> list[tuple[str, str]]:
    """(status, path) of every file the commit changes against its first parent."""
    rows = git(mirror, "diff-tree", "--no-commit-id", "-r", "--name-status", "--no-renames", f"{commit}^", commit)
    return [(line.split("\t")[0], line.split("\t")[1]) for line in rows.splitlines() if line]


def added_lines(patch: str, path: str) -> dict[int, str]:
    """{new-side line number: text} of the added lines of `path` in a unified diff."""
    found: dict[int, str] = {}
    current, line = None, 0
    for raw in patch.splitlines():
        if raw.startswith("diff --git "):
            current = None
        elif raw.startswith("+++ "):
            current = raw[6:] if raw.startswith("+++ b/") else None
        elif raw.startswith("@@") and current is not None:
            line = int(raw.split("+")[1].split(",")[0].split(" ")[0])
        elif current == path and raw.startswith("+"):
            found[line] = raw[1:]
            line += 1
        elif current == path and raw.startswith(" "):
            line += 1
    return found


def inject(text: str, patch: str, defect: dict) -> tuple[str, int, str, str]:
    """The head text with the defect injected into the `occurrence`-th added line holding `find`:
    (text, new-side line, original line, injected line)."""
    find, nth = defect["find"].rstrip("\n"), defect.get("occurrence", 1)
    candidates = [n for n, line in sorted(added_lines(patch, defect["path"]).items()) if find in line]
    if len(candidates) < nth:
        raise SystemExit(f"{defect['path']}: {find!r} is in {len(candidates)} added line(s), not {nth}")
    number = candidates[nth - 1]
    lines = text.split("\n")
    original = lines[number - 1]
    lines[number - 1] = original.replace(find, defect["replace"].rstrip("\n"), 1)
    return "\n".join(lines), number, original, lines[number - 1]


def diff_of(files: dict[str, tuple[bytes | None, bytes | None]]) -> str:
    """`git diff` of base -> head for these files, made in a scratch repository."""
    with tempfile.TemporaryDirectory() as scratch:
        repo = Path(scratch)
        git(repo, "init", "-q")
        for side in (0, 1):
            for path, versions in files.items():
                target = repo / path
                if versions[side] is None:
                    target.unlink(missing_ok=True)
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(versions[side])
            git(repo, "add", "-A", ".")
            git(repo, *IDENTITY, "commit", "-q", "--allow-empty", "-m", str(side))
        return git(repo, "diff", "--no-color", "--no-ext-diff", "HEAD~1", "HEAD")


def build(case: dict, repositories: dict, mirrors: Path, out: Path) -> dict:
    """Write one case directory; return its case.json."""
    repository = repositories[case["repository"]]
    mirror = mirrors / repository["mirror"] / "repo"
    commit = git(mirror, "rev-parse", case["commit"]).strip()
    subject, _, body = git(mirror, "log", "-1", "--format=%B", commit).strip().partition("\n")
    files: dict[str, tuple[bytes | None, bytes | None]] = {}
    for status, path in changed_files(mirror, commit):
        base = None if status == "A" else git(mirror, "show", f"{commit}^:{path}", text=False)
        head = None if status == "D" else git(mirror, "show", f"{commit}:{path}", text=False)
        files[path] = (base, head)
    defect = None
    if case.get("defect"):
        spec = case["defect"]
        original_patch = diff_of(files)
        text, line, before, after = inject(files[spec["path"]][1].decode("utf-8"), original_patch, spec)
        files[spec["path"]] = (files[spec["path"]][0], text.encode("utf-8"))
        defect = {
            "path": spec["path"],
            "line": line,
            "class": spec["class"],
            "description": spec["description"],
            "original": before,
            "injected": after,
        }
    patch = diff_of(files)
    if defect and added_lines(patch, defect["path"]).get(defect["line"]) != defect["injected"]:
        raise SystemExit(f"{case['name']}: the injected line is not an added line of the diff")
    target = out / case["name"]
    shutil.rmtree(target, ignore_errors=True)
    (target / "head").mkdir(parents=True)
    for path, (_, head) in files.items():
        if head is not None and (len(head) <= HEAD_BYTES or (defect and path == defect["path"])):
            (target / "head" / path).parent.mkdir(parents=True, exist_ok=True)
            (target / "head" / path).write_bytes(head)
    (target / "pr.diff").write_text(patch, encoding="utf-8")
    meta = {
        "repository": case["repository"],
        "commit": commit,
        "parent": git(mirror, "rev-parse", f"{commit}^").strip(),
        "licence": repository["licence"],
        "language": repository["language"],
        "title": subject.strip(),
        "body": body.strip(),
        "defect": defect,
    }
    (target / "case.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return meta


def main(argv: list[str] | None = None) -> int:
    """Build every case (or those named by --only) into --out."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirrors", type=Path, required=True, help="directory of <owner>+<name>/repo bare mirrors")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--only", nargs="*", help="case names to rebuild")
    args = parser.parse_args(argv)
    spec = json.loads(SPEC.read_text(encoding="utf-8"))
    for case in spec["cases"]:
        if args.only and case["name"] not in args.only:
            continue
        meta = build(case, spec["repositories"], args.mirrors, args.out)
        where = f"{meta['defect']['path']}:{meta['defect']['line']}" if meta["defect"] else "clean"
        print(f"{case['name']}: {meta['commit'][:12]} {where}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
