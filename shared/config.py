"""Per-repository configuration: `.github/petrel.yml` on the default branch.

Nothing here talks to GitHub: `load` is given a `fetch(repository, path)` that returns
`(text, blob_sha)` read from that repository's default branch, or None when there is no
such file (or repository). Every key is optional; a file that is absent, empty or only
comments means the defaults. A broken file never raises: `load` returns the defaults
with a one-line error that names the key (or the line) and what to fix.

Where the file is looked for
    1. `OWNER/REPO:.github/petrel.yml`, the repository's own file;
    2. otherwise `OWNER/.github:.github/petrel.yml`, the owner's shared file (Probot's
       convention), so one file can configure every repository of an organisation;
    3. otherwise the defaults.

Reference (every key, with its default)::

    _extends: petrel-config       # optional: start from another file, then apply this one.
                                  #   'repo'                  same owner, .github/petrel.yml
                                  #   'owner/repo'            .github/petrel.yml there
                                  #   'owner/repo:path.yml'   that file
                                  # Mappings merge key by key; lists and values replace.
                                  # At most 3 hops; a cycle or a missing file is an error.

    review:
      auto: true                  # review pull requests when opened, reopened, marked
                                  #   ready for review, or pushed to (synchronize)
      drafts: false               # also review draft pull requests
      max_comments: 20            # inline comments per review, 0 to 200
                                  #   (0: the summary review only, no inline comments)
      min_severity: minor         # least severe finding worth a comment:
                                  #   info < minor < major < critical
      instructions: ""            # extra instructions for the reviewer, up to 4000
                                  #   characters (conventions, what to focus on)
      skip_labels:                # a pull request with one of these labels is not reviewed
        - "petrel: skip"          #   (a single string is read as a one-item list)
        - no-review
      incremental: true           # on a push, review only what changed since the last
                                  #   reviewed commit
      concurrency: 4              # chunks of the diff reviewed in parallel, 1 to 16

    summary:
      auto: true                  # post a summary of each pull request
      edit_description: false     # also write the summary into the pull request's
                                  #   description

    triage:
      auto: true                  # triage new issues automatically
      labels: true                # suggest labels, chosen only among the repository's own
      label_threshold: 0.7        # the model's confidence (0 to 1) needed to add a label
      label_mapping: {}           # names the model may use -> the repository's labels,
                                  #   e.g. {bug: "type: bug", question: "kind/question"}
      duplicates: true            # look for duplicates among earlier issues and pull requests
      duplicate_threshold: 0.85   # confidence for the `duplicate` label and a comment linking
                                  #   the original
      related_threshold: 0.6      # confidence for a "possibly related" comment
      recall_threshold: 0.3       # similarity an earlier issue needs to be shown to the model
      first_answer: false         # answer from the repository's docs when they answer it

    commands:
      allowed: [OWNER, MEMBER, COLLABORATOR]   # who may run commands that call the model
                                  #   (/review, /describe, /ask, /triage), by author_association
      ask_max_steps: 6            # tool-calling steps of /ask, 1 to 20
      ask_token_budget: 40000     # tokens one /ask may spend, 1000 to 500000

    memory:
      issues: 200                 # recent issues and pull requests indexed on install, 0 to 5000
      max_file_bytes: 200000      # larger files are not indexed

    paths:                        # which changed files are reviewed
      include: []                 # glob patterns; empty means every file
      exclude: []                 # glob patterns never reviewed
      default_excludes: true      # also skip DEFAULT_EXCLUDES: lock files, vendored,
                                  #   generated, minified and binary files

    models:
      review: null                # model for reviews; null: the PETREL_MODEL setting
      light: null                 # model for cheap steps; null: PETREL_LIGHT_MODEL

    language: English             # language of Petrel's replies (up to 40 characters)
    daily_token_budget: 500000    # model tokens per repository per UTC day;
                                  #   null: unlimited

Glob patterns (`paths.include`, `paths.exclude`) follow .gitignore: `*` and `?` stay
within one directory, `**` crosses directories (`docs/**`, `**/test_*.py`,
`src/**/gen/*.ts`), `[abc]` and `[!abc]` are character classes, and `\\` escapes. A pattern
without `/` matches a file or directory name at any depth (`*.md`, `fixtures`); a pattern
with a `/` is relative to the repository root (`src/legacy`, `/setup.py`); a pattern that
ends with `/` matches directories only. A matched directory covers everything under it.
Negation (`!pattern`) is not supported: list what to keep in `paths.include`.

DEFAULT_EXCLUDES, skipped unless `paths.default_excludes: false` (matched ignoring case;
the reason Petrel gives is in brackets):
    [lock file]  package-lock.json, npm-shrinkwrap.json, yarn.lock, pnpm-lock.yaml, bun.lockb,
                 poetry.lock, Pipfile.lock, pdm.lock, uv.lock, Cargo.lock, go.sum, go.work.sum,
                 composer.lock, Gemfile.lock, packages.lock.json, *.lock
    [vendored]   **/vendor/**, **/third_party/**, **/node_modules/**, **/bower_components/**
    [generated]  *_pb2.py, *_pb2.pyi, *_pb2_grpc.py, *.pb.go, *.pb.cc, *.pb.h, *.generated.*,
                 **/generated/**, **/__generated__/**, dist/**, build/** (the last two at the root)
    [minified]   *.min.js, *.min.mjs, *.min.css, *.map
    [binary]     images (png jpg jpeg gif bmp tif tiff webp ico icns svg psd avif heic), fonts
                 (ttf otf eot woff woff2), archives (zip tar gz tgz bz2 xz 7z rar jar war whl egg
                 nupkg), pdf, audio and video (mp3 mp4 mov avi wav ogg webm flac), compiled code
                 and data (so dll dylib exe bin o a lib class pyc pyo wasm sqlite sqlite3)

The file must be plain YAML: anchors and aliases (`&a`, `*a`), merge keys (`<<`) and tags
(`!!python/...`, `!custom`) are refused, as are files over 64 KB, nesting deeper than 10
levels, duplicate keys and unknown keys. YAML 1.1 reads `yes`/`no`/`on`/`off` as booleans:
quote them where text is meant (`language: "no"`).
"""

