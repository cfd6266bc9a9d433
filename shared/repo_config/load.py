"""Per-repository configuration: `.github/petrel.yml` on the default branch.

Nothing here talks to GitHub: `load` is given a `fetch(repository, path)` that returns
`(text, blob_sha)` read from that repository's default branch, None when there is no
such file (or repository), or raises UnreadableFile when something else is there (a
directory, a symbolic link, a submodule, a file too large). Every key is optional; a file
that is absent, empty or only comments means the defaults. A broken file never raises:
`load` returns the defaults with a one-line error that names the file, the key (or the
line and column) and what was expected.

What the errors never say: anything the file contains. The error is posted on pull
requests and issues and shown by `/config`, to anyone who can read them, while the file
may be one they cannot read (an `_extends` target in a private repository of the same
owner). So a wrong value is described by its kind ("got text"), an unknown key by its
line, and YAML's own messages lose the characters they quote.

Whose files may be read: the repository's own, and, through `_extends`, files of other
repositories of the same owner only (owners compared ignoring case), so a repository's
configuration never reads (or reports on) a repository that its maintainers do not control.

Where the file is looked for
    1. `OWNER/REPO:.github/petrel.yml`, the repository's own file;
    2. otherwise `OWNER/.github:.github/petrel.yml`, the owner's shared file (Probot's
       convention), so one file can configure every repository of an organisation;
    3. otherwise the defaults.

Reference (every key, with its default)::

    _extends: petrel-config       # optional: start from another file, then apply this one.
                                  #   'repo'                  .github/petrel.yml there
                                  #   'repo:path.yml'         that file (.yml or .yaml, a path
                                  #                           from the root, no '.' or '..')
                                  #   'owner/repo[:path.yml]' the same, owner spelt out: only
                                  #                           the repository's own owner
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

import datetime
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

# What a Fetch says (raising UnreadableFile) when the path holds something other than a file
NOT_A_FILE = "expected a file, found {what}"
DIRECTORY = "a directory"
SYMLINK = "a symbolic link (Petrel does not follow links: put the file itself there, or name it with _extends)"
SUBMODULE = "a git submodule"
TOO_LARGE = "the file is {size:,} bytes, over the {limit} KB limit"
NOT_SENT = "GitHub did not send the file's content"

EXTENDS_FORM = "_extends: expected 'repo', 'repo:path.yml', 'owner/repo' or 'owner/repo:path.yml'"
EXTENDS_PATH = ("_extends: the path must go from the repository's root through names separated by '/' "
                "(like configs/petrel.yml), without '.', '..', '//' or a leading '/'")
EXTENDS_YAML = "_extends: the path must name a .yml or .yaml file"
EXTENDS_OWNER = "_extends names {target}: only repositories of {owner} may be extended"


class ConfigError(ValueError):
    """A configuration file is unusable; the message is one line naming the key or line and the fix."""

    def __init__(self, message: str):
        super().__init__(" ".join(message.split()))


class UnreadableFile(ConfigError):
    """Raised by a Fetch: something is at the path, but not a file Petrel reads.

    A directory, a symbolic link, a submodule, or a file too large for the contents API.
    The message says what was found (never what it holds); `sha` names it when known, so
    the notice about it is keyed like one about a broken file.
    """

    def __init__(self, message: str, sha: str | None = None):
        super().__init__(message)
        self.sha = sha


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
    return ConfigError(f"line {mark.line + 1}, column {mark.column + 1}: {message}" if mark is not None else message)


class _Mapping(dict):
    """A mapping read from a file, with where each key is ((line, column), 1-based): an
    unknown key is reported by its place, never by its text."""

    places: dict


def _construct_mapping(loader, node):
    data = _Mapping()
    data.places = {}
    yield data
    data.update(loader.construct_mapping(node))
    for key_node, _ in node.value:  # keys are constructed already: construct_object returns them
        mark = key_node.start_mark
        data.places.setdefault(loader.construct_object(key_node), (mark.line + 1, mark.column + 1))


def _place(mapping, key) -> str:
    where = getattr(mapping, "places", {}).get(key)
    return f" at line {where[0]}, column {where[1]}" if where else ""


# PyYAML quotes the characters it stumbles on ("found character 'x' that cannot start any
# token"); those are the file's content. Its own tokens ('<block end>') and punctuation stay.
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'" + r'|"(?:[^"\\]|\\.)*"')


def _unquoted(text: str) -> str:
    """PyYAML's message without the file's characters in it."""
    def keep(match: re.Match) -> str:
        inner = match.group(0)[1:-1]
        if re.fullmatch(r"<[a-z ]+>", inner) or re.fullmatch(r"[^\w\s\\]| ", inner):
            return match.group(0)
        return "'\\t' (a tab: indent with spaces)" if inner == "\\t" else "'…'"
    return _QUOTED.sub(keep, text)


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
            raise _at(event.start_mark, "tags (like !!python/... or !custom) are not allowed")
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
                named = f"key '{key}'" if isinstance(key, str) and key in _KEY_NAMES else "a key"
                raise _at(key_node.start_mark, f"{named} appears twice in the same mapping")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep=deep)
        except ConfigError:
            raise
        except ValueError:  # e.g. an integer of thousands of digits (Python's conversion limit), a 13th month
            raise _at(node.start_mark, "a value cannot be read (a number too long, or a date that does not exist)") from None


_PlainLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)


def _parse_yaml(text: str):
    """The document as plain data, or ConfigError naming the line."""
    size = len(text.encode("utf-8"))
    if size > MAX_BYTES:
        raise ConfigError(f"the file is {size:,} bytes, over the {MAX_BYTES // 1024} KB limit")
    _stats["parses"] += 1
    try:
        return yaml.load(text, Loader=_PlainLoader)  # noqa: S506 - _PlainLoader is a stricter SafeLoader
    except yaml.MarkedYAMLError as error:  # never str(error): it quotes the file's line
        mark = error.problem_mark or error.context_mark
        problem = _unquoted(error.problem or error.context or "malformed document")
        context = _unquoted(error.context) if error.context else None
        if context and error.problem and problem.startswith("but "):
            problem = f"{context}, {problem}"   # "expected X, but found Y"
        elif context and error.problem:
            where = ""
            if error.context_mark is not None and mark is not None and error.context_mark.line != mark.line:
                where = f" on line {error.context_mark.line + 1}"
            problem = f"{problem} ({context}{where})"
        raise _at(mark, f"YAML error: {problem}") from None
    except yaml.reader.ReaderError as error:
        position = max(error.position, 0)
        line = text.count("\n", 0, position) + 1
        column = position - (text.rfind("\n", 0, position) + 1) + 1
        character = f" (character {error.character:#x})" if isinstance(error.character, int) else ""
        raise ConfigError(f"line {line}, column {column}: YAML error: {error.reason}{character}") from None
    except yaml.YAMLError:
        raise ConfigError("YAML error: the document cannot be read") from None
    except ConfigError:
        raise  # the loader's own refusals (anchors, tags, values...) say what is wrong already
    except ValueError:
        raise ConfigError("YAML error: a value cannot be read") from None


# ---------------------------------------------------------------------------------------------
# Validation: file data -> a partial dict of checked, normalised values
#
# A message names the key path and what was expected, and says what was found only by its
# kind ("got text"), never by its value: the file may be one the reader cannot see.


def _kind(value) -> str:
    """What a value is, in words; never what it says."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a number with a fraction"
    if isinstance(value, str):
        return "text"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (datetime.date, datetime.datetime)):
        return "a date"
    return "a value of another kind"


