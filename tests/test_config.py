"""Per-repository configuration: lookup, `_extends`, strict validation, safe YAML, the sha cache, path globs."""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import re
import textwrap

import pytest
import yaml

from shared.repo_config import load as config
from shared.repo_config.load import load
from shared.repo_config.parse import EXTENDS_FORM, from_dict, parse
from shared.repo_config.paths import DEFAULT_GROUPS, glob_regex, matches, path_excluded
from shared.repo_config.schema import (
    CONFIG_PATH,
    DEFAULTS,
    Config,
    ConfigError,
    ModelsConfig,
    PathsConfig,
    ReviewConfig,
    SummaryConfig,
    TriageConfig,
)

REPO = "octo-org/app"


class FakeRepos:
    """A test double of GitHub's read of a file on a repository's default branch."""

    def __init__(self):
        self.files: dict[tuple[str, str], tuple[str, str]] = {}
        self.calls: list[tuple[str, str]] = []

    def put(self, repository: str, text: str, path: str = CONFIG_PATH, sha: str | None = None) -> str:
        sha = sha or hashlib.sha1(f"blob {len(text)}\0{text}".encode()).hexdigest()
        self.files[(repository.lower(), path)] = (text, sha)
        return sha

    def __call__(self, repository: str, path: str):
        self.calls.append((repository, path))
        return self.files.get((repository.lower(), path))


@pytest.fixture(autouse=True)
def fresh_cache():
    config.cache_clear()
    yield
    config.cache_clear()


@pytest.fixture
def repos():
    return FakeRepos()


def loaded(text: str, repos: FakeRepos | None = None):
    repos = repos or FakeRepos()
    repos.put(REPO, text)
    return load(repos, REPO)


def broken(text: str) -> str:
    """The error line of a file that must be refused (and must leave the defaults in force),
    without the file's name it starts with."""
    result = loaded(text)
    assert result.error is not None, f"accepted: {text!r}"
    assert result.config == DEFAULTS and "\n" not in result.error
    assert result.error.startswith(f"{REPO}:{CONFIG_PATH}: ")
    return result.error.removeprefix(f"{REPO}:{CONFIG_PATH}: ")


# --- where the file is looked for -----------------------------------------------------------


def test_no_file_anywhere_gives_the_defaults_without_error(repos):
    result = load(repos, REPO)
    assert result == config.LoadedConfig(DEFAULTS, None, None, None)
    assert repos.calls == [(REPO, CONFIG_PATH), ("octo-org/.github", CONFIG_PATH)]
    assert DEFAULTS.review.max_comments == 20 and DEFAULTS.daily_token_budget == 500_000


def test_the_owners_dot_github_repository_is_the_fallback(repos):
    sha = repos.put("octo-org/.github", "language: French\n")
    result = load(repos, REPO)
    assert (result.config.language, result.source, result.error, result.sha) == (
        "French",
        "octo-org/.github:.github/petrel.yml",
        None,
        sha,
    )


def test_the_repositorys_own_file_wins_over_the_owners(repos):
    repos.put("octo-org/.github", "language: French\n")
    own = repos.put(REPO, "review:\n  drafts: true\n")
    result = load(repos, REPO)
    assert result.config.language == "English" and result.config.review.drafts is True
    assert result.source == f"{REPO}:{CONFIG_PATH}" and result.sha == own
    assert ("octo-org/.github", CONFIG_PATH) not in repos.calls


def test_the_dot_github_repository_itself_is_not_read_twice(repos):
    load(repos, "octo-org/.github")
    assert repos.calls == [("octo-org/.github", CONFIG_PATH)]


def test_a_full_file_is_read_into_the_dataclasses():
    result = loaded(
        textwrap.dedent("""\
        review:
          auto: false
          drafts: yes
          max_comments: 0
          min_severity: Major
          instructions: |
            Prefer small functions.
          skip_labels: [wip, "do not review"]
          incremental: false
          concurrency: 16
        summary: {auto: false, edit_description: true}
        triage: {auto: false}
        paths: {include: ["src/**"], exclude: ["**/*_test.go"], default_excludes: false}
        models: {review: big-model, light: small-model}
        language: Português
        daily_token_budget: null
        """)
    )
    assert result.error is None
    assert result.config == Config(
        review=ReviewConfig(
            auto=False,
            drafts=True,
            max_comments=0,
            min_severity="major",
            instructions="Prefer small functions.\n",
            skip_labels=("wip", "do not review"),
            incremental=False,
            concurrency=16,
        ),
        summary=SummaryConfig(auto=False, edit_description=True),
        triage=TriageConfig(auto=False),
        paths=PathsConfig(include=("src/**",), exclude=("**/*_test.go",), default_excludes=False),
        models=ModelsConfig(review="big-model", light="small-model"),
        language="Português",
        daily_token_budget=None,
    )


# --- _extends --------------------------------------------------------------------------------

BASE = """\
review:
  max_comments: 5
  drafts: true
  skip_labels: [a, b]
models:
  light: cheap
language: French
"""
OVER = """\
review:
  max_comments: 9
  skip_labels: c
daily_token_budget: 1000
"""