from __future__ import annotations

import difflib
import functools
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, fields, is_dataclass, replace
from typing import Any, Callable, Mapping, NamedTuple

import yaml

CONFIG_PATH = ".github/petrel.yml"
MAX_BYTES = 64 * 1024       # a larger file is refused before it is parsed
MAX_DEPTH = 10              # nesting of mappings and lists
MAX_EXTENDS = 3             # `_extends` hops after the first file
CACHE_SIZE = 256            # parsed files kept, by blob sha

SEVERITIES = ("info", "minor", "major", "critical")

Fetch = Callable[[str, str], tuple[str, str] | None]  # (repository, path) -> (text, blob sha) | None


class ConfigError(ValueError):
    """A configuration file is unusable; the message is one line naming the key or line and the fix."""

    def __init__(self, message: str):
        super().__init__(" ".join(message.split()))


@dataclass(frozen=True)
class ReviewConfig:
    auto: bool = True
    drafts: bool = False
    max_comments: int = 20
    min_severity: str = "minor"
    instructions: str = ""
    skip_labels: tuple[str, ...] = ("petrel: skip", "no-review")
    incremental: bool = True
    concurrency: int = 4


@dataclass(frozen=True)
class SummaryConfig:
    auto: bool = True
    edit_description: bool = False


@dataclass(frozen=True)
class TriageConfig:
    auto: bool = True
    labels: bool = True
    label_threshold: float = 0.7
    label_mapping: tuple[tuple[str, str], ...] = ()   # (the model's name, the repository's label)
    duplicates: bool = True
    duplicate_threshold: float = 0.85
    related_threshold: float = 0.6
    recall_threshold: float = 0.3
    first_answer: bool = False


