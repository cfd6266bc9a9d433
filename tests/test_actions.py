"""The action executor against the fake GitHub: every action idempotent, labels never invented."""

from __future__ import annotations

import logging

import pytest
from fakes.github import FakeGitHub
from github import Auth, Github

from shared.github import actions, checks, markers

REPO = "octo-org/app"
TOKEN = "ghp_" + "e" * 36
HEAD = "f" * 40


@pytest.fixture
def fake():
    github = FakeGitHub().start()
    github.add_repo(REPO, labels=("bug", "Enhancement", "duplicate"))
    github.add_issue(REPO, 1)
    github.add_issue(REPO, 2, pull_request=True, head_sha=HEAD)
    github.add_token(TOKEN, login="petrel-bot", repos=[REPO])
    yield github
    github.stop()


@pytest.fixture
def client(fake):
    return Github(
        base_url=fake.url,
        auth=Auth.Token(TOKEN),
        retry=None,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )


def writes(fake) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in fake.requests if r.method != "GET"]


def test_upsert_creates_then_edits_then_leaves_alone(fake, client):
    actions.execute([actions.UpsertComment(REPO, 1, "summary", "v1")], client)
    actions.execute([actions.UpsertComment(REPO, 1, "summary", "v2")], client)
    actions.execute([actions.UpsertComment(REPO, 1, "summary", "v2")], client)
    [comment] = fake.comments(REPO, 1)
    assert comment["body"] == "<!-- petrel:summary -->\nv2"
    assert [m for m, _ in writes(fake)] == ["POST", "PATCH"]


def test_upsert_finds_its_comment_among_many_pages(fake, client):
    for n in range(130):
        fake.add_comment(REPO, 1, f"chatter {n}")
    actions.execute([actions.UpsertComment(REPO, 1, "late", "first")], client)
    outcome = actions.execute([actions.UpsertComment(REPO, 1, "late", "first")], client)
    assert outcome[0].startswith("unchanged comment")
    assert len(fake.comments(REPO, 1)) == 131


def test_markers_in_a_comment_body_are_taken_out_before_petrels_own(fake, client):
    forged = "An answer <!-- petrel:addressed:5 --> with <!--petrel:finding:abcdef123456--> markers"
    actions.execute([actions.UpsertComment(REPO, 1, "ask:1", forged)], client)
    [comment] = fake.comments(REPO, 1)
    assert comment["body"] == "<!-- petrel:ask:1 -->\nAn answer  with  markers"


def test_a_quoted_marker_is_not_mistaken_for_petrels_comment(fake, client):
    fake.add_comment(REPO, 1, "> <!-- petrel:help -->\n> the help text")
    actions.execute([actions.UpsertComment(REPO, 1, "help", "the help text")], client)
    assert len(fake.comments(REPO, 1)) == 2


def test_overlong_body_is_truncated_to_what_github_accepts(fake, client):
    actions.execute([actions.UpsertComment(REPO, 1, "big", "x" * 70_000)], client)
    [comment] = fake.comments(REPO, 1)
    assert len(comment["body"]) <= actions.MAX_COMMENT_CHARS and comment["body"].endswith("_(truncated by Petrel)_")


def test_labels_are_only_chosen_among_existing_ones(fake, client, caplog):
    with caplog.at_level(logging.WARNING):
        actions.execute([actions.AddLabels(REPO, 1, ("enhancement", "security", "bug"))], client)
    assert sorted(fake.labels_on(REPO, 1)) == ["Enhancement", "bug"]  # the repository's own spelling
    assert any("security" in r.getMessage() for r in caplog.records)
    before = len(writes(fake))
    actions.execute([actions.AddLabels(REPO, 1, ("wontfix",))], client)
    assert len(writes(fake)) == before  # nothing existing to add: no request at all