@pytest.mark.parametrize(
    "extends,where",
    [
        ("base", "octo-org/base:.github/petrel.yml"),
        ("shared:configs/petrel.yml", "octo-org/shared:configs/petrel.yml"),
        ("octo-org/shared", "octo-org/shared:.github/petrel.yml"),
        ("octo-org/shared:configs/petrel.yml", "octo-org/shared:configs/petrel.yml"),
        ("Octo-Org/shared:configs/petrel.yaml", "Octo-Org/shared:configs/petrel.yaml"),  # owners ignore case
    ],
)
def test_extends_in_all_forms_deep_merges(repos, extends, where):
    repository, path = where.split(":")
    repos.put(repository, BASE, path=path)
    own = repos.put(REPO, f"_extends: {extends}\n" + OVER)
    result = load(repos, REPO)
    assert result.error is None
    assert result.source == f"{REPO}:.github/petrel.yml <- {where}"
    assert result.sha == own
    review = result.config.review
    assert (review.max_comments, review.drafts, review.skip_labels) == (9, True, ("c",))  # kept, merged, replaced
    assert result.config.models.light == "cheap" and result.config.language == "French"
    assert result.config.daily_token_budget == 1000 and review.concurrency == 4  # untouched default


def test_a_chain_of_three_hops_applies_in_order_and_a_fourth_is_refused(repos):
    repos.put("octo-org/c", "language: C\nreview: {concurrency: 3}\n")
    repos.put("octo-org/b", "_extends: c\nlanguage: B\nreview: {drafts: true}\n")
    repos.put("octo-org/a", "_extends: b\nreview: {max_comments: 1}\n")
    repos.put(REPO, "_extends: a\nreview: {max_comments: 2}\n")
    result = load(repos, REPO)
    assert result.error is None
    assert result.source.count(" <- ") == 3
    assert (
        result.config.language,
        result.config.review.concurrency,
        result.config.review.drafts,
        result.config.review.max_comments,
    ) == ("B", 3, True, 2)

    repos.put("octo-org/c", "_extends: d\n")
    repos.put("octo-org/d", "language: D\n")
    result = load(repos, REPO)
    assert result.config == DEFAULTS
    assert "more than 3 files extended" in result.error and "octo-org/d:.github/petrel.yml" in result.error


def test_an_extends_cycle_is_an_error(repos):
    repos.put(REPO, "_extends: base\nlanguage: French\n")
    repos.put("octo-org/base", "_extends: octo-org/app\n")
    result = load(repos, REPO)
    assert result.config == DEFAULTS
    assert "cycle" in result.error
    assert "octo-org/app:.github/petrel.yml -> octo-org/base:.github/petrel.yml -> octo-org/app" in result.error


def test_a_file_extending_itself_is_a_cycle(repos):
    repos.put(REPO, "_extends: app\n")
    assert "cycle" in load(repos, REPO).error


def test_extends_naming_a_missing_file_is_an_error_naming_it(repos):
    repos.put(REPO, "_extends: octo-org/nope:conf/petrel.yml\nlanguage: French\n")
    result = load(repos, REPO)
    assert result.config == DEFAULTS
    assert result.error == (
        f"{REPO}:{CONFIG_PATH}: _extends: octo-org/nope:conf/petrel.yml does not exist (or Petrel cannot read it)"
    )


def test_an_error_in_an_extended_file_names_that_file(repos):
    repos.put("octo-org/base", "review:\n  max_comments: lots\n")
    repos.put(REPO, "_extends: base\n")
    result = load(repos, REPO)
    assert result.config == DEFAULTS
    assert result.error == (
        "octo-org/base:.github/petrel.yml: review.max_comments: expected a whole number from 0 to 200, got text"
    )
    assert result.source == f"{REPO}:{CONFIG_PATH} <- octo-org/base:.github/petrel.yml"


@pytest.mark.parametrize("value", ["'a b'", "'../x'", "'octo-org/r:../secret.yml'", "[a]", "'o/r/s'", "''"])
def test_a_malformed_extends_is_an_error(value):
    assert broken(f"_extends: {value}\n").startswith("_extends: ")


# --- trust: `_extends` stays with the owner; errors never quote a file -------------------------

SECRET = "AKIAIOSFODNN7SECRET42"


@pytest.mark.parametrize("extends", ["other-org/vault", "other-org/vault:creds.yml", "OTHER-ORG/vault:creds.yaml"])
def test_extends_naming_another_owner_is_refused_before_anything_is_read(repos, extends):
    repos.put("other-org/vault", "language: French\n", path="creds.yml")
    repos.put("other-org/vault", "language: French\n")
    repos.put(REPO, f"_extends: {extends}\nreview: {{drafts: true}}\n")
    result = load(repos, REPO)
    target = extends.split(":")[0]
    assert result.error == (
        f"{REPO}:{CONFIG_PATH}: _extends names {target}: only repositories of octo-org may be extended"
    )
    assert result.config == DEFAULTS
    assert repos.calls == [(REPO, CONFIG_PATH)]  # the other owner's repository was never asked for


