"""Learning from feedback: what reviewers thought of Petrel's comments, kept per repository.

A 👎 on a Petrel review comment, or its thread resolved with no code change since, is
negative feedback; a 👍, or a thread resolved after a change, is positive. Only Petrel's own
comments (by its login) and only people with write permission or more count: feedback
steers the whole repository, so nobody else may give it (shared/github/identity.py). Both are stored
in long-term memory (kind `feedback`, the finding's words as text). Before a review posts,
findings that closely match negative feedback of the same repository are dropped and
counted in the review body.
"""

from __future__ import annotations

import re

from shared.github import markers
from shared.memory.store import Document, Memory

SIMILAR = 0.8  # cosine similarity at which a new finding repeats a rejected one


def finding_text(body: str) -> str:
    """A finding's words, without severity, suggestion block or marker."""
    text = markers.strip(body or "")
    text = re.sub(r"```suggestion.*?```", "", text, flags=re.DOTALL)
    return re.sub(r"^\*\*\w+\*\*:\s*", "", text.strip()).strip()


class Feedback:
    """People's verdicts on Petrel's comments in one repository, kept in memory so rejected findings stay unsaid."""

    def __init__(self, memory: Memory, repository: str, installation_id: int | None = None):
        self.memory = memory
        self.repository = repository
        self.installation_id = installation_id

    def record(self, comment_id: int, verdict: str, body: str, path: str | None = None) -> None:
        """Store (or update) the verdict on one Petrel comment: 'negative' or 'positive'."""
        text = finding_text(body)
        if not text:
            return
        self.memory.replace(
            self.repository,
            "feedback",
            f"comment:{comment_id}",
            [
                Document(
                    self.repository,
                    "feedback",
                    f"comment:{comment_id}",
                    verdict,
                    text,
                    url=path,
                    installation_id=self.installation_id,
                )
            ],
        )

    def rejected(self, text: str) -> bool:
        """True when `text` closely matches a finding this repository gave negative feedback on."""
        hits = self.memory.nearest(self.repository, finding_text(text), 3, kinds=["feedback"])
        return any(hit["title"] == "negative" and (hit["similarity"] or 0) >= SIMILAR for hit in hits)