@dataclass(frozen=True)
class CommandsConfig:
    allowed: tuple[str, ...] = ("OWNER", "MEMBER", "COLLABORATOR")  # author_association for model commands
    ask_max_steps: int = 6
    ask_token_budget: int = 40_000


@dataclass(frozen=True)
class MemoryConfig:
    issues: int = 200
    max_file_bytes: int = 200_000


@dataclass(frozen=True)
class PathsConfig:
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    default_excludes: bool = True


@dataclass(frozen=True)
class ModelsConfig:
    review: str | None = None
    light: str | None = None


@dataclass(frozen=True)
class Config:
    review: ReviewConfig = field(default_factory=ReviewConfig)
    summary: SummaryConfig = field(default_factory=SummaryConfig)
    triage: TriageConfig = field(default_factory=TriageConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    memory: MemoryConfig = field(default_factory=MemoryConfig)
    commands: CommandsConfig = field(default_factory=CommandsConfig)
    language: str = "English"
    daily_token_budget: int | None = 500_000

    def to_dict(self) -> dict:
        """Plain data (dicts, lists, str, int, bool, None) in the file's shape: `from_dict` reads it back."""
        return _plain(self)


DEFAULTS = Config()


@dataclass(frozen=True)
class LoadedConfig:
    config: Config          # DEFAULTS when the file is broken or absent
    source: str | None      # "o/r:.github/petrel.yml" (with `_extends`: "a <- b <- c"); None when no file
    error: str | None       # the ConfigError line when a file was found but is broken
    sha: str | None         # blob sha of the first file read (the repository's own, or the owner's)


def _plain(value):
    if is_dataclass(value):
        return {f.name: dict(getattr(value, f.name)) if f.name == "label_mapping" else _plain(getattr(value, f.name))
                for f in fields(value)}
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    return value


# ---------------------------------------------------------------------------------------------
# Paths

_DEFAULT_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("lock file", (
        "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", "bun.lockb",
        "poetry.lock", "Pipfile.lock", "pdm.lock", "uv.lock", "Cargo.lock", "go.sum", "go.work.sum",
        "composer.lock", "Gemfile.lock", "packages.lock.json", "*.lock",
    )),
    ("vendored", (
        "**/vendor/**", "**/third_party/**", "**/node_modules/**", "**/bower_components/**",
    )),
    ("generated", (
        "*_pb2.py", "*_pb2.pyi", "*_pb2_grpc.py", "*.pb.go", "*.pb.cc", "*.pb.h", "*.generated.*",
        "**/generated/**", "**/__generated__/**", "dist/**", "build/**",
    )),
    ("minified", ("*.min.js", "*.min.mjs", "*.min.css", "*.map")),
    ("binary", (
        # images
        "*.png", "*.jpg", "*.jpeg", "*.gif", "*.bmp", "*.tif", "*.tiff", "*.webp", "*.ico", "*.icns",
        "*.svg", "*.psd", "*.avif", "*.heic",
        # fonts
        "*.ttf", "*.otf", "*.eot", "*.woff*",
        # archives and packages
        "*.zip", "*.tar", "*.gz", "*.tgz", "*.bz2", "*.xz", "*.7z", "*.rar", "*.jar", "*.war",
        "*.whl", "*.egg", "*.nupkg",
        # documents, audio and video
        "*.pdf", "*.mp3", "*.mp4", "*.mov", "*.avi", "*.wav", "*.ogg", "*.webm", "*.flac",
        # compiled code and data
        "*.so", "*.dll", "*.dylib", "*.exe", "*.bin", "*.o", "*.a", "*.lib", "*.class", "*.pyc",
        "*.pyo", "*.wasm", "*.sqlite", "*.sqlite3",
    )),
)

DEFAULT_EXCLUDES: tuple[str, ...] = tuple(p for _, patterns in _DEFAULT_GROUPS for p in patterns)


