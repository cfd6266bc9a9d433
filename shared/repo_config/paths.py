"""Which changed files are reviewed: glob patterns (`paths.include`, `paths.exclude`) and the default excludes.

Patterns follow .gitignore, so a maintainer's habits carry over: `*` and `?` stay within one
directory, `**` crosses directories, a pattern without `/` matches a name at any depth, one
with `/` is rooted, a trailing `/` matches directories only, and a matched directory covers
everything under it. Negation (`!pattern`) is refused when the file is read: list what to
keep in `paths.include`. docs/configuration.md lists the rules and DEFAULT_EXCLUDES for users.
"""

from __future__ import annotations

import functools
import re

from shared.repo_config.schema import ConfigError, PathsConfig

DEFAULT_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "lock file",
        (
            "package-lock.json",
            "npm-shrinkwrap.json",
            "yarn.lock",
            "pnpm-lock.yaml",
            "bun.lockb",
            "poetry.lock",
            "Pipfile.lock",
            "pdm.lock",
            "uv.lock",
            "Cargo.lock",
            "go.sum",
            "go.work.sum",
            "composer.lock",
            "Gemfile.lock",
            "packages.lock.json",
            "*.lock",
        ),
    ),
    (
        "vendored",
        (
            "**/vendor/**",
            "**/third_party/**",
            "**/node_modules/**",
            "**/bower_components/**",
        ),
    ),
    (
        "generated",
        (
            "*_pb2.py",
            "*_pb2.pyi",
            "*_pb2_grpc.py",
            "*.pb.go",
            "*.pb.cc",
            "*.pb.h",
            "*.generated.*",
            "**/generated/**",
            "**/__generated__/**",
            "dist/**",
            "build/**",
        ),
    ),
    ("minified", ("*.min.js", "*.min.mjs", "*.min.css", "*.map")),
    (
        "binary",
        (
            # images
            "*.png",
            "*.jpg",
            "*.jpeg",
            "*.gif",
            "*.bmp",
            "*.tif",
            "*.tiff",
            "*.webp",
            "*.ico",
            "*.icns",
            "*.svg",
            "*.psd",
            "*.avif",
            "*.heic",
            # fonts
            "*.ttf",
            "*.otf",
            "*.eot",
            "*.woff*",
            # archives and packages
            "*.zip",
            "*.tar",
            "*.gz",
            "*.tgz",
            "*.bz2",
            "*.xz",
            "*.7z",
            "*.rar",
            "*.jar",
            "*.war",
            "*.whl",
            "*.egg",
            "*.nupkg",
            # documents, audio and video
            "*.pdf",
            "*.mp3",
            "*.mp4",
            "*.mov",
            "*.avi",
            "*.wav",
            "*.ogg",
            "*.webm",
            "*.flac",
            # compiled code and data
            "*.so",
            "*.dll",
            "*.dylib",
            "*.exe",
            "*.bin",
            "*.o",
            "*.a",
            "*.lib",
            "*.class",
            "*.pyc",
            "*.pyo",
            "*.wasm",
            "*.sqlite",
            "*.sqlite3",
        ),
    ),
)

DEFAULT_EXCLUDES: tuple[str, ...] = tuple(p for _, patterns in DEFAULT_GROUPS for p in patterns)


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
                out.append("(?:.*/)?")  # `**/`: zero or more directories
                i = j + 1
            elif j - i >= 2 and bounded_before and j == n:
                out.append(".*")  # trailing `/**` (or `**` alone): everything below
                i = j
            else:
                out.append("[^/]*")  # `*`, and `**` inside a name, stay in one directory
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
                out.append(re.escape(c))  # an unclosed `[` is itself
                i += 1
                continue
            inner = text[i + 1 : j]
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
    for reason, patterns in DEFAULT_GROUPS
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


def check_pattern(where: str, pattern: str) -> None:
    """ConfigError unless `pattern` is a glob Petrel can use (no negation, character classes from low to high)."""
    if pattern.startswith("!"):
        raise ConfigError(f"{where}: negation ('!') is not supported: list what to keep in paths.include")
    try:
        _compiled(pattern)
    except re.error:
        raise ConfigError(
            f"{where}: not a valid glob pattern (a character class like [a-z] must go from low to high)"
        ) from None
