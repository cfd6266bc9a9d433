"""Near-duplicate findings within one review, merged into one comment.

Chunks are reviewed apart, and a model repeats itself: the same point on three neighbouring lines,
or the same sentence on two files that share a pattern. Posted as is, that is several comments
saying one thing. So findings are merged when they make the same point on lines within
NEIGHBOURING lines of one file (most of their words in common), or nearly the same words anywhere
in the review (SAME_WORDS: a word or two changed in a sentence of MIN_WORDS or more, the same point
on two files; in a shorter one a word changes the point: "off by one in `a`" and "… in `b`");
the most severe one is kept and its text names the other places briefly ("Also at `b.py` line 12.").
The note is kept apart from the finding's text so that its fingerprint, which says whether it was
posted before, does not change with it (shared/review/findings.py adds it to the comment).

Never a second copy: a finding re-phrased on a later push, near one of Petrel's open threads (the
same file, within NEIGHBOURING lines, the same point), is not posted again (near_open_threads).
"""

from __future__ import annotations

from shared.repo_config.schema import SEVERITIES
from shared.review.findings import normal_words
from shared.review.report import code

NEIGHBOURING = 3  # lines apart in one file
SAME_POINT = 0.6  # word similarity for a finding on a neighbouring line
SAME_WORDS = 0.85  # anywhere else in the review: nearly the same words (in any order, punctuation aside)
MIN_WORDS = 12  # ... in findings this long at least; shorter ones only with the very same words
MAX_PLACES = 5  # other places named in a kept finding's note


def words(text: str) -> frozenset[str]:
    """A finding's words, lower case, without punctuation: what two findings are compared by."""
    return frozenset(normal_words(text))


def similar(a: frozenset[str], b: frozenset[str]) -> float:
    """How alike two findings' words are, from 0 to 1 (the share of words they have in common;
    sets, so that comparing every pair of a flood of findings stays cheap)."""
    return 2 * len(a & b) / (len(a) + len(b)) if a and b else 0.0


def _near(a: dict, b: dict) -> bool:
    return (
        a.get("path") == b.get("path")
        and isinstance(a.get("line"), int)
        and isinstance(b.get("line"), int)
        and abs(a["line"] - b["line"]) <= NEIGHBOURING
    )


def _same(kept: dict, kept_words: frozenset[str], other: dict, other_words: frozenset[str]) -> bool:
    likeness = similar(kept_words, other_words)
    alike = likeness == 1.0 or (likeness >= SAME_WORDS and min(len(kept_words), len(other_words)) >= MIN_WORDS)
    return alike or (_near(kept, other) and likeness >= SAME_POINT)


def _place(finding: dict) -> str:
    return f"{code(str(finding['path']))} line {finding['line']}"


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


def near_open_threads(findings: list[dict], threads: list[dict]) -> tuple[list[dict], int]:
    """The findings without those that make the same point as one of Petrel's open threads
    (`threads`: their path, line and text, shared/review/followup.py's as_finding) on the same
    file within NEIGHBOURING lines, and how many were left out."""
    said = [(t, words(t.get("body"))) for t in threads]
    kept = [
        finding
        for finding in findings
        if not any(
            _near(thread, finding) and similar(seen, words(finding.get("body"))) >= SAME_POINT for thread, seen in said
        )
    ]
    return kept, len(findings) - len(kept)