def test_a_chain_cannot_leave_the_owner_either(repos):
    repos.put("octo-org/base", "_extends: other-org/vault:creds.yml\nlanguage: German\n")
    repos.put("octo-org/.github", "_extends: base\n")
    result = load(repos, REPO)  # the owner's shared file, then its base: both octo-org's, then another owner's
    assert result.error == (
        "octo-org/base:.github/petrel.yml: _extends names other-org/vault: only repositories of "
        "octo-org may be extended"
    )
    assert result.source == "octo-org/.github:.github/petrel.yml <- octo-org/base:.github/petrel.yml"
    assert not [call for call in repos.calls if call[0].lower().startswith("other-org/")]


@pytest.mark.parametrize(
    "extends,error",
    [
        ("base:../x.yml", config.EXTENDS_PATH),
        ("base:configs/../../x.yml", config.EXTENDS_PATH),
        ("base:/etc/petrel.yml", config.EXTENDS_PATH),
        ("base://evil.example/petrel.yml", EXTENDS_FORM + ", not a URL"),
        ("base:a//petrel.yml", config.EXTENDS_PATH),
        ("base:./petrel.yml", config.EXTENDS_PATH),
        ("base:a\\petrel.yml", config.EXTENDS_PATH),
        ("base:petrel.yml?ref=evil", config.EXTENDS_PATH),
        ("base:%2e%2e/petrel.yml", config.EXTENDS_PATH),
        ("base:my petrel.yml", config.EXTENDS_PATH),
        ("base:.env", config.EXTENDS_YAML),
        ("base:credentials.json", config.EXTENDS_YAML),
        ("base:.github", config.EXTENDS_YAML),
        ("https://github.com/octo-org/base", EXTENDS_FORM + ", not a URL"),
        ("git@github.com:octo-org/base.git", EXTENDS_FORM + ", not a URL"),
        ("../base", EXTENDS_FORM),
        ("..", EXTENDS_FORM),
        ("octo-org/base/extra", EXTENDS_FORM),
    ],
)
def test_extends_paths_stay_inside_a_repository_and_name_a_yaml_file(repos, extends, error):
    repos.put(REPO, f"_extends: {json.dumps(extends)}\n")
    result = load(repos, REPO)
    assert result.error == f"{REPO}:{CONFIG_PATH}: {error}"
    assert repos.calls == [(REPO, CONFIG_PATH)]


HOSTILE = [  # a file that is not a Petrel config, with the secret in every place an error could quote
    f"aws_secret_access_key: {SECRET}\n",
    f"{SECRET}: value\n",
    f"review:\n  {SECRET}: 1\n",
    f"review:\n  max_comments: {SECRET}\n",
    f"review:\n  max_comments: '{SECRET}'\n",
    f"review:\n  min_severity: {SECRET}\n",
    f"review: {SECRET}\n",
    f"language: [{SECRET}]\n",
    f'language: "{SECRET}\\n2"\n',
    f"{SECRET}\n",
    f"password = {SECRET}\n",
    f"- {SECRET}\n",
    f"token: !{SECRET} x\n",
    f"token: !!python/name:{SECRET} x\n",
    f"token: !{SECRET}!x y\n",
    f"key: &{SECRET} x\n",
    f"key: *{SECRET}\n",
    f"a: b: {SECRET}\n",
    f'key: "{SECRET}\\q"\n',
    f'key: "{SECRET}\n',
    f"key: '{SECRET}\n",
    f"key: [{SECRET}\n",
    f"key: {{{SECRET}\n",
    f"key: v\n\t{SECRET}: 1\n",
    f"key: |\n  {SECRET}\n bad: 1\n",
    f"@{SECRET}\n",
    f"`{SECRET}`\n",
    f"%{SECRET}\n---\nk: v\n",
    f"%TAG !{SECRET}! tag:x,2000:\n---\nk: v\n",
    f"k: v\n---\n{SECRET}: 1\n",
    f"{SECRET}: 1\n{SECRET}: 2\n",
    f"language: {SECRET}\x07\n",
    f"? [{SECRET}]\n: b\n",
    f"daily_token_budget: 9{'9' * 5000}\n{SECRET}: 1\n",
    f"language: 2024-13-01\n{SECRET}: 1\n",
    f"review:\n  max_comments: 2024-01-01\n  {SECRET}: 1\n",
    f"paths:\n  exclude: ['[z-a{SECRET}]']\n",
    f"paths:\n  include: [{SECRET}, 3]\n",
    f"commands:\n  allowed: [OWNER, {SECRET}]\n",
    f"commands:\n  allowed: {SECRET}\n",
    f"triage:\n  label_mapping: {{{SECRET}: [1]}}\n",
    f"triage:\n  label_mapping: {{bug: '{SECRET}', x: 1}}\n",
    f"models:\n  review: '{SECRET} and more'\n",
    f"language: '{SECRET} is far too long for a language name'\n",
    f"_extends: '{SECRET} {SECRET}'\n",
    f"_extends: 'base:{SECRET}.txt'\n",
    f"_extends: 'base:../{SECRET}.yml'\n",
    f"_extends: [{SECRET}]\n",
]


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_no_error_quotes_a_file_even_one_of_the_same_owner_that_is_not_a_config(repos, text):
    repos.put("octo-org/vault", text, path="creds.yml")
    repos.put(REPO, "_extends: vault:creds.yml\n")
    result = load(repos, REPO)
    assert result.config == DEFAULTS
    assert result.error.startswith("octo-org/vault:creds.yml: "), result.error
    assert SECRET not in result.error and SECRET[4:12] not in result.error, result.error
    assert SECRET not in (result.source or "")
    assert "\n" not in result.error


