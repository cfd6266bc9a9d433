"""Petrel's hidden markers: the `<!-- petrel:KEY -->` HTML comments in what it posts.

A marker is how Petrel finds its own comment, review or description section again (to edit
it rather than post a second one), how it knows a finding was already posted (its
fingerprint), and how it tells its own comments from people's (with the author: anyone can
copy a marker, shared/github/identity.py). The syntax lives here only, so every reader and
writer of markers agrees on it.
"""

from __future__ import annotations

import re

from shared.github.identity import same_login

PREFIX = "<!-- petrel:"
FINDING = "finding:"  # a posted finding's marker: finding:<fingerprint>
ADDRESSED = "addressed:"  # Petrel's reply in the thread of a finding since fixed: addressed:<root comment id>

_ANY = re.compile(r"<!--\s*petrel:[^>]*-->")
_FINGERPRINT = re.compile(r"<!-- petrel:finding:([0-9a-f]+) -->")
_ADDRESSED = re.compile(r"<!-- petrel:addressed:([0-9]+) -->")


def make(key: str) -> str:
    """The hidden HTML comment that identifies one of Petrel's comments."""
    return f"{PREFIX}{key} -->"


def closing(key: str) -> str:
    """The marker that ends Petrel's section for `key` in a text someone else writes (a description)."""
    return make(f"/{key}")


def finding(fingerprint: str) -> str:
    """The marker of a posted finding: `fingerprint_of` reads it back."""
    return make(FINDING + fingerprint)


def present(body: str | None) -> bool:
    """True for text that carries a marker: anyone can copy one, so on its own this proves
    nothing; `written_by_petrel` also checks the author."""
    return bool(body) and PREFIX in body


def written_by_petrel(author: str | None, body: str | None, me: str | None) -> bool:
    """True for a comment, review or review comment that Petrel wrote: its author is Petrel's
    own login `me` (shared/github/identity.py) and it carries a marker. Without `me` nothing is."""
    return same_login(author, me) and present(body)


def fingerprint_of(body: str | None) -> str | None:
    """The fingerprint in a posted finding's marker, or None when the text carries none."""
    match = _FINGERPRINT.search(body or "")
    return match.group(1) if match else None


def addressed(comment_id: int) -> str:
    """The key of Petrel's one reply saying the finding of review comment `comment_id` was addressed."""
    return f"{ADDRESSED}{comment_id}"


def addressed_in(body: str | None) -> int | None:
    """The review comment a follow-up reply answers (read from its marker), or None."""
    match = _ADDRESSED.search(body or "")
    return int(match.group(1)) if match else None


def strip(text: str) -> str:
    """`text` without any of Petrel's markers (spaced however), the rest as it was."""
    return _ANY.sub("", text)


def before(text: str) -> str:
    """The words of a text Petrel wrote, before the marker it ends with (a paragraph of its own)."""
    return text.split("\n\n" + PREFIX)[0]