def test_review_is_a_comment_review_posted_once_per_key(fake, client):
    review = actions.PostReview(
        REPO, 2, HEAD, f"review:{HEAD}", "Looks fine.", (actions.ReviewComment("src/app.py", 3, "nit"),)
    )
    actions.execute([review], client)
    actions.execute([review], client)
    [posted] = fake.reviews(REPO, 2)
    assert posted["state"] == "COMMENTED"
    assert posted["body"].startswith(f"<!-- petrel:review:{HEAD} -->")
    assert [(c["path"], c["line"]) for c in posted["comments"]] == [("src/app.py", 3)]
    assert [r.json["event"] for r in fake.requests if r.method == "POST"] == ["COMMENT"]


def test_reaction_repeated_is_still_one_reaction(fake, client):
    comment = fake.add_comment(REPO, 1, "/help")
    react = actions.React(REPO, comment["id"], "eyes")
    actions.execute([react, react], client)
    assert [r["content"] for r in fake.reactions(REPO, comment["id"])] == ["eyes"]


def test_unknown_reaction_cannot_be_planned():
    with pytest.raises(ValueError):
        actions.React(REPO, 1, "thumbsup")


def test_no_action_can_approve_merge_close_or_push():
    kinds = {cls.__name__ for cls in actions._APPLY}
    assert kinds == {
        "UpsertComment",
        "React",
        "AddLabels",
        "PostReview",
        "UpdateDescription",
        "ReplyInThread",
        "SetCheck",  # the "Petrel review" check run: it can fail a required check, never approve or merge
    }
    assert not hasattr(actions.PostReview, "event")  # the review event is always COMMENT
    with pytest.raises(ValueError):  # no conclusion but those a review gives (never e.g. action_required)
        checks.SetCheck(REPO, 1, "a" * 40, "check", "completed", "action_required", "t")


def test_dry_run_sends_nothing_and_describes_each_action(caplog):
    plan = [actions.UpsertComment(REPO, 1, "help", "hi"), actions.AddLabels(REPO, 1, ("bug",))]
    with caplog.at_level(logging.INFO):
        assert actions.dry_run(plan) == ["dry-run", "dry-run"]
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [f"dry-run, not sent: {a.describe()}" for a in plan]


def test_reaction_on_a_deleted_comment_does_not_stop_the_plan(fake, client):
    outcomes = actions.execute(
        [actions.React(REPO, 999999, "eyes"), actions.UpsertComment(REPO, 1, "k", "still")], client
    )
    assert outcomes[0] == "comment no longer exists: no reaction"
    assert [c["body"] for c in fake.comments(REPO, 1)] == ["<!-- petrel:k -->\nstill"]


# --- only what Petrel wrote counts (shared/github/identity.py) --------------------------------------

MALLORY = "ghp_" + "m" * 36


def mallory(fake) -> Github:
    """Anyone at all: on a public repository, whoever can comment."""
    fake.add_token(MALLORY, login="mallory", repos=[REPO])
    return Github(base_url=fake.url, auth=Auth.Token(MALLORY), retry=None)


@pytest.mark.parametrize("key", ["summary", "help", "triage"])
def test_a_comment_carrying_petrels_marker_is_neither_edited_nor_taken_for_petrels(fake, client, key):
    forged = fake.add_comment(REPO, 1, f"<!-- petrel:{key} -->\nmallory's words", user="mallory")
    [outcome] = actions.execute([actions.UpsertComment(REPO, 1, key, "Petrel's words")], client)
    assert outcome.startswith("created comment")
    mine = [c for c in fake.comments(REPO, 1) if c["user"]["login"] == "petrel-bot"]
    assert [c["body"] for c in mine] == [f"<!-- petrel:{key} -->\nPetrel's words"]
    assert fake.comments(REPO, 1)[0] == forged  # untouched
    actions.execute([actions.UpsertComment(REPO, 1, key, "Petrel's words")], client)  # a rerun finds its own
    assert len(fake.comments(REPO, 1)) == 2 and fake.foreign_writes == []


def test_a_review_carrying_petrels_review_marker_does_not_stop_petrels_review(fake, client):
    mallory(fake).requester.requestJsonAndCheck(
        "POST",
        f"/repos/{REPO}/pulls/2/reviews",
        input={"commit_id": HEAD, "body": f"<!-- petrel:review:{HEAD} -->\nNothing to see here.", "event": "COMMENT"},
    )
    review = actions.PostReview(REPO, 2, HEAD, f"review:{HEAD}", "Petrel's review.")
    assert actions.execute([review], client)[0].startswith("posted review")
    assert actions.execute([review], client)[0].endswith("already posted")  # its own is found the next time
    assert [r["user"]["login"] for r in fake.reviews(REPO, 2)] == ["mallory", "petrel-bot"]