def _quote_hint(value) -> str:
    if isinstance(value, bool):
        return " (put it in quotes: YAML reads yes/no/on/off as true/false)"
    return " (put it in quotes)" if isinstance(value, (int, float)) else ""


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _boolean(where: str, value):
    if isinstance(value, bool):
        return value
    raise ConfigError(f"{where}: expected true or false, got {_kind(value)}")


def _whole(low: int, high: int):
    def check(where: str, value):
        if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
            return value
        got = "one out of that range" if isinstance(value, int) and not isinstance(value, bool) else _kind(value)
        raise ConfigError(f"{where}: expected a whole number from {low} to {high}, got {got}")
    return check


def _severity(where: str, value):
    if isinstance(value, str) and value.strip().lower() in SEVERITIES:
        return value.strip().lower()
    got = "other text" if isinstance(value, str) else _kind(value)
    raise ConfigError(f"{where}: expected one of {', '.join(SEVERITIES)}, got {got}")


def _text(limit: int, empty: bool):
    def check(where: str, value):
        if value is None and empty:
            return ""
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected text, got {_kind(value)}{_quote_hint(value)}")
        if not empty and not value.strip():
            raise ConfigError(f"{where}: must not be empty")
        if not empty and not value.strip().isprintable():
            raise ConfigError(f"{where}: must be one line of printable text")
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
            raise ConfigError(f"{where}: expected a list of text (or one text), got {_kind(value)}")
        out = []
        for index, item in enumerate(items):
            here = f"{where}[{index}]"
            if not isinstance(item, str):
                raise ConfigError(f"{here}: expected text, got {_kind(item)}{_quote_hint(item)}")
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
                except re.error:
                    raise ConfigError(f"{here}: not a valid glob pattern (a character class like [a-z] "
                                      "must go from low to high)") from None
            out.append(item)
        return tuple(out)
    return check