def glob_regex(pattern: str) -> str:
    """The anchored regular expression, over a repository-relative path, of a glob pattern.

    .gitignore rules: `*` and `?` do not cross `/`, `**` does (`**/` is zero or more
    directories), a pattern without `/` matches a name at any depth, one with `/` is
    rooted, a trailing `/` matches directories only, and a match covers what is under it.
    """
    text = pattern.strip()
    if text.startswith("./"):
        text = text[2:]
    directory_only = text.endswith("/")
    text = text.rstrip("/")
    rooted = "/" in text
    text = text.lstrip("/")
    prefix = "^" if rooted else "^(?:.*/)?"
    suffix = "/.*$" if directory_only else "(?:/.*)?$"
    return prefix + _translate(text) + suffix


def _translate(text: str) -> str:
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "*":
            j = i
            while j < n and text[j] == "*":
                j += 1
            bounded_before = i == 0 or text[i - 1] == "/"
            if j - i >= 2 and bounded_before and j < n and text[j] == "/":
                out.append("(?:.*/)?")      # `**/`: zero or more directories
                i = j + 1
            elif j - i >= 2 and bounded_before and j == n:
                out.append(".*")            # trailing `/**` (or `**` alone): everything below
                i = j
            else:
                out.append("[^/]*")         # `*`, and `**` inside a name, stay in one directory
                i = j
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            j = i + 1
            if j < n and text[j] in "!^":
                j += 1
            if j < n and text[j] == "]":
                j += 1
            while j < n and text[j] != "]":
                j += 1
            if j >= n:
                out.append(re.escape(c))    # an unclosed `[` is itself
                i += 1
                continue
            inner = text[i + 1:j]
            negated = inner[:1] in ("!", "^")
            if negated:
                inner = inner[1:]
            inner = re.sub(r"([\\\[\]^])", r"\\\1", inner)
            out.append(f"[^/{inner}]" if negated else f"(?!/)[{inner}]")
            i = j + 1
        elif c == "\\" and i + 1 < n:
            out.append(re.escape(text[i + 1]))
            i += 2
        else:
            out.append(re.escape(c))
            i += 1
    return "".join(out)


@functools.lru_cache(maxsize=1024)
def _compiled(pattern: str) -> re.Pattern:
    return re.compile(glob_regex(pattern))


def _normal_path(path: str) -> str:
    path = path.strip()
    while path.startswith("./"):
        path = path[2:]
    return path.lstrip("/")


def matches(pattern: str, path: str) -> bool:
    """True when the glob pattern matches the repository-relative path (see `glob_regex`)."""
    return _compiled(pattern).match(_normal_path(path)) is not None


# One case-insensitive expression per group: `IMAGE.PNG` is an image too.
_DEFAULT_REGEXES = tuple(
    (reason, re.compile("|".join(f"(?:{glob_regex(p)})" for p in patterns), re.IGNORECASE))
    for reason, patterns in _DEFAULT_GROUPS
)


def path_excluded(path: str, paths: PathsConfig) -> str | None:
    """None when the file is to be reviewed, else why not, in words.

    'excluded by default (lock file)', 'excluded by paths.exclude: <pattern>' or
    'not in paths.include'.
    """
    path = _normal_path(path)
    if paths.default_excludes:
        for reason, regex in _DEFAULT_REGEXES:
            if regex.match(path):
                return f"excluded by default ({reason})"
    for pattern in paths.exclude:
        if _compiled(pattern).match(path):
            return f"excluded by paths.exclude: {pattern}"
    if paths.include and not any(_compiled(pattern).match(path) for pattern in paths.include):
        return "not in paths.include"
    return None


# ---------------------------------------------------------------------------------------------
# YAML: plain data only

_STANDARD_TAGS = frozenset(f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "seq", "map"))
_MERGE_TAG = "tag:yaml.org,2002:merge"


def _at(mark, message: str) -> ConfigError:
    return ConfigError(f"line {mark.line + 1}: {message}" if mark is not None else message)