def test_a_fetch_that_finds_no_file_there_is_a_config_error_naming_it(repos):
    def fetch(repository, path):
        repos.calls.append((repository, path))
        if (repository, path) == (REPO, CONFIG_PATH):
            raise config.UnreadableFile(config.NOT_A_FILE.format(what=config.DIRECTORY))
        if (repository, path) == ("octo-org/base", "link.yml"):
            raise config.UnreadableFile(config.NOT_A_FILE.format(what=config.SYMLINK), sha="c" * 40)
        return repos(repository, path)

    repos.put("octo-org/.github", "language: French\n")
    result = load(fetch, REPO)
    assert result == config.LoadedConfig(
        DEFAULTS, f"{REPO}:{CONFIG_PATH}", f"{REPO}:{CONFIG_PATH}: expected a file, found a directory", None
    )
    assert ("octo-org/.github", CONFIG_PATH) not in repos.calls  # something is there: no fallback

    result = load(fetch, "octo-org/other")  # the owner's shared file extends a symbolic link
    repos.put("octo-org/.github", "_extends: base:link.yml\n")
    result = load(fetch, "octo-org/other")
    assert (
        result.config == DEFAULTS and result.error == f"octo-org/base:link.yml: expected a file, found {config.SYMLINK}"
    )


# --- strict validation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,error",
    [
        ("reviw: {}\n", "unknown key at line 1, column 1 (did you mean 'review'?)"),
        ("review:\n  max_coments: 3\n", "review: unknown key at line 2, column 3 (did you mean 'max_comments'?)"),
        ("max_comments: 3\n", "unknown key at line 1, column 1 (did you mean 'review.max_comments'?)"),
        (
            "triage:\n  language: French\n",
            "triage: unknown key at line 2, column 3 (did you mean 'language' at the top level?)",
        ),
        (
            "language: x\nedit_description: true\n",
            "unknown key at line 2, column 1 (did you mean 'summary.edit_description'?)",
        ),
        (
            "auto: false\n",
            "unknown key at line 1, column 1 (did you mean 'review.auto' or 'summary.auto' or 'triage.auto'?)",
        ),
        (
            "colour: blue\n",
            "unknown key at line 1, column 1 (known keys: review, summary, triage, commands, memory, paths, models, "
            "language, daily_token_budget, _extends)",
        ),
    ],
)
def test_unknown_keys_are_refused_with_a_suggestion(text, error):
    assert broken(text) == error


@pytest.mark.parametrize(
    "text,error",
    [
        ("review:\n  max_comments: lots\n", "review.max_comments: expected a whole number from 0 to 200, got text"),
        (
            "review:\n  max_comments: 2.5\n",
            "review.max_comments: expected a whole number from 0 to 200, got a number with a fraction",
        ),
        (
            "review:\n  max_comments: true\n",
            "review.max_comments: expected a whole number from 0 to 200, got true/false",
        ),
        (
            "review:\n  max_comments: 2024-01-01\n",
            "review.max_comments: expected a whole number from 0 to 200, got a date",
        ),
        ("review:\n  auto: 1\n", "review.auto: expected true or false, got a whole number"),
        ("review:\n  auto: 'sometimes'\n", "review.auto: expected true or false, got text"),
        ("summary:\n  edit_description: 'true'\n", "summary.edit_description: expected true or false, got text"),
        (
            "review:\n  min_severity: huge\n",
            "review.min_severity: expected one of info, minor, major, critical, got other text",
        ),
        (
            "review:\n  skip_labels: {a: 1}\n",
            "review.skip_labels: expected a list of text (or one text), got a mapping",
        ),
        (
            "review:\n  skip_labels: [ok, 3]\n",
            "review.skip_labels[1]: expected text, got a whole number (put it in quotes)",
        ),
        ("paths:\n  include: [src, '']\n", "paths.include[1]: must not be empty"),
        (
            "paths:\n  exclude: '[z-a]'\n",
            "paths.exclude[0]: not a valid glob pattern (a character class like [a-z] must go from low to high)",
        ),
        (
            "paths:\n  exclude: '!keep.py'\n",
            "paths.exclude[0]: negation ('!') is not supported: list what to keep in paths.include",
        ),
        ("paths:\n  default_excludes: off-ish\n", "paths.default_excludes: expected true or false, got text"),
        ("review: true\n", "review: expected a mapping of keys (like 'review:' then indented keys), got true/false"),
        (
            "models:\n  review: 7\n",
            "models.review: expected a model name (text without spaces, up to 200 characters) or "
            "null, got a whole number",
        ),
        (
            "models:\n  light: 'two words'\n",
            "models.light: expected a model name (text without spaces, up to 200 characters) or null, got other text",
        ),
        (
            "language: no\n",
            "language: expected text, got true/false (put it in quotes: YAML reads yes/no/on/off as true/false)",
        ),
        ("language: ''\n", "language: must not be empty"),
        ('language: "Eng\\nlish"\n', "language: must be one line of printable text"),
        (
            "daily_token_budget: 0\n",
            "daily_token_budget: expected a positive whole number of tokens, or null for unlimited, got zero or less",
        ),
        (
            "daily_token_budget: '1000'\n",
            "daily_token_budget: expected a positive whole number of tokens, or null for unlimited, got text",
        ),
        (
            "triage:\n  related_threshold: 7\n",
            "triage.related_threshold: expected a number from 0 to 1, got one out of that range",
        ),
        (
            "commands:\n  allowed: [owner, maintainer]\n",
            "commands.allowed[1]: expected an author association: one of "
            "OWNER, MEMBER, COLLABORATOR, CONTRIBUTOR, FIRST_TIME_CONTRIBUTOR, "
            "FIRST_TIMER, NONE",
        ),
        (
            "triage:\n  label_mapping:\n    bug: 'type: bug'\n    x: [1]\n",
            "triage.label_mapping: entry 2 at line 4, column 5: expected text: text, got text: a list",
        ),
        ("review:\n  instructions: [a]\n", "review.instructions: expected text, got a list"),
    ],
)
def test_wrong_types_name_the_key_path_and_the_expected_type(text, error):
    assert broken(text) == error