def _model(where: str, value):
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 200 or any(c.isspace() for c in value.strip()):
        got = "other text" if isinstance(value, str) else _kind(value)
        raise ConfigError(f"{where}: expected a model name (text without spaces, up to 200 characters) or null, "
                          f"got {got}")
    return value.strip()


def _fraction(where: str, value):
    if _is_number(value) and 0 <= value <= 1:
        return float(value)
    got = "one out of that range" if _is_number(value) else _kind(value)
    raise ConfigError(f"{where}: expected a number from 0 to 1, got {got}")


def _label_mapping(where: str, value):
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping like 'bug: \"type: bug\"', got {_kind(value)}")
    pairs = []
    for index, (key, label) in enumerate(value.items()):
        if not isinstance(key, str) or not isinstance(label, str) or not key.strip() or not label.strip():
            raise ConfigError(f"{where}: entry {index + 1}{_place(value, key)}: expected text: text, "
                              f"got {_kind(key)}: {_kind(label)}")
        pairs.append((key.strip(), label.strip()))
    return tuple(pairs)


ASSOCIATIONS = ("OWNER", "MEMBER", "COLLABORATOR", "CONTRIBUTOR", "FIRST_TIME_CONTRIBUTOR", "FIRST_TIMER", "NONE")


def _associations(where: str, value):
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise ConfigError(f"{where}: expected a list of author associations ({', '.join(ASSOCIATIONS)}), "
                          f"got {_kind(value)}")
    upper = tuple(i.strip().upper() for i in items)
    for index, item in enumerate(upper):
        if item not in ASSOCIATIONS:
            here = where if isinstance(value, str) else f"{where}[{index}]"
            raise ConfigError(f"{here}: expected an author association: one of {', '.join(ASSOCIATIONS)}")
    return upper


def _budget(where: str, value):
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value > 0):
        return value
    got = "zero or less" if isinstance(value, int) and not isinstance(value, bool) else _kind(value)
    raise ConfigError(f"{where}: expected a positive whole number of tokens, or null for unlimited, got {got}")


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
_KEY_NAMES = frozenset({*_TOP_KEYS, *(k for _, checks in _SECTIONS.values() for k in checks)})


def _unknown(section: str | None, key, known, mapping) -> ConfigError:
    """An unknown key, by its place and the known key it is closest to; its own text is not shown."""
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
    return ConfigError(f"{prefix}unknown key{_place(mapping, key)}{hint}")


def _validate(data) -> tuple[dict, str | None]:
    """(the checked keys of one file, its `_extends` text or None); ConfigError on the first problem."""
    if data is None:
        return {}, None
    if not isinstance(data, dict):
        raise ConfigError(f"the top level must be a mapping of keys (like 'review:'), got {_kind(data)}")
    partial: dict[str, Any] = {}
    extends = None
    for key, value in data.items():
        if key == _EXTENDS:
            if not isinstance(value, str) or not value.strip():
                got = "nothing" if value is None or isinstance(value, str) else _kind(value)
                raise ConfigError(f"{EXTENDS_FORM}, got {got}")
            extends = value.strip()
        elif key in _SECTIONS:
            partial[key] = _section(key, value)
        elif key in _VALUES:
            partial[key] = _VALUES[key](key, value)
        else:
            raise _unknown(None, key, _TOP_KEYS, data)
    return partial, extends


def _section(name: str, value) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{name}: expected a mapping of keys (like '{name}:' then indented keys), got {_kind(value)}")
    checks = _SECTIONS[name][1]
    out = {}
    for key, item in value.items():
        if key not in checks:
            raise _unknown(name, key, checks, value)
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
_EXTENDS_FORM = re.compile(rf"^(?:(?P<owner>{_OWNER})/)?(?P<repo>{_REPO})(?::(?P<path>.*))?$", re.DOTALL)
_PATH_NAME = re.compile(r"[\w.-]{1,255}")


