"""Reading one `.github/petrel.yml`: safe YAML, then strict validation into a Config.

The file is plain YAML only: anchors and aliases, merge keys and tags are refused (they
are how a YAML file runs code or expands a few bytes into gigabytes), as are files over
MAX_BYTES, nesting deeper than MAX_DEPTH, duplicate keys and unknown keys. What an error
never says is anything the file contains: a wrong value is described by its kind ("got
text"), an unknown key by its line, and YAML's own messages lose the characters they quote,
because the error is posted where readers of the pull request see it, while the file may be
one they cannot read.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import yaml

from shared.repo_config import schema
from shared.repo_config.paths import check_pattern
from shared.repo_config.schema import (
    DEFAULTS,
    MAX_BYTES,
    CommandsConfig,
    Config,
    ConfigError,
    MemoryConfig,
    ModelsConfig,
    PathsConfig,
    ReviewConfig,
    SummaryConfig,
    TriageConfig,
    kind,
    place,
)

MAX_DEPTH = 10  # nesting of mappings and lists
EXTENDS = "_extends"  # the one key that is not a setting: load follows it
EXTENDS_FORM = "_extends: expected 'repo', 'repo:path.yml', 'owner/repo' or 'owner/repo:path.yml'"

# YAML documents parsed since load.cache_clear (load.cache_info reports it)
PARSED = {"documents": 0}


# ---------------------------------------------------------------------------------------------
# YAML: plain data only

_STANDARD_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "seq", "map")
)
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
            raise _at(
                node.start_mark, "a value cannot be read (a number too long, or a date that does not exist)"
            ) from None


_PlainLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)


def parse_yaml(text: str):
    """The document as plain data, or ConfigError naming the line."""
    size = len(text.encode("utf-8"))
    if size > MAX_BYTES:
        raise ConfigError(f"the file is {size:,} bytes, over the {MAX_BYTES // 1024} KB limit")
    PARSED["documents"] += 1
    try:
        return yaml.load(text, Loader=_PlainLoader)  # noqa: S506 - _PlainLoader is a stricter SafeLoader
    except yaml.MarkedYAMLError as error:  # never str(error): it quotes the file's line
        mark = error.problem_mark or error.context_mark
        problem = _unquoted(error.problem or error.context or "malformed document")
        context = _unquoted(error.context) if error.context else None
        if context and error.problem and problem.startswith("but "):
            problem = f"{context}, {problem}"  # "expected X, but found Y"
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

_SECTIONS: dict[str, tuple[type, dict[str, Callable]]] = {
    "review": (
        ReviewConfig,
        {
            "auto": schema.boolean,
            "drafts": schema.boolean,
            "max_comments": schema.whole(0, 200),
            "min_severity": schema.severity,
            "instructions": schema.text(4000, empty=True),
            "skip_labels": schema.strings(),
            "incremental": schema.boolean,
            "concurrency": schema.whole(1, 16),
            "path_instructions": schema.path_instructions(check_pattern),
            "verify": schema.boolean,
            "triage": schema.boolean,
            "fail_on": schema.fail_on,
        },
    ),
    "summary": (SummaryConfig, {"auto": schema.boolean, "edit_description": schema.boolean}),
    "triage": (
        TriageConfig,
        {
            "auto": schema.boolean,
            "labels": schema.boolean,
            "label_threshold": schema.fraction,
            "label_mapping": schema.label_mapping,
            "duplicates": schema.boolean,
            "duplicate_threshold": schema.fraction,
            "related_threshold": schema.fraction,
            "recall_threshold": schema.fraction,
            "first_answer": schema.boolean,
        },
    ),
    "commands": (
        CommandsConfig,
        {
            "allowed": schema.associations,
            "ask_max_steps": schema.whole(1, 20),
            "ask_token_budget": schema.whole(1000, 500_000),
        },
    ),
    "memory": (MemoryConfig, {"issues": schema.whole(0, 5000), "max_file_bytes": schema.whole(1000, 5_000_000)}),
    "paths": (
        PathsConfig,
        {
            "include": schema.strings(check_pattern),
            "exclude": schema.strings(check_pattern),
            "default_excludes": schema.boolean,
        },
    ),
    "models": (ModelsConfig, {"review": schema.model_name, "light": schema.model_name}),
}
_VALUES: dict[str, Callable] = {"language": schema.text(40, empty=False), "daily_token_budget": schema.budget}
_TOP_KEYS = [*_SECTIONS, *_VALUES, EXTENDS]
_ALL_PATHS = [*_VALUES, *(f"{s}.{k}" for s, (_, checks) in _SECTIONS.items() for k in checks), *_SECTIONS]
_KEY_NAMES = frozenset({*_TOP_KEYS, *(k for _, checks in _SECTIONS.values() for k in checks)})


def _unknown(section: str | None, key, known, mapping) -> ConfigError:
    """An unknown key, by its place and the known key it is closest to; its own text is not shown."""
    prefix = f"{section}: " if section else ""
    name = str(key)
    ends: dict[str, list[str]] = {}
    for path in _ALL_PATHS:
        ends.setdefault(path.rsplit(".", 1)[-1], []).append(path)
    close = (
        []
        if name in ends and name not in known
        else [f"'{k}'" for k in difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)]
    )
    if not close:  # maybe the right key in the wrong place
        near = difflib.get_close_matches(name, list(ends), n=1, cutoff=0.75)
        close = [f"'{p}'" + ("" if "." in p else " at the top level") for p in ends[near[0]]] if near else []
    if close:
        hint = f" (did you mean {' or '.join(close)}?)"
    else:
        hint = f" (known keys: {', '.join(known)})"
    return ConfigError(f"{prefix}unknown key{place(mapping, key)}{hint}")


def validate(data) -> tuple[dict, str | None]:
    """(the checked keys of one file, its `_extends` text or None); ConfigError on the first problem."""
    if data is None:
        return {}, None
    if not isinstance(data, dict):
        raise ConfigError(f"the top level must be a mapping of keys (like 'review:'), got {kind(data)}")
    partial: dict[str, Any] = {}
    extends = None
    for key, value in data.items():
        if key == EXTENDS:
            if not isinstance(value, str) or not value.strip():
                got = "nothing" if value is None or isinstance(value, str) else kind(value)
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
        raise ConfigError(f"{name}: expected a mapping of keys (like '{name}:' then indented keys), got {kind(value)}")
    checks = _SECTIONS[name][1]
    out = {}
    for key, item in value.items():
        if key not in checks:
            raise _unknown(name, key, checks, value)
        out[key] = checks[key](f"{name}.{key}", item)
    return out


def build(partial: Mapping) -> Config:
    """DEFAULTS with the checked keys of `partial` (what `validate` gives, merged) applied."""
    values: dict[str, Any] = {}
    for name in _SECTIONS:
        values[name] = replace(getattr(DEFAULTS, name), **partial.get(name, {}))
    for name in _VALUES:
        if name in partial:
            values[name] = partial[name]
    return replace(DEFAULTS, **values)


def from_dict(data: Mapping | None) -> Config:
    """A Config from plain data in the file's shape (what `Config.to_dict` gives); ConfigError if wrong."""
    partial, extends = validate(dict(data) if isinstance(data, Mapping) else data)
    if extends is not None:
        raise ConfigError(f"{EXTENDS}: only a file can extend another")
    return build(partial)


def parse(text: str) -> Config:
    """A Config from one file's text, without `_extends`; ConfigError if it is broken."""
    return from_dict(parse_yaml(text))
