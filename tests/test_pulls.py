"""GitHubPull's changed files, read from GitHub's files lists over HTTP (the fake GitHub).

The diff media type is refused (406) for big pull requests, so the files come from the
paginated files list; for an ordinary pull request they must be the very files and hunks
the diff gives, and paths must be GitHub's own, whatever the patch text says.
"""

from __future__ import annotations

import pytest
from fakes.github import FakeGitHub
from github import Auth, Github
from test_fake_github import BASE_SHA, DIFF, HEAD_SHA, NEW_HEAD, SECOND_DIFF
from test_pr_functions import world  # noqa: F401 - the fixture
from test_review_followup import fixed, opened_with_a_finding, reply_posts

from shared import diff
from shared.github.pulls import NO_PATCH, UNREADABLE_PATCH, GitHubPull, file_from_github

REPO = "octo-org/widgets"
TOKEN = "ghp_" + "p" * 36


@pytest.fixture
def github():
    fake = FakeGitHub().start()
    fake.add_repo(REPO)
    fake.add_token(TOKEN, repos=[REPO])
    yield fake
    fake.stop()


def pull(fake: FakeGitHub, number: int = 1) -> GitHubPull:
    return GitHubPull(Github(base_url=fake.url, auth=Auth.Token(TOKEN), retry=None), REPO, number)


def test_the_files_list_gives_the_same_files_and_hunks_as_the_diff(github):
    github.add_pull(REPO, 1, diff=DIFF, base_sha=BASE_SHA, head_sha=HEAD_SHA)
    changes = pull(github).changes()
    expected = diff.parse(DIFF)
    assert changes.unlisted == 0
    assert [(f.path, f.old_path, f.status) for f in changes.files] == [(f.path, f.old_path, f.status) for f in expected]
    assert [f.hunks for f in changes.files] == [f.hunks for f in expected]
    # the binary logo.png has no patch: GitHub's files list does not say why
    assert [f.path for f in changes.files if f.no_patch] == ["logo.png"] and changes.files[2].no_patch == NO_PATCH


def test_paths_are_githubs_own_even_where_git_quotes_them(github):
    quoted = (
        'diff --git "a/caf\\303\\251 menu.py" "b/caf\\303\\251 menu.py"\nindex 1111111..2222222 100644\n'
        '--- "a/caf\\303\\251 menu.py"\n+++ "b/caf\\303\\251 menu.py"\n@@ -1 +1 @@\n-a = 1\n+a = 2\n'
    )
    github.add_pull(REPO, 1, diff=quoted, base_sha=BASE_SHA, head_sha=HEAD_SHA)
    [file] = pull(github).changes().files
    assert file.path == "café menu.py" and file.commentable() == {1}


def test_a_patch_that_does_not_parse_is_listed_not_fatal():
    entry = {
        "filename": "a.py",
        "status": "modified",
        "additions": 5,
        "deletions": 0,
        "changes": 5,
        "patch": "@@ -1,1 +1,5 @@\n+only one line of five",
    }
    file = file_from_github(entry)
    assert (file.no_patch, file.hunks, file.added) == (UNREADABLE_PATCH, (), 5)
    # a patch cannot smuggle in a second file
    entry["patch"] = "@@ -1 +1 @@\n-a\n+b\n--- a/other.py\n+++ b/other.py\n@@ -1 +1 @@\n-c\n+d"
    assert file_from_github(entry).no_patch == UNREADABLE_PATCH


def test_a_file_without_patch_keeps_githubs_counts_and_says_why():
    big = file_from_github(
        {"filename": "big.sql", "status": "added", "additions": 30_000, "deletions": 0, "changes": 30_000}
    )
    assert (big.no_patch, big.added, big.removed, big.changed) == (NO_PATCH, 30_000, 0, 30_000)
    moved = file_from_github(
        {
            "filename": "b.py",
            "previous_filename": "a.py",
            "status": "renamed",
            "additions": 0,
            "deletions": 0,
            "changes": 0,
        }
    )
    assert (moved.no_patch, moved.old_path) == ("", "a.py")


def test_changes_since_reads_the_comparison_and_falls_back_when_it_cannot(github):
    github.add_pull(REPO, 1, diff=SECOND_DIFF, base_sha=BASE_SHA, head_sha=NEW_HEAD)
    github.add_compare(REPO, HEAD_SHA, NEW_HEAD, diff=SECOND_DIFF)
    [since] = pull(github).changes_since(HEAD_SHA)
    assert since.path == "src/app.py" and diff.changed_new_lines(since) == {41}
    assert pull(github).changes_since("d" * 40) is None  # gone: a force-push
    github.fail("GET", r"/compare/", 406, body={"message": "Sorry, this diff is too large", "status": "406"})
    assert pull(github).changes_since(HEAD_SHA) is None
    many = "".join(
        f"diff --git a/f{n}.py b/f{n}.py\nnew file mode 100644\nindex 0000000..1111111\n"
        f"--- /dev/null\n+++ b/f{n}.py\n@@ -0,0 +1 @@\n+x = {n}\n"
        for n in range(301)
    )
    github.add_compare(REPO, BASE_SHA, NEW_HEAD, diff=many)  # GitHub lists 300 of its 301 files
    assert pull(github).changes_since(BASE_SHA) is None


def test_a_synchronize_review_with_a_follow_up_reads_the_comparison_once(world):  # noqa: F811
    # the review (plan.py) and the follow-up of its threads (followup.py) both ask for the files
    # changed since the last reviewed head: GitHubPull reads the comparison once
    opened_with_a_finding(world)
    world.push({"app/service.py": fixed()})
    world.deliver("synchronize")
    assert len(reply_posts(world)) == 1  # the follow-up ran: the fixed thread got its reply
    assert len([r for r in world.github.requests if r.method == "GET" and "/compare/" in r.path]) == 1
