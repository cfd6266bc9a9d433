"""Evaluation: does long-term memory recall the original of a duplicate issue?

The set is tests/fixtures/duplicates/issues.json: real issues of one public repository,
with the duplicates its maintainers marked. Every issue is indexed (title and body; labels
are left out, since some carry the answer), then each duplicate is searched for, excluding
itself: recall@k is the share whose original is among the first k hits. The offline
hashing embedder is used, so this measures Petrel's memory without any model server.
It is a figure to raise, not a threshold.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from shared.memory.store import Document, Memory  # noqa: E402
from shared.model.embeddings import HashingEmbedder  # noqa: E402
from shared.runtime import db  # noqa: E402

FIXTURE = ROOT / "tests" / "fixtures" / "duplicates" / "issues.json"


def main() -> int:
    data = json.loads(FIXTURE.read_text(encoding="utf-8"))
    repository, issues = data["repository"], data["issues"]
    with db.throwaway() as server:
        url = server.get_uri()
        pool = db.make_pool(url)
        memory = Memory(pool, HashingEmbedder())
        for issue in issues:
            memory.replace(
                repository,
                "issue",
                str(issue["number"]),
                [
                    Document(
                        repository,
                        "issue",
                        str(issue["number"]),
                        issue["title"],
                        issue["body"] or "",
                        state=issue["state"],
                    )
                ],
            )
        ranks, per_original = [], defaultdict(list)
        for issue in issues:
            if not issue.get("duplicate_of"):
                continue
            hits = memory.search(
                repository,
                f"{issue['title']}\n\n{issue['body'] or ''}",
                k=10,
                kinds=("issue",),
                exclude=[("issue", str(issue["number"]))],
            )
            found = [int(h.source) for h in hits]
            rank = found.index(issue["duplicate_of"]) + 1 if issue["duplicate_of"] in found else None
            ranks.append(rank)
            per_original[issue["duplicate_of"]].append(rank)
        pool.close()

    def recall(values, k):
        return sum(1 for r in values if r is not None and r <= k) / len(values)

    macro5 = sum(recall(v, 5) for v in per_original.values()) / len(per_original)
    print("## 6. Duplicate recall (evaluation set)\n")
    print(
        f"`{FIXTURE.relative_to(ROOT)}`: {len(issues)} real issues of {repository}, {len(ranks)} marked duplicates "
        f"of {len(per_original)} originals. Offline hashing embedder, hybrid search, labels hidden.\n"
    )
    print("| recall@1 | recall@5 | recall@10 | recall@5 averaged per original |")
    print("|---:|---:|---:|---:|")
    print(f"| {recall(ranks, 1):.0%} | {recall(ranks, 5):.0%} | {recall(ranks, 10):.0%} | {macro5:.0%} |")
    print(
        f"\n- rank of the original per duplicate (none: not in the first 10): "
        f"{', '.join(str(r) if r else 'none' for r in ranks)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