class _PlainLoader(yaml.SafeLoader):
    """`safe_load` that also refuses anchors, aliases, merge keys, tags, deep nesting and duplicate keys."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise _at(event.start_mark, "anchors and aliases (&name, *name) are not allowed: write the values out")
        tag = getattr(event, "tag", None)
        if tag is not None and tag not in _STANDARD_TAGS:
            shown = tag.replace("tag:yaml.org,2002:", "!!")
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            raise _at(event.start_mark, f"tags are not allowed ({shown})")
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _at(event.start_mark, f"nested deeper than {MAX_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                raise _at(key_node.start_mark, "merge keys (<<) are not allowed: write the keys out")
            if not isinstance(key_node, yaml.ScalarNode):
                raise _at(key_node.start_mark, "keys must be plain names, not lists or mappings")
            key = self.construct_object(key_node)
            if key in seen:
                raise _at(key_node.start_mark, f"key {_show(key)} appears twice in the same mapping")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _parse_yaml(text: str):
    """The document as plain data, or ConfigError naming the line."""
    size = len(text.encode("utf-8"))
    if size > MAX_BYTES:
        raise ConfigError(f"the file is {size:,} bytes, over the {MAX_BYTES // 1024} KB limit")
    _stats["parses"] += 1
    try:
        return yaml.load(text, Loader=_PlainLoader)  # noqa: S506 - _PlainLoader is a stricter SafeLoader
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        problem = error.problem or error.context or "malformed document"
        if error.context and error.problem and error.problem.startswith("but "):
            problem = f"{error.context}, {error.problem}"   # "expected X, but found Y"
        elif error.context and error.problem:
            where = ""
            if error.context_mark is not None and mark is not None and error.context_mark.line != mark.line:
                where = f" on line {error.context_mark.line + 1}"
            problem = f"{error.problem} ({error.context}{where})"
        raise _at(mark, f"YAML error: {problem}") from None
    except yaml.reader.ReaderError as error:
        line = text.count("\n", 0, max(error.position, 0)) + 1
        character = f" (character {error.character:#x})" if isinstance(error.character, int) else ""
        raise ConfigError(f"line {line}: YAML error: {error.reason}{character}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"YAML error: {error}") from None
    except ConfigError:
        raise  # the loader's own refusals (anchors, tags...) say what is wrong already
    except ValueError as error:  # e.g. an integer of thousands of digits (Python's conversion limit)
        raise ConfigError(f"YAML error: a value cannot be read ({str(error).splitlines()[0]})") from None


# ---------------------------------------------------------------------------------------------
# Validation: file data -> a partial dict of checked, normalised values


def _show(value) -> str:
    """A value as the user wrote it, short."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:57] + "...")
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (int, float)):
        return str(value)
    text = str(value)
    return f"{type(value).__name__} {text[:40]}"


def _quote_hint(value) -> str:
    if isinstance(value, bool):
        return " (put it in quotes: YAML reads yes/no/on/off as true/false)"
    return " (put it in quotes)" if isinstance(value, (int, float)) else ""


def _boolean(where: str, value):
    if isinstance(value, bool):
        return value
    raise ConfigError(f"{where}: expected true or false, got {_show(value)}")


def _whole(low: int, high: int):
    def check(where: str, value):
        if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
            return value
        raise ConfigError(f"{where}: expected a whole number from {low} to {high}, got {_show(value)}")
    return check


def _severity(where: str, value):
    if isinstance(value, str) and value.strip().lower() in SEVERITIES:
        return value.strip().lower()
    raise ConfigError(f"{where}: expected one of {', '.join(SEVERITIES)}, got {_show(value)}")


def _text(limit: int, empty: bool):
    def check(where: str, value):
        if value is None and empty:
            return ""
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected text, got {_show(value)}{_quote_hint(value)}")
        if not empty and not value.strip():
            raise ConfigError(f"{where}: must not be empty")
        if not empty and not value.strip().isprintable():
            raise ConfigError(f"{where}: must be one line of printable text, got {_show(value)}")
        if len(value) > limit:
            raise ConfigError(f"{where}: at most {limit} characters, got {len(value)}")
        return value if empty else value.strip()
    return check


