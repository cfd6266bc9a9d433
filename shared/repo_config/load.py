"""Per-repository configuration: which `.github/petrel.yml` applies, followed through `_extends`, cached.

Nothing here talks to GitHub: `load` is given a `fetch(repository, path)` that returns
`(text, blob_sha)` read from that repository's default branch, None when there is no
such file (or repository), or raises UnreadableFile when something else is there (a
directory, a symbolic link, a submodule, a file too large). A broken file never raises:
`load` returns the defaults with a one-line error that names the file, the key (or the
line and column) and what was expected, and quotes nothing from any file (see parse).

Whose files may be read: the repository's own, and, through `_extends`, files of other
repositories of the same owner only (owners compared ignoring case), so a repository's
configuration never reads (or reports on) a repository that its maintainers do not control.

Where the file is looked for
    1. `OWNER/REPO:.github/petrel.yml`, the repository's own file;
    2. otherwise `OWNER/.github:.github/petrel.yml`, the owner's shared file (Probot's
       convention), so one file can configure every repository of an organisation;
    3. otherwise the defaults.

Each file is parsed once per blob sha (a sha names one content, in any repository), errors
included. docs/configuration.md is the users' reference: every key, its default, an example.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from shared.repo_config.parse import EXTENDS, EXTENDS_FORM, PARSED, build, parse_yaml, validate
from shared.repo_config.schema import CONFIG_PATH, DEFAULTS, Config, ConfigError

MAX_EXTENDS = 3  # `_extends` hops after the first file
CACHE_SIZE = 256  # parsed files kept, by blob sha

Fetch = Callable[[str, str], tuple[str, str] | None]  # (repository, path) -> (text, blob sha) | None

# What a Fetch says (raising UnreadableFile) when the path holds something other than a file
NOT_A_FILE = "expected a file, found {what}"
DIRECTORY = "a directory"
SYMLINK = "a symbolic link (Petrel does not follow links: put the file itself there, or name it with _extends)"
SUBMODULE = "a git submodule"
TOO_LARGE = "the file is {size:,} bytes, over the {limit} KB limit"
NOT_SENT = "GitHub did not send the file's content"

EXTENDS_PATH = (
    "_extends: the path must go from the repository's root through names separated by '/' "
    "(like configs/petrel.yml), without '.', '..', '//' or a leading '/'"
)
EXTENDS_YAML = "_extends: the path must name a .yml or .yaml file"
EXTENDS_OWNER = "_extends names {target}: only repositories of {owner} may be extended"


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
class LoadedConfig:
    """The configuration in effect for a repository, with where it came from and what was wrong with it."""

    config: Config  # DEFAULTS when the file is broken or absent
    source: str | None  # "o/r:.github/petrel.yml" (with `_extends`: "a <- b <- c"); None when no file
    error: str | None  # the ConfigError line when a file was found but is broken
    sha: str | None  # blob sha of the first file read (the repository's own, or the owner's)


def _merge(base: dict, over: Mapping) -> dict:
    """`over` on `base`: mappings merge key by key, anything else replaces. Neither is changed."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


# ---------------------------------------------------------------------------------------------
# Cache of parsed files, by blob sha (a sha names one content, in any repository)


class CacheInfo(NamedTuple):
    """The parse cache's counters, like `functools.lru_cache`'s cache_info."""

    parses: int  # YAML documents parsed since the last cache_clear
    hits: int  # files served from the cache instead
    size: int  # entries held now
    maxsize: int


_cache: OrderedDict[str, tuple[dict, str | None] | str] = OrderedDict()
_stats = {"hits": 0}
_lock = threading.Lock()


def cache_info() -> CacheInfo:
    """The parse cache's counters now."""
    with _lock:
        return CacheInfo(PARSED["documents"], _stats["hits"], len(_cache), CACHE_SIZE)


def cache_clear() -> None:
    """Empty the parse cache and reset its counters."""
    with _lock:
        _cache.clear()
        _stats.update(hits=0)
        PARSED.update(documents=0)


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
        entry = validate(parse_yaml(text))
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
                    raise ConfigError(f"{EXTENDS}: cycle: {cycle}")
                if len(chain) > MAX_EXTENDS:
                    raise ConfigError(
                        f"{EXTENDS}: more than {MAX_EXTENDS} files extended in a chain (last: {_name(target)})"
                    )
            except ConfigError as error:
                raise _Broken(where, error) from None
            found = _read(fetch, target)
            if found is None:
                raise _Broken(
                    where, ConfigError(f"{EXTENDS}: {_name(target)} does not exist (or Petrel cannot read it)")
                )
            where = target
            chain.append(where)
        merged: dict = {}
        for layer in reversed(layers):
            merged = _merge(merged, layer)
        config = build(merged)
    except _Broken as broken:
        return LoadedConfig(DEFAULTS, " <- ".join(_name(w) for w in chain), str(broken), first_sha or broken.sha)
    return LoadedConfig(config, " <- ".join(_name(w) for w in chain), None, first_sha)
