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
    merged away. A kept finding that stands for others gets `also`: a short note naming them."""
    ranked = sorted(findings, key=lambda f: -SEVERITIES.index(f["severity"]))  # stable: the model's order next
    kept: list[tuple[dict, frozenset[str], list[dict]]] = []
    merged = 0
    for finding in ranked:
        said = words(finding.get("body"))
        twin = next((k for k in kept if _same(k[0], k[1], finding, said)), None)
        if twin is None:
            kept.append((finding, said, []))
            continue
        merged += 1
        if (finding["path"], finding["line"]) != (twin[0]["path"], twin[0]["line"]):
            twin[2].append(finding)
    out = []
    for finding, _, others in kept:
        places = list(dict.fromkeys(_place(o) for o in others))
        if places:
            more = f" and {len(places) - MAX_PLACES} more place(s)" if len(places) > MAX_PLACES else ""
            finding = {**finding, "also": f"Also at {', '.join(places[:MAX_PLACES])}{more}."}
        out.append(finding)
    return out, merged