@pytest.mark.parametrize(
    "key,good,bad",
    [
        ("review.max_comments", [0, 200], [-1, 201]),
        ("review.concurrency", [1, 16], [0, 17]),
    ],
)
def test_numbers_are_held_to_their_range(key, good, bad):
    section, name = key.split(".")
    for value in good:
        result = loaded(f"{section}:\n  {name}: {value}\n")
        assert result.error is None and getattr(result.config.review, name) == value
    for value in bad:
        assert broken(f"{section}:\n  {name}: {value}\n").startswith(f"{key}: expected a whole number from")


def test_text_lengths_are_limited():
    assert loaded(f"review:\n  instructions: '{'x' * 4000}'\n").config.review.instructions == "x" * 4000
    assert (
        broken(f"review:\n  instructions: '{'x' * 4001}'\n") == "review.instructions: at most 4000 characters, got 4001"
    )
    assert loaded(f"language: {'L' * 40}\n").config.language == "L" * 40
    assert broken(f"language: {'L' * 41}\n") == "language: at most 40 characters, got 41"


def test_a_single_string_is_a_one_item_list():
    result = loaded("review:\n  skip_labels: wip\npaths:\n  include: 'src/**'\n  exclude: '*.md'\n")
    assert result.error is None
    assert result.config.review.skip_labels == ("wip",)
    assert (result.config.paths.include, result.config.paths.exclude) == (("src/**",), ("*.md",))


def test_nulls_mean_empty_or_unlimited():
    result = loaded("review:\n  skip_labels: null\n  instructions:\nsummary:\ndaily_token_budget: ~\n")
    assert result.error is None
    assert result.config.review.skip_labels == () and result.config.review.instructions == ""
    assert result.config.summary == DEFAULTS.summary and result.config.daily_token_budget is None


# --- safe YAML --------------------------------------------------------------------------------

BILLION_LAUGHS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{','.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8)
)


def test_the_billion_laughs_document_is_refused_before_expanding():
    error = broken(BILLION_LAUGHS)
    assert error == "line 1, column 4: anchors and aliases (&name, *name) are not allowed: write the values out"


def test_an_alias_alone_is_refused_too():
    assert "anchors and aliases" in broken("language: *x\n")


def test_python_object_tags_are_refused_and_never_run(monkeypatch):
    ran = []
    monkeypatch.setattr(os, "system", lambda command: ran.append(command) or 0)
    error = broken("review:\n  instructions: !!python/object/apply:os.system ['touch /tmp/pwned']\n")
    assert error == "line 2, column 17: tags (like !!python/... or !custom) are not allowed"
    assert ran == []


@pytest.mark.parametrize(
    "text",
    [
        "language: !custom English\n",
        "language: ! English\n",
        "review: !!set {a, b}\n",
        "review: {instructions: !!binary aGVsbG8=}\n",
        "%TAG !! tag:evil.example,2000:\n---\nlanguage: !!str English\n",
    ],
)
def test_any_other_tag_is_refused(text):
    assert re.fullmatch(r"line \d+, column \d+: tags \(like !!python/\.\.\. or !custom\) are not allowed", broken(text))


def test_the_standard_tags_are_accepted():
    result = loaded("review:\n  skip_labels: !!seq [!!str 123]\n  max_comments: !!int '7'\n")
    assert result.error is None and result.config.review.skip_labels == ("123",)
    assert result.config.review.max_comments == 7


def test_merge_keys_and_duplicate_keys_are_refused():
    assert (
        broken("review:\n  <<: {drafts: true}\n")
        == "line 2, column 3: merge keys (<<) are not allowed: write the keys out"
    )
    assert (
        broken("review:\n  auto: true\n  auto: false\n")
        == "line 3, column 3: key 'auto' appears twice in the same mapping"
    )
    assert (
        broken("review:\n  autox: true\n  autox: false\n")
        == "line 3, column 3: a key appears twice in the same mapping"
    )


def test_a_yaml_syntax_error_names_its_line():
    error = broken("review:\n  auto: true\n  max_comments: [1\nlanguage: x\n")
    assert error.startswith("line 4, column 9: YAML error: expected ',' or ']'")
    assert "on line 3" in error
    assert broken("review:\n  auto: true\n drafts: false\n").startswith("line 3, column 2: YAML error: ")


