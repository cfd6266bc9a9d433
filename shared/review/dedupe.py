"""Near-duplicate findings within one review, merged into one comment.

Chunks are reviewed apart, and a model repeats itself: the same point on three neighbouring lines,
or the same sentence on two files that share a pattern. Posted as is, that is several comments
saying one thing. So findings are merged when they make the same point on lines within
NEIGHBOURING lines of one file (most of their words in common), or use the same words anywhere in
the review;
the most severe one is kept and its text names the other places briefly ("Also at `b.py` line 12.").
The note is kept apart from the finding's text so that its fingerprint, which says whether it was
posted before, does not change with it (shared/review/findings.py adds it to the comment).
"""

from __future__ import annotations

import re

from shared.repo_config.schema import SEVERITIES

NEIGHBOURING = 3  # lines apart in one file
SAME_POINT = 0.6  # word similarity for a finding on a neighbouring line
SAME_WORDS = 1.0  # anywhere else in the review: the same words (in any order, punctuation aside)
MAX_PLACES = 5  # other places named in a kept finding's note


def words(text: str) -> frozenset[str]:
    """A finding's words, lower case, without punctuation: what two findings are compared by."""
    return frozenset(re.sub(r"[^\w\s]", " ", str(text or "").lower()).split())


def similar(a: frozenset[str], b: frozenset[str]) -> float:
    """How alike two findings' words are, from 0 to 1 (the share of words they have in common;
    sets, so that comparing every pair of a flood of findings stays cheap)."""
    return 2 * len(a & b) / (len(a) + len(b)) if a and b else 0.0


def _same(kept: dict, kept_words: frozenset[str], other: dict, other_words: frozenset[str]) -> bool:
    likeness = similar(kept_words, other_words)
    near = (
        kept["path"] == other["path"]
        and isinstance(kept["line"], int)
        and isinstance(other["line"], int)
        and abs(kept["line"] - other["line"]) <= NEIGHBOURING
    )
    return likeness >= SAME_WORDS or (near and likeness >= SAME_POINT)


def _place(finding: dict) -> str:
    return f"`{' '.join(str(finding['path']).split()).replace('`', chr(39))}` line {finding['line']}"


def merge_near_duplicates(findings: list[dict]) -> tuple[list[dict], int]:
    """The findings with near-duplicates merged into the most severe of them, and how many were
    merged away. A kept finding that stands for others gets `also`: a short note naming them. A
    finding joins a group when it is the same as any finding of the group already."""
    ranked = sorted(findings, key=lambda f: -SEVERITIES.index(f["severity"]))  # stable: the model's order next
    groups: list[list[tuple[dict, frozenset[str]]]] = []
    for finding in ranked:
        said = words(finding.get("body"))
        group = next((g for g in groups if any(_same(other, seen, finding, said) for other, seen in g)), None)
        if group is None:
            groups.append([(finding, said)])
        else:
            group.append((finding, said))
    out = []
    for (kept, _), *others in groups:
        here = (kept["path"], kept["line"])
        places = list(dict.fromkeys(_place(o) for o, _ in others if (o["path"], o["line"]) != here))
        if places:
            more = f" and {len(places) - MAX_PLACES} more place(s)" if len(places) > MAX_PLACES else ""
            kept = {**kept, "also": f"Also at {', '.join(places[:MAX_PLACES])}{more}."}
        out.append(kept)
    return out, len(findings) - len(out)
