"""Writing settings into the user's `.env` without disturbing the rest of it.

The start page of `make run` stores the App's credentials there once GitHub has made the App.
`.env` is the user's file: their comments, order and other settings stay as they are; a key
already set is replaced where it stands (a `# KEY=` placeholder is filled in), a new one is
appended, and the file is replaced atomically so that a crash leaves the old or the new one.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

# the start of an assignment, `export NAME =`, as settings.read_dotenv reads it too
ASSIGNED = r"^[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_]*)[ \t]*=[ \t]*"
_ASSIGNMENT = re.compile(ASSIGNED + r"(.*)$")
_PLACEHOLDER = re.compile(r"^[ \t]*#[ \t]*([A-Za-z_][A-Za-z0-9_]*)[ \t]*=[ \t]*$")
_BARE = re.compile(r"^[A-Za-z0-9_./:@+,=-]*$")


def _closes_quote(text: str) -> bool:
    """Whether `text` holds a `"` that is not escaped (the end of a double-quoted value)."""
    escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            return True
    return False


def _entries(lines: list[str]) -> list[tuple[int, int, str, bool]]:
    """(first line, line after the last, name, is a `# KEY=` placeholder) of each assignment; a
    double-quoted value (a PEM key) may span lines."""
    found, index = [], 0
    while index < len(lines):
        line, end = lines[index], index + 1
        match = _ASSIGNMENT.match(line)
        if match:
            value = match.group(2)
            if value.startswith('"') and not _closes_quote(value[1:]):
                while end < len(lines) and not _closes_quote(lines[end]):
                    end += 1
                end = min(end + 1, len(lines))
            found.append((index, end, match.group(1), False))
        elif _PLACEHOLDER.match(line):
            found.append((index, end, _PLACEHOLDER.match(line).group(1), True))
        index = end
    return found


def assignment(name: str, value: str) -> str:
    """`NAME=value`, double-quoted (as settings.read_dotenv reads it back) unless plain."""
    if _BARE.match(value):
        return f"{name}={value}"
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'{name}="{escaped}"'


def updated_text(text: str, values: dict[str, str], header: str = "") -> str:
    """`text` (a .env file) with each of `values` set: the first assignment of a key replaced in
    place and any later ones removed (they would win); else its `# KEY=` placeholder filled in;
    else appended after `header` (a comment line). Every other line is kept as it is."""
    lines = text.splitlines()
    entries = _entries(lines)
    active = {name for _, _, name, placeholder in entries if not placeholder}
    replace: dict[int, tuple[int, str | None]] = {}  # first line -> (end, new line or None to drop)
    done: set[str] = set()
    for start, end, name, placeholder in entries:
        if name not in values or placeholder != (name not in active) or (placeholder and name in done):
            continue
        replace[start] = (end, None if name in done else assignment(name, values[name]))
        done.add(name)
    out, index = [], 0
    while index < len(lines):
        if index in replace:
            end, line = replace[index]
            if line is not None:
                out.append(line)
            index = end
        else:
            out.append(lines[index])
            index += 1
    missing = [name for name in values if name not in done]
    if missing:
        if out and out[-1].strip():
            out.append("")
        if header:
            out.append(header)
        out += [assignment(name, values[name]) for name in missing]
    return "\n".join(out) + "\n"


def write_atomically(path: Path, text: str, mode: int = 0o600) -> None:
    """Replace `path` with `text` in one step (a file beside it, then a rename), with `mode`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(handle, mode)
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def update(path: Path, values: dict[str, str], header: str = "") -> None:
    """Set `values` in the .env file at `path` (made if missing), keeping its other lines and its mode."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o600
    write_atomically(path, updated_text(text, values, header), mode)