def test_several_documents_are_refused():
    assert (
        broken("language: a\n---\nlanguage: b\n")
        == "line 2, column 1: YAML error: expected a single document in the stream, but found another document"
    )


@pytest.mark.parametrize("text,shown", [("- review\n", "a list"), ("just text\n", "text"), ("42\n", "a whole number")])
def test_the_top_level_must_be_a_mapping(text, shown):
    assert broken(text) == f"the top level must be a mapping of keys (like 'review:'), got {shown}"


@pytest.mark.parametrize("text", ["", "\n\n", "# only comments\n# review:\n#   auto: false\n", "---\n", "~\n"])
def test_an_empty_file_means_the_defaults(repos, text):
    sha = repos.put(REPO, text)
    result = load(repos, REPO)
    assert (result.config, result.error, result.sha, result.source) == (DEFAULTS, None, sha, f"{REPO}:{CONFIG_PATH}")


def test_large_and_deeply_nested_documents_are_refused():
    big = "review:\n  instructions: |\n" + "    x\n" * 20000
    assert broken(big).startswith("the file is 120,026 bytes, over the 64 KB limit")
    assert broken("language: " + "[" * 5000 + "]" * 5000 + "\n") == "line 1, column 20: nested deeper than 10 levels"


def test_control_characters_are_a_yaml_error_with_a_line():
    assert (
        broken("language: English\nreview: \x07\n")
        == "line 2, column 9: YAML error: special characters are not allowed (character 0x7)"
    )


@pytest.mark.parametrize(
    "text",
    [
        "\x00",
        ":",
        "? [a]\n: b\n",
        "a: b: c",
        "{",
        "\t- x",
        "'",
        "&",
        "!",
        "*",
        "%YAML 9.9\n---\na: 1\n",
        "review: {max_comments: 1e999}\n",
        "review:\n  skip_labels: [[a]]\n",
        "2024-01-01: x\n",
        "language: 2024-01-01\n",
    ],
)
def test_garbage_never_raises(text):
    result = loaded(text)
    assert result.config == DEFAULTS and result.error and "\n" not in result.error


# --- the cache by blob sha -------------------------------------------------------------------


def test_the_same_sha_is_parsed_once_and_a_new_sha_again(repos):
    repos.put(REPO, "language: French\n", sha="a" * 40)
    first, second = load(repos, REPO), load(repos, REPO)
    assert first == second and first.config.language == "French"
    assert config.cache_info()[:3] == (1, 1, 1)
    assert repos.calls.count((REPO, CONFIG_PATH)) == 2  # fetch is still asked each time: that is how the sha is learnt

    repos.put(REPO, "language: German\n", sha="b" * 40)
    assert load(repos, REPO).config.language == "German"
    assert config.cache_info()[:3] == (2, 1, 2)


def test_a_cached_sha_is_not_handed_to_yaml_again(repos, monkeypatch):
    repos.put(REPO, "language: French\n")
    load(repos, REPO)
    monkeypatch.setattr(yaml, "load", lambda *a, **k: pytest.fail("parsed again"))
    assert load(repos, REPO).config.language == "French"


def test_a_broken_file_is_parsed_once_and_reported_every_time(repos):
    repos.put(REPO, "review:\n  max_comments: lots\n")
    errors = {load(repos, REPO).error for _ in range(3)}
    assert errors == {f"{REPO}:{CONFIG_PATH}: review.max_comments: expected a whole number from 0 to 200, got text"}
    assert config.cache_info().parses == 1


def test_files_in_an_extends_chain_are_cached_each_by_its_sha(repos):
    repos.put("octo-org/base", BASE)
    repos.put(REPO, "_extends: base\n" + OVER)
    load(repos, REPO)
    repos.put(REPO, "_extends: base\nlanguage: German\n")
    result = load(repos, REPO)
    assert result.config.language == "German" and result.config.review.max_comments == 5
    assert config.cache_info()[:2] == (3, 1)  # the base file's sha was a hit


def test_the_cache_is_bounded(repos):
    for number in range(config.CACHE_SIZE + 10):
        repos.put(REPO, f"language: L{number}\n")
        load(repos, REPO)
    info = config.cache_info()
    assert info.size == config.CACHE_SIZE and info.parses == config.CACHE_SIZE + 10


# --- plain data and the documented reference -----------------------------------------------


def test_to_dict_is_plain_data_that_reads_back():
    data = DEFAULTS.to_dict()
    assert data["review"]["skip_labels"] == ["petrel: skip", "no-review"]
    assert data["paths"] == {"include": [], "exclude": [], "default_excludes": True}
    assert from_dict(data) == DEFAULTS
    custom = parse("review: {max_comments: 3, skip_labels: wip}\nmodels: {review: m}\nlanguage: French\n")
    assert parse(yaml.safe_dump(custom.to_dict())) == custom != DEFAULTS
    with pytest.raises(ConfigError, match="review.max_comments"):
        from_dict({"review": {"max_comments": 300}})


DOCS = (pathlib.Path(__file__).resolve().parent.parent / "docs" / "configuration.md").read_text(encoding="utf-8")


