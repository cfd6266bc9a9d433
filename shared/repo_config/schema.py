"""What `.github/petrel.yml` may say: its keys, their types and defaults, and the checks on one value.

Every key is optional; `DEFAULTS` is what an absent, empty or broken file means. The
reference for users, every key with its default and an example, is docs/configuration.md
(a test keeps it true to the dataclasses here).

A check's message names the key path and what was expected, and says what was found only
by its kind ("got text"), never by its value: the file may be one the reader cannot see (an
`_extends` target in a private repository), while the message is posted where anyone who can
read the pull request sees it.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass, field, fields, is_dataclass

CONFIG_PATH = ".github/petrel.yml"
MAX_BYTES = 64 * 1024  # a larger file is refused before it is parsed

SEVERITIES = ("info", "minor", "major", "critical")
ASSOCIATIONS = ("OWNER", "MEMBER", "COLLABORATOR", "CONTRIBUTOR", "FIRST_TIME_CONTRIBUTOR", "FIRST_TIMER", "NONE")


class ConfigError(ValueError):
    """A configuration file is unusable; the message is one line naming the key or line and the fix."""

    def __init__(self, message: str):
        super().__init__(" ".join(message.split()))


@dataclass(frozen=True)
class ReviewConfig:
    """The `review` section: when Petrel reviews pull requests and how much it says."""

    auto: bool = True
    drafts: bool = False
    max_comments: int = 20
    min_severity: str = "minor"
    instructions: str = ""
    skip_labels: tuple[str, ...] = ("petrel: skip", "no-review")
    incremental: bool = True
    concurrency: int = 4
    path_instructions: tuple[tuple[str, str], ...] = ()  # (glob, instructions) for the files the glob matches
    verify: bool = True  # a second model call checks each finding before it is posted
    triage: bool = True  # the light model may propose trivial files (accepted only where provably trivial)
    fail_on: str | None = None  # "critical" or "major": the check run fails when such a finding is posted


@dataclass(frozen=True)
class SummaryConfig:
    """The `summary` section: whether Petrel summarises pull requests, and where."""

    auto: bool = True
    edit_description: bool = False


@dataclass(frozen=True)
class TriageConfig:
    """The `triage` section: labels, duplicates and related issues for new issues, with their thresholds."""

    auto: bool = True
    labels: bool = True
    label_threshold: float = 0.7
    label_mapping: tuple[tuple[str, str], ...] = ()  # (the model's name, the repository's label)
    duplicates: bool = True
    duplicate_threshold: float = 0.85
    related_threshold: float = 0.6
    recall_threshold: float = 0.3
    first_answer: bool = False


@dataclass(frozen=True)
class CommandsConfig:
    """The `commands` section: who may run model commands, and how much `/ask` may spend."""

    allowed: tuple[str, ...] = ("OWNER", "MEMBER", "COLLABORATOR")  # author_association for model commands
    ask_max_steps: int = 6
    ask_token_budget: int = 40_000


@dataclass(frozen=True)
class MemoryConfig:
    """The `memory` section: how many issues and how large files are indexed."""

    issues: int = 200
    max_file_bytes: int = 200_000


@dataclass(frozen=True)
class PathsConfig:
    """The `paths` section: which files Petrel reviews and indexes."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    default_excludes: bool = True


@dataclass(frozen=True)
class ModelsConfig:
    """The `models` section: the repository's choice of review and light model, if any."""

    review: str | None = None
    light: str | None = None


@dataclass(frozen=True)
class Config:
    """A repository's whole Petrel configuration (`.github/petrel.yml`), defaults filled in."""

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


def place(mapping, key) -> str:
    """' at line L, column C' where a parsed file holds `key` (parse records it on its mappings), else ''."""
    where = getattr(mapping, "places", {}).get(key)
    return f" at line {where[0]}, column {where[1]}" if where else ""


def _plain(value):
    if is_dataclass(value):
        return {
            f.name: dict(getattr(value, f.name)) if f.name == "label_mapping" else _plain(getattr(value, f.name))
            for f in fields(value)
        }
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    return value


# ---------------------------------------------------------------------------------------------
# Checks of one value: (where, value) -> the normalised value, or ConfigError


def kind(value) -> str:
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


def boolean(where: str, value):
    """true or false."""
    if isinstance(value, bool):
        return value
    raise ConfigError(f"{where}: expected true or false, got {kind(value)}")


def whole(low: int, high: int):
    """The check of a whole number from `low` to `high`."""

    def check(where: str, value):
        if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
            return value
        got = "one out of that range" if isinstance(value, int) and not isinstance(value, bool) else kind(value)
        raise ConfigError(f"{where}: expected a whole number from {low} to {high}, got {got}")

    return check


def severity(where: str, value):
    """One of SEVERITIES, in any case."""
    if isinstance(value, str) and value.strip().lower() in SEVERITIES:
        return value.strip().lower()
    got = "other text" if isinstance(value, str) else kind(value)
    raise ConfigError(f"{where}: expected one of {', '.join(SEVERITIES)}, got {got}")


