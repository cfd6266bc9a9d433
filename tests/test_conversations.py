"""Short-term memory: turns kept once per delivery, summarized past the budget, never expiring."""

from __future__ import annotations

import pytest

from shared.memory.conversations import Conversations
from shared.runtime.db import make_pool


@pytest.fixture
def conversations(clean_db):
    pool = make_pool(clean_db)
    yield Conversations(pool)
    pool.close()


def words(text: str) -> int:
    return len(text.split())


def test_turns_in_order_and_a_redelivery_adds_nothing(conversations):
    conversations.add("o/r", 1, "", "user", "first question", "alice", "d1")
    conversations.add("o/r", 1, "", "assistant", "first answer", "petrel", "d1")
    conversations.add("o/r", 1, "", "user", "first question", "alice", "d1")  # redelivered
    conversations.add("o/r", 2, "", "user", "another thread", "bob", "d2")
    assert conversations.history("o/r", 1, "", 1000, words) == [
        {"role": "user", "content": "alice: first question"},
        {"role": "assistant", "content": "first answer"},
    ]


def test_the_current_delivery_is_not_its_own_history(conversations):
    conversations.add("o/r", 1, "", "user", "earlier", "alice", "d1")
    conversations.add("o/r", 1, "", "user", "now", "alice", "d2")
    assert [m["content"] for m in conversations.history("o/r", 1, "", 1000, words, before_delivery="d2")] == [
        "alice: earlier"
    ]


def test_older_turns_are_summarized_once_past_the_budget(conversations):
    for n in range(6):
        conversations.add("o/r", 1, "", "user", f"question {n} " + "word " * 20, "alice", f"q{n}")
        conversations.add("o/r", 1, "", "assistant", f"answer {n} " + "word " * 20, "petrel", f"q{n}")
    asked = []

    def summarize(text):
        asked.append(text)
        return "They asked six questions."

    history = conversations.history("o/r", 1, "", 80, words, summarize)
    assert history[0] == {"role": "user", "content": "(Summary of the earlier conversation) They asked six questions."}
    assert history[-1]["content"].startswith("answer 5")
    assert "question 0" in asked[0] and "answer 5" not in asked[0]
    again = conversations.history("o/r", 1, "", 80, words, summarize)
    assert again == history and len(asked) == 1  # the summary is stored: nothing summarized twice


def test_review_threads_are_separate_conversations(conversations):
    conversations.add("o/r", 1, "", "user", "on the pull request", "alice", "d1")
    conversations.add("o/r", 1, "777", "user", "in a review thread", "alice", "d2")
    assert [m["content"] for m in conversations.history("o/r", 1, "777", 1000, words)] == ["alice: in a review thread"]