def _strings(glob: bool):
    def check(where: str, value):
        if value is None:
            return ()
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list):
            raise ConfigError(f"{where}: expected a list of text (or one text), got {_show(value)}")
        out = []
        for index, item in enumerate(items):
            here = f"{where}[{index}]"
            if not isinstance(item, str):
                raise ConfigError(f"{here}: expected text, got {_show(item)}{_quote_hint(item)}")
            item = item.strip()
            if not item:
                raise ConfigError(f"{here}: must not be empty")
            if len(item) > 200:
                raise ConfigError(f"{here}: at most 200 characters, got {len(item)}")
            if glob:
                if item.startswith("!"):
                    raise ConfigError(f"{here}: negation ('!') is not supported: list what to keep in paths.include")
                try:
                    _compiled(item)
                except re.error as error:
                    raise ConfigError(f"{here}: not a valid glob pattern ({error.msg}): {_show(item)}") from None
            out.append(item)
        return tuple(out)
    return check


def _model(where: str, value):
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 200 or any(c.isspace() for c in value.strip()):
        raise ConfigError(f"{where}: expected a model name (text without spaces) or null, got {_show(value)}")
    return value.strip()


def _fraction(where: str, value):
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1:
        return float(value)
    raise ConfigError(f"{where}: expected a number from 0 to 1, got {_show(value)}")


def _label_mapping(where: str, value):
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping like 'bug: \"type: bug\"', got {_show(value)}")
    pairs = []
    for key, label in value.items():
        if not isinstance(key, str) or not isinstance(label, str) or not key.strip() or not label.strip():
            raise ConfigError(f"{where}: expected text: text pairs, got {_show(key)}: {_show(label)}")
        pairs.append((key.strip(), label.strip()))
    return tuple(pairs)


ASSOCIATIONS = ("OWNER", "MEMBER", "COLLABORATOR", "CONTRIBUTOR", "FIRST_TIME_CONTRIBUTOR", "FIRST_TIMER", "NONE")


def _associations(where: str, value):
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise ConfigError(f"{where}: expected a list of author associations, got {_show(value)}")
    upper = tuple(i.strip().upper() for i in items)
    unknown = [i for i in upper if i not in ASSOCIATIONS]
    if unknown:
        raise ConfigError(f"{where}: {unknown[0]!r} is not an author association (one of {', '.join(ASSOCIATIONS)})")
    return upper


def _budget(where: str, value):
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value > 0):
        return value
    raise ConfigError(f"{where}: expected a positive whole number of tokens, or null for unlimited, got {_show(value)}")


_SECTIONS: dict[str, tuple[type, dict[str, Callable]]] = {
    "review": (ReviewConfig, {
        "auto": _boolean,
        "drafts": _boolean,
        "max_comments": _whole(0, 200),
        "min_severity": _severity,
        "instructions": _text(4000, empty=True),
        "skip_labels": _strings(glob=False),
        "incremental": _boolean,
        "concurrency": _whole(1, 16),
    }),
    "summary": (SummaryConfig, {"auto": _boolean, "edit_description": _boolean}),
    "triage": (TriageConfig, {
        "auto": _boolean,
        "labels": _boolean,
        "label_threshold": _fraction,
        "label_mapping": _label_mapping,
        "duplicates": _boolean,
        "duplicate_threshold": _fraction,
        "related_threshold": _fraction,
        "recall_threshold": _fraction,
        "first_answer": _boolean,
    }),
    "commands": (CommandsConfig, {"allowed": _associations, "ask_max_steps": _whole(1, 20),
                                  "ask_token_budget": _whole(1000, 500_000)}),
    "memory": (MemoryConfig, {"issues": _whole(0, 5000), "max_file_bytes": _whole(1000, 5_000_000)}),
    "paths": (PathsConfig, {"include": _strings(glob=True), "exclude": _strings(glob=True), "default_excludes": _boolean}),
    "models": (ModelsConfig, {"review": _model, "light": _model}),
}
_VALUES: dict[str, Callable] = {"language": _text(40, empty=False), "daily_token_budget": _budget}
_EXTENDS = "_extends"
_TOP_KEYS = [*_SECTIONS, *_VALUES, _EXTENDS]
_ALL_PATHS = [*_VALUES, *(f"{s}.{k}" for s, (_, checks) in _SECTIONS.items() for k in checks), *_SECTIONS]