def text(limit: int, empty: bool):
    """The check of text up to `limit` characters; unless `empty`, one non-empty line, stripped."""

    def check(where: str, value):
        if value is None and empty:
            return ""
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected text, got {kind(value)}{_quote_hint(value)}")
        if not empty and not value.strip():
            raise ConfigError(f"{where}: must not be empty")
        if not empty and not value.strip().isprintable():
            raise ConfigError(f"{where}: must be one line of printable text")
        if len(value) > limit:
            raise ConfigError(f"{where}: at most {limit} characters, got {len(value)}")
        return value if empty else value.strip()

    return check


def strings(each: Callable[[str, str], None] | None = None):
    """The check of a list of text (one text is a one-item list); `each(where, item)` may refuse an item."""

    def check(where: str, value):
        if value is None:
            return ()
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list):
            raise ConfigError(f"{where}: expected a list of text (or one text), got {kind(value)}")
        out = []
        for index, item in enumerate(items):
            here = f"{where}[{index}]"
            if not isinstance(item, str):
                raise ConfigError(f"{here}: expected text, got {kind(item)}{_quote_hint(item)}")
            item = item.strip()
            if not item:
                raise ConfigError(f"{here}: must not be empty")
            if len(item) > 200:
                raise ConfigError(f"{here}: at most 200 characters, got {len(item)}")
            if each is not None:
                each(here, item)
            out.append(item)
        return tuple(out)

    return check


def model_name(where: str, value):
    """A model name (text without spaces), or None."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 200 or any(c.isspace() for c in value.strip()):
        got = "other text" if isinstance(value, str) else kind(value)
        raise ConfigError(
            f"{where}: expected a model name (text without spaces, up to 200 characters) or null, got {got}"
        )
    return value.strip()


def fraction(where: str, value):
    """A number from 0 to 1, as a float."""
    if _is_number(value) and 0 <= value <= 1:
        return float(value)
    got = "one out of that range" if _is_number(value) else kind(value)
    raise ConfigError(f"{where}: expected a number from 0 to 1, got {got}")


def label_mapping(where: str, value):
    """A mapping of text to text, as a tuple of pairs."""
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping like 'bug: \"type: bug\"', got {kind(value)}")
    pairs = []
    for index, (key, label) in enumerate(value.items()):
        if not isinstance(key, str) or not isinstance(label, str) or not key.strip() or not label.strip():
            raise ConfigError(
                f"{where}: entry {index + 1}{place(value, key)}: expected text: text, got {kind(key)}: {kind(label)}"
            )
        pairs.append((key.strip(), label.strip()))
    return tuple(pairs)


def associations(where: str, value):
    """A list of author associations (see ASSOCIATIONS), upper-cased."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise ConfigError(
            f"{where}: expected a list of author associations ({', '.join(ASSOCIATIONS)}), got {kind(value)}"
        )
    upper = tuple(i.strip().upper() for i in items)
    for index, item in enumerate(upper):
        if item not in ASSOCIATIONS:
            here = where if isinstance(value, str) else f"{where}[{index}]"
            raise ConfigError(f"{here}: expected an author association: one of {', '.join(ASSOCIATIONS)}")
    return upper


def budget(where: str, value):
    """A positive whole number of tokens, or None for unlimited."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value > 0):
        return value
    got = "zero or less" if isinstance(value, int) and not isinstance(value, bool) else kind(value)
    raise ConfigError(f"{where}: expected a positive whole number of tokens, or null for unlimited, got {got}")


FAIL_ON = ("critical", "major")


def fail_on(where: str, value):
    """None (the check run never fails), or a severity of FAIL_ON, in any case."""
    if value is None:
        return None
    if isinstance(value, str) and value.strip().lower() in FAIL_ON:
        return value.strip().lower()
    got = "other text" if isinstance(value, str) else kind(value)
    raise ConfigError(f"{where}: expected one of {', '.join(FAIL_ON)} or null, got {got}")


def path_instructions(check_glob: Callable[[str, str], None]):
    """The check of a list of `{path: GLOB, instructions: TEXT}`, as a tuple of (glob, text) pairs."""

    def check(where: str, value):
        if value is None:
            return ()
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list of {{path: GLOB, instructions: TEXT}}, got {kind(value)}")
        out = []
        for index, item in enumerate(value):
            here = f"{where}[{index}]"
            if not isinstance(item, dict) or set(item) != {"path", "instructions"}:
                got = f"the keys {', '.join(sorted(map(str, item)))}" if isinstance(item, dict) else kind(item)
                raise ConfigError(f"{here}: expected {{path: GLOB, instructions: TEXT}}, got {got}")
            glob = item["path"]
            if not isinstance(glob, str) or not glob.strip():
                raise ConfigError(f"{here}.path: expected a glob pattern, got {kind(glob)}")
            check_glob(f"{here}.path", glob.strip())
            words = item["instructions"]
            if not isinstance(words, str):
                raise ConfigError(f"{here}.instructions: expected text, got {kind(words)}")
            if not words.strip():
                raise ConfigError(f"{here}.instructions: must not be empty")
            if len(words) > 4000:
                raise ConfigError(f"{here}.instructions: at most 4000 characters, got {len(words)}")
            out.append((glob.strip(), words.strip()))
        return tuple(out)

    return check