def _docs_section(title: str) -> str:
    return DOCS.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def _schema_keys(value: dict | None = None, prefix: str = "") -> dict:
    """Every key path of a Config's plain data ('review.auto', 'language') with its value; DEFAULTS when none."""
    keys = {}
    for name, item in (DEFAULTS.to_dict() if value is None else value).items():
        if isinstance(item, dict) and not prefix and name != "label_mapping":
            keys.update(_schema_keys(item, f"{name}."))
        else:
            keys[prefix + name] = item
    return keys


def test_the_documented_file_of_defaults_is_the_defaults(repos):
    block = _docs_section("Every key with its default").split("```yaml\n", 1)[1].split("```", 1)[0]
    repos.put(REPO, block)
    repos.put("octo-org/petrel-config", "")
    result = load(repos, REPO)
    assert result.error is None and result.config == DEFAULTS
    documented = yaml.safe_load(block)
    for section, values in DEFAULTS.to_dict().items():
        assert section in documented
        if isinstance(values, dict):
            assert set(documented[section]) == set(values), section


def test_the_docs_list_every_key_with_its_real_default_and_an_example_and_no_unknown_key(repos):
    rows = re.findall(
        r"^\| `([\w.]+)` \| (.+?) \| `(.+?)` \| .+ \|$", _docs_section("Each key, with an example"), re.MULTILINE
    )
    documented = {key: default for key, default, _ in rows}
    assert len(documented) == len(rows), "a key is documented twice"
    schema = _schema_keys()
    assert set(documented) == {*schema, "_extends"}
    for key, default in documented.items():
        if key != "_extends":
            assert yaml.safe_load(default.strip("`")) == schema[key], key
    for key, _, example in rows:
        if key == "_extends":
            repos.put(REPO, example)
            repos.put("octo-org/petrel-config", "language: French\n", path="configs/petrel.yml")
            result = load(repos, REPO)
            assert result.error is None and result.config.language == "French", result.error
            continue
        changed = _schema_keys(parse(example).to_dict())
        assert changed[key] != schema[key], f"the example of {key} changes nothing"
        assert {k for k in schema if changed[k] != schema[k]} == {key}, key


def test_the_docs_list_every_default_exclude_under_its_reason():
    table = _docs_section("Default excludes")
    for reason, patterns in DEFAULT_GROUPS:
        row = re.search(rf"^\| {reason} \| (.+) \|$", table, re.MULTILINE)
        assert row, reason
        assert set(re.findall(r"`([^`]+)`", row.group(1))) == set(patterns), reason


# --- paths -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path,reason",
    [
        ("package-lock.json", "excluded by default (lock file)"),
        ("web/yarn.lock", "excluded by default (lock file)"),
        ("Cargo.lock", "excluded by default (lock file)"),
        ("go.sum", "excluded by default (lock file)"),
        ("tools/flake.lock", "excluded by default (lock file)"),
        ("vendor/github.com/x/y.go", "excluded by default (vendored)"),
        ("services/api/vendor/lib.go", "excluded by default (vendored)"),
        ("frontend/node_modules/left-pad/index.js", "excluded by default (vendored)"),
        ("third_party/zlib/inflate.c", "excluded by default (vendored)"),
        ("static/app.min.js", "excluded by default (minified)"),
        ("static/site.min.css", "excluded by default (minified)"),
        ("static/app.js.map", "excluded by default (minified)"),
        ("api/v1/service_pb2.py", "excluded by default (generated)"),
        ("api/service.pb.go", "excluded by default (generated)"),
        ("src/client.generated.ts", "excluded by default (generated)"),
        ("pkg/generated/types.go", "excluded by default (generated)"),
        ("dist/bundle.js", "excluded by default (generated)"),
        ("docs/logo.png", "excluded by default (binary)"),
        ("docs/Screenshot.JPG", "excluded by default (binary)"),
        ("assets/fonts/inter.woff2", "excluded by default (binary)"),
        ("favicon.ico", "excluded by default (binary)"),
        ("lib/native.so", "excluded by default (binary)"),
    ],
)
def test_default_excludes(path, reason):
    assert path_excluded(path, PathsConfig()) == reason
    assert path_excluded(path, PathsConfig(default_excludes=False)) is None


@pytest.mark.parametrize(
    "path",
    [
        "src/main.py",
        "vendor.go",
        "src/vendoring.py",
        "lock.py",
        "src/lockfile.rs",
        "docs/build.md",
        "src/build/steps.py",
        "app.js",
        "min.js",
        "generated.py",
        "README.md",
        "Makefile",
    ],
)
def test_ordinary_files_are_reviewed(path):
    assert path_excluded(path, PathsConfig()) is None


def test_include_and_exclude_globs():
    paths = PathsConfig(include=("src/**", "*.md"), exclude=("**/test_*.py", "src/legacy", "fixtures"))
    assert path_excluded("src/a/b/c.py", paths) is None
    assert path_excluded("docs/guide/intro.md", paths) is None  # basename pattern, any depth
    assert path_excluded("scripts/run.py", paths) == "not in paths.include"
    assert path_excluded("src/pkg/test_core.py", paths) == "excluded by paths.exclude: **/test_*.py"
    assert path_excluded("src/legacy/old/x.py", paths) == "excluded by paths.exclude: src/legacy"
    assert path_excluded("src/a/fixtures/data.json", paths) == "excluded by paths.exclude: fixtures"
    assert path_excluded("src/yarn.lock", paths) == "excluded by default (lock file)"
    assert path_excluded("./src/ok.py", paths) is None