def _unknown(section: str | None, key, known) -> ConfigError:
    prefix = f"{section}: " if section else ""
    name = str(key)
    ends: dict[str, list[str]] = {}
    for path in _ALL_PATHS:
        ends.setdefault(path.rsplit(".", 1)[-1], []).append(path)
    close = [] if name in ends and name not in known else \
        [f"'{k}'" for k in difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)]
    if not close:  # maybe the right key in the wrong place
        near = difflib.get_close_matches(name, list(ends), n=1, cutoff=0.75)
        close = [f"'{p}'" + ("" if "." in p else " at the top level") for p in ends[near[0]]] if near else []
    if close:
        hint = f" (did you mean {' or '.join(close)}?)"
    else:
        hint = f" (known keys: {', '.join(known)})"
    return ConfigError(f"{prefix}unknown key {_show(key)}{hint}")


def _validate(data) -> tuple[dict, str | None]:
    """(the checked keys of one file, its `_extends` text or None); ConfigError on the first problem."""
    if data is None:
        return {}, None
    if not isinstance(data, dict):
        raise ConfigError(f"the top level must be a mapping of keys (like 'review:'), got {_show(data)}")
    partial: dict[str, Any] = {}
    extends = None
    for key, value in data.items():
        if key == _EXTENDS:
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"{_EXTENDS}: expected 'repo', 'owner/repo' or 'owner/repo:path', got {_show(value)}")
            extends = value.strip()
        elif key in _SECTIONS:
            partial[key] = _section(key, value)
        elif key in _VALUES:
            partial[key] = _VALUES[key](key, value)
        else:
            raise _unknown(None, key, _TOP_KEYS)
    return partial, extends


def _section(name: str, value) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{name}: expected a mapping of keys (like '{name}:' then indented keys), got {_show(value)}")
    checks = _SECTIONS[name][1]
    out = {}
    for key, item in value.items():
        if key not in checks:
            raise _unknown(name, key, checks)
        out[key] = checks[key](f"{name}.{key}", item)
    return out


def _merge(base: dict, over: Mapping) -> dict:
    """`over` on `base`: mappings merge key by key, anything else replaces. Neither is changed."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _build(partial: Mapping) -> Config:
    values: dict[str, Any] = {}
    for name in _SECTIONS:
        values[name] = replace(getattr(DEFAULTS, name), **partial.get(name, {}))
    for name in _VALUES:
        if name in partial:
            values[name] = partial[name]
    return replace(DEFAULTS, **values)


def from_dict(data: Mapping | None) -> Config:
    """A Config from plain data in the file's shape (what `Config.to_dict` gives); ConfigError if wrong."""
    partial, extends = _validate(dict(data) if isinstance(data, Mapping) else data)
    if extends is not None:
        raise ConfigError(f"{_EXTENDS}: only a file can extend another")
    return _build(partial)


def parse(text: str) -> Config:
    """A Config from one file's text, without `_extends`; ConfigError if it is broken."""
    return from_dict(_parse_yaml(text))


# ---------------------------------------------------------------------------------------------
# Cache of parsed files, by blob sha (a sha names one content, in any repository)


class CacheInfo(NamedTuple):
    parses: int     # YAML documents parsed since the last cache_clear
    hits: int       # files served from the cache instead
    size: int       # entries held now
    maxsize: int


_cache: OrderedDict[str, tuple[dict, str | None] | str] = OrderedDict()
_stats = {"parses": 0, "hits": 0}
_lock = threading.Lock()


def cache_info() -> CacheInfo:
    with _lock:
        return CacheInfo(_stats["parses"], _stats["hits"], len(_cache), CACHE_SIZE)


def cache_clear() -> None:
    with _lock:
        _cache.clear()
        _stats.update(parses=0, hits=0)