def _target(value: str, owner: str) -> tuple[str, str]:
    """(owner/repo, path) named by an `_extends` value; ConfigError unless it is a YAML file of
    a repository of `owner` (the configured repository's owner, compared ignoring case).

    Nothing is read before this check passes: a repository of another owner is never asked for.
    """
    if "://" in value or value.lower().startswith("git@"):
        raise ConfigError(f"{EXTENDS_FORM}, not a URL")
    match = _EXTENDS_FORM.match(value)
    if not match or match.group("repo") in (".", ".."):
        raise ConfigError(EXTENDS_FORM)
    path = match.group("path")
    if path is not None:
        names = path.split("/")
        if len(path) > 1000 or any(n in (".", "..") or not _PATH_NAME.fullmatch(n) for n in names):
            raise ConfigError(EXTENDS_PATH)  # '..', '/etc/x', 'a//b', '//host/...', spaces, '\\', '%', '?'
        if not path.lower().endswith((".yml", ".yaml")):
            raise ConfigError(EXTENDS_YAML)
    repository = f"{match.group('owner') or owner}/{match.group('repo')}"
    if (match.group("owner") or owner).lower() != owner.lower():
        raise ConfigError(EXTENDS_OWNER.format(target=repository, owner=owner))
    return repository, path or CONFIG_PATH


def _name(where: tuple[str, str]) -> str:
    return f"{where[0]}:{where[1]}"


class _Broken(Exception):
    """A file of the chain is unusable: its name and the ConfigError line."""

    def __init__(self, where: tuple[str, str], error: ConfigError):
        super().__init__(f"{_name(where)}: {error}")
        self.sha = getattr(error, "sha", None)


def _read(fetch: Fetch, where: tuple[str, str]) -> tuple[str, str] | None:
    try:
        return fetch(*where)
    except UnreadableFile as error:
        raise _Broken(where, error) from None


def load(fetch: Fetch, repository: str) -> LoadedConfig:
    """The configuration of `repository` ("owner/repo"), read through `fetch`; never raises ConfigError.

    The repository's own `.github/petrel.yml`, else the owner's `.github` repository's one,
    else DEFAULTS. `_extends` is followed within the repository's owner; a broken file (or
    chain) gives DEFAULTS and one error line that starts with the broken file's name and
    quotes nothing from any file. Exceptions raised by `fetch` itself (GitHub unreachable),
    UnreadableFile apart, are not caught: the caller retries rather than silently reviewing
    with the defaults.
    """
    owner = repository.split("/", 1)[0]
    where = (repository, CONFIG_PATH)
    chain = [where]
    first_sha = None
    try:
        found = _read(fetch, where)
        shared = f"{owner}/.github"
        if found is None and shared.lower() != repository.lower():
            where = (shared, CONFIG_PATH)
            chain = [where]
            found = _read(fetch, where)
        if found is None:
            return LoadedConfig(DEFAULTS, None, None, None)
        first_sha = found[1]
        layers: list[dict] = []
        while True:
            text, sha = found
            try:
                partial, extends = _checked(text, sha)
                layers.append(partial)
                if extends is None:
                    break
                target = _target(extends, owner)
                if any(seen[0].lower() == target[0].lower() and seen[1] == target[1] for seen in chain):
                    cycle = " -> ".join(_name(w) for w in (*chain, target))
                    raise ConfigError(f"{_EXTENDS}: cycle: {cycle}")
                if len(chain) > MAX_EXTENDS:
                    raise ConfigError(f"{_EXTENDS}: more than {MAX_EXTENDS} files extended in a chain (last: {_name(target)})")
            except ConfigError as error:
                raise _Broken(where, error) from None
            found = _read(fetch, target)
            if found is None:
                raise _Broken(where, ConfigError(f"{_EXTENDS}: {_name(target)} does not exist (or Petrel cannot read it)"))
            where = target
            chain.append(where)
        merged: dict = {}
        for layer in reversed(layers):
            merged = _merge(merged, layer)
        config = _build(merged)
    except _Broken as broken:
        return LoadedConfig(DEFAULTS, " <- ".join(_name(w) for w in chain), str(broken), first_sha or broken.sha)
    return LoadedConfig(config, " <- ".join(_name(w) for w in chain), None, first_sha)