def test_a_review_comment_carrying_petrels_reply_marker_does_not_stop_the_reply(fake, client):
    _, review = mallory(fake).requester.requestJsonAndCheck(
        "POST",
        f"/repos/{REPO}/pulls/2/reviews",
        input={
            "commit_id": HEAD,
            "body": "",
            "event": "COMMENT",
            "comments": [{"path": "a.py", "line": 1, "body": "<!-- petrel:reply:5 -->\nforged answer"}],
        },
    )
    [question] = fake.reviews(REPO, 2)[0]["comments"]
    [outcome] = actions.execute([actions.ReplyInThread(REPO, 2, question["id"], "reply:5", "the answer")], client)
    assert outcome.startswith("replied")


def test_without_a_login_the_executor_asks_github_whose_token_it_is(fake, client):
    actions.execute(
        [actions.UpsertComment(REPO, 1, "summary", "v1"), actions.UpsertComment(REPO, 1, "help", "h")], client
    )
    assert [r.path for r in fake.requests if r.path == "/user"] == ["/user"]  # once per plan
    before = len(fake.requests)
    actions.execute([actions.UpsertComment(REPO, 1, "summary", "v1")], client, me="petrel-bot")
    assert "/user" not in [r.path for r in fake.requests[before:]]


# --- the description's section (summary.edit_description) ----------------------------------

START, END = markers.make("description"), markers.closing("description")


@pytest.mark.parametrize(
    "current, expected",
    [
        ("", f"{START}\nnew\n{END}"),
        ("Author.", f"Author.\n\n{START}\nnew\n{END}"),
        (f"Author.\n\n{START}\nold\n{END}\n\nMore.", f"Author.\n\n{START}\nnew\n{END}\n\nMore."),
        # an end before the start: the stray end is the author's text, the pair after it is the section
        (f"A {END} B {START}\nold\n{END} C", f"A {END} B {START}\nnew\n{END} C"),
        # only an end: nothing is Petrel's, the section is added
        (f"A {END} B", f"A {END} B\n\n{START}\nnew\n{END}"),
        # a start without end: nothing is Petrel's; the text after it is kept
        (f"A {START} B", f"A {START} B\n\n{START}\nnew\n{END}"),
        # two starts: the section is the last start before the end; the text after the first is kept
        (f"A {START} B {START}\nold\n{END} C", f"A {START} B {START}\nnew\n{END} C"),
        # two sections: one is left, the author's text between them stays
        (f"A {START}\nold\n{END} B {START}\nold too\n{END} C", f"A {START}\nnew\n{END} B  C"),
    ],
)
def test_the_description_section_is_written_once_whatever_the_markers(current, expected):
    updated = actions.description_with_section(current, "description", "new")
    assert updated == expected
    assert actions.description_with_section(updated, "description", "new") == updated  # a second run: no change
    assert updated.count(f"{START}\nnew\n{END}") == 1


def test_markers_in_the_text_cannot_break_the_section():
    text = f"first {END} second {START} third"
    once = actions.description_with_section("Author.", "description", text)
    assert once == f"Author.\n\n{START}\nfirst  second  third\n{END}"
    assert actions.description_with_section(once, "description", text) == once


def test_updating_the_description_twice_writes_once(fake, client):
    client.requester.requestJsonAndCheck(
        "PATCH", f"/repos/{REPO}/pulls/2", input={"body": f"Author's words. {END} more {START} and {START}\nold\n{END}"}
    )
    update = actions.UpdateDescription(REPO, 2, "description", "The summary.")
    assert actions.execute([update, update], client) == ["description updated", "description unchanged"]
    assert fake.issue(REPO, 2)["body"] == f"Author's words. {END} more {START} and {START}\nThe summary.\n{END}"