def _checked(text: str, sha: str | None) -> tuple[dict, str | None]:
    """One file parsed and validated, once per blob sha (errors are remembered too)."""
    if sha:
        with _lock:
            entry = _cache.get(sha)
            if entry is not None:
                _cache.move_to_end(sha)
                _stats["hits"] += 1
        if entry is not None:
            if isinstance(entry, str):
                raise ConfigError(entry)
            return entry
    try:
        entry = _validate(_parse_yaml(text))
    except ConfigError as error:
        entry = str(error)
    if sha:
        with _lock:
            _cache[sha] = entry
            _cache.move_to_end(sha)
            while len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
    if isinstance(entry, str):
        raise ConfigError(entry)
    return entry


# ---------------------------------------------------------------------------------------------
# Loading

_OWNER = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})"
_REPO = r"[A-Za-z0-9._-]{1,100}"
_EXTENDS_FORM = re.compile(rf"^(?:(?P<owner>{_OWNER})/)?(?P<repo>{_REPO})(?::(?P<path>[^\s:][^:]*))?$")


def _target(value: str, owner: str) -> tuple[str, str]:
    """(owner/repo, path) named by an `_extends` value, relative to the extending file's owner."""
    match = _EXTENDS_FORM.match(value)
    path = (match.group("path") or "").strip().lstrip("/") if match else ""
    if not match or match.group("repo") in (".", "..") or ".." in path.split("/") or (match.group("path") and not path):
        raise ConfigError(f"{_EXTENDS}: expected 'repo', 'owner/repo' or 'owner/repo:path', got {_show(value)}")
    return f"{match.group('owner') or owner}/{match.group('repo')}", path or CONFIG_PATH


def _name(where: tuple[str, str]) -> str:
    return f"{where[0]}:{where[1]}"


def load(fetch: Fetch, repository: str) -> LoadedConfig:
    """The configuration of `repository` ("owner/repo"), read through `fetch`; never raises ConfigError.

    The repository's own `.github/petrel.yml`, else the owner's `.github` repository's one,
    else DEFAULTS. `_extends` is followed; a broken file (or chain) gives DEFAULTS and the
    error line. Exceptions raised by `fetch` itself (GitHub unreachable) are not caught:
    the caller retries rather than silently reviewing with the defaults.
    """
    owner = repository.split("/", 1)[0]
    where = (repository, CONFIG_PATH)
    found = fetch(*where)
    shared = f"{owner}/.github"
    if found is None and shared.lower() != repository.lower():
        where = (shared, CONFIG_PATH)
        found = fetch(*where)
    if found is None:
        return LoadedConfig(DEFAULTS, None, None, None)

    first_sha = found[1]
    chain = [where]
    layers: list[dict] = []
    try:
        while True:
            text, sha = found
            try:
                partial, extends = _checked(text, sha)
                layers.append(partial)
                if extends is None:
                    break
                target = _target(extends, where[0].split("/", 1)[0])
                if any(seen[0].lower() == target[0].lower() and seen[1] == target[1] for seen in chain):
                    cycle = " -> ".join(_name(w) for w in (*chain, target))
                    raise ConfigError(f"{_EXTENDS}: cycle: {cycle}")
                if len(chain) > MAX_EXTENDS:
                    raise ConfigError(f"{_EXTENDS}: more than {MAX_EXTENDS} files extended in a chain (last: {_name(target)})")
                found = fetch(*target)
                if found is None:
                    raise ConfigError(f"{_EXTENDS}: {_name(target)} does not exist (or Petrel cannot read it)")
            except ConfigError as error:
                if len(chain) > 1:  # say which file of the chain is broken
                    raise ConfigError(f"{_name(where)}: {error}") from None
                raise
            where = target
            chain.append(where)
        merged: dict = {}
        for layer in reversed(layers):
            merged = _merge(merged, layer)
        config = _build(merged)
    except ConfigError as error:
        return LoadedConfig(DEFAULTS, " <- ".join(_name(w) for w in chain), str(error), first_sha)
    return LoadedConfig(config, " <- ".join(_name(w) for w in chain), None, first_sha)