def test_default_excludes_can_be_turned_off_while_own_excludes_stay():
    paths = PathsConfig(exclude=("*.snap",), default_excludes=False)
    assert path_excluded("package-lock.json", paths) is None
    assert path_excluded("vendor/x.go", paths) is None
    assert path_excluded("ui/__snapshots__/a.snap", paths) == "excluded by paths.exclude: *.snap"


@pytest.mark.parametrize(
    "pattern,path,expected",
    [
        ("*.py", "a.py", True),
        ("*.py", "src/deep/a.py", True),  # no `/`: a name at any depth
        ("*.py", "a.pyc", False),
        ("src/*.py", "src/a.py", True),
        ("src/*.py", "src/sub/a.py", False),  # `*` does not cross `/`
        ("src/**/*.py", "src/a.py", True),  # `**/` is zero or more directories
        ("src/**/*.py", "src/x/y/a.py", True),
        ("src/**/*.py", "lib/src/a.py", False),  # with a `/`, rooted
        ("**/test_*.py", "test_a.py", True),
        ("**/test_*.py", "a/b/test_a.py", True),
        ("docs/**", "docs/a/b.md", True),
        ("docs/**", "docs", False),
        ("docs/**", "src/docs/a.md", False),
        ("/setup.py", "setup.py", True),
        ("/setup.py", "pkg/setup.py", False),
        ("build/", "build/x.o", True),  # trailing `/`: directories only
        ("build/", "src/build/x.o", True),
        ("build/", "build", False),
        ("fixtures", "tests/fixtures/a.json", True),  # a matched directory covers what is under it
        ("a**b", "axxb", True),
        ("a**b", "ax/xb", False),  # `**` inside a name is a plain `*`
        ("file?.txt", "file1.txt", True),
        ("file?.txt", "file/.txt", False),
        ("[!a]*.c", "b.c", True),
        ("[!a]*.c", "a.c", False),
        ("[ab].c", "b.c", True),
        ("v[0-9].md", "v7.md", True),
        ("\\*.md", "*.md", True),
        ("\\*.md", "x.md", False),
        ("[unclosed", "[unclosed", True),
        ("a+b(c).txt", "a+b(c).txt", True),  # regex characters are literal
        ("*.TXT", "a.txt", False),  # user patterns are case-sensitive, like git
    ],
)
def test_glob_translation(pattern, path, expected):
    assert matches(pattern, path) is expected, glob_regex(pattern)


def test_triage_and_memory_keys():
    config = parse(
        "triage:\n  label_threshold: 0.5\n  label_mapping: {bug: 'type: bug'}\n  first_answer: true\n"
        "memory:\n  issues: 50\n"
    )
    assert config.triage.label_threshold == 0.5 and config.triage.first_answer
    assert config.triage.label_mapping == (("bug", "type: bug"),)
    assert config.memory.issues == 50
    assert from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match="triage.duplicate_threshold: expected a number from 0 to 1, got one out of"):
        parse("triage:\n  duplicate_threshold: 2\n")
    with pytest.raises(ConfigError, match="triage.label_mapping: expected a mapping"):
        parse("triage:\n  label_mapping: [bug]\n")


def test_an_integer_too_long_to_read_is_a_config_error():
    with pytest.raises(ConfigError, match="line 1, column 21: a value cannot be read"):
        parse("daily_token_budget: " + "9" * 5000 + "\n")
    with pytest.raises(ConfigError, match="line 1, column 11: a value cannot be read"):
        parse("language: 2024-13-01\n")


def test_review_path_instructions_verify_triage_and_fail_on_are_read():
    config = parse(
        "review:\n"
        "  verify: false\n"
        "  triage: false\n"
        "  fail_on: MAJOR\n"
        "  path_instructions:\n"
        "    - path: 'src/api/**'\n"
        "      instructions: ' Check the role. '\n"
    )
    assert config.review.verify is False and config.review.triage is False
    assert config.review.fail_on == "major"
    assert config.review.path_instructions == (("src/api/**", "Check the role."),)
    defaults = parse("")
    assert (defaults.review.verify, defaults.review.triage, defaults.review.fail_on) == (True, True, None)


@pytest.mark.parametrize(
    "text, error",
    [
        ("review: {fail_on: minor}", "review.fail_on: expected one of critical, major or null, got other text"),
        ("review: {path_instructions: {path: x}}", "review.path_instructions: expected a list of"),
        ("review: {path_instructions: [{path: x}]}", "review.path_instructions[0]: expected {path: GLOB"),
        ("review: {path_instructions: [{path: '!x', instructions: y}]}", "review.path_instructions[0].path: negation"),
        ("review: {path_instructions: [{path: x, instructions: ''}]}", "instructions: must not be empty"),
    ],
)
def test_bad_path_instructions_and_fail_on_are_refused_by_name(text, error):
    with pytest.raises(ConfigError) as raised:
        parse(text)
    assert error in str(raised.value)
