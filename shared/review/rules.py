"""The repository's own review rules, and which of them each chunk's prompt carries.

The rules are what the repository's writers ask of a reviewer: the root `AGENTS.md`, the nearest
`AGENTS.md` above each changed file, `.github/copilot-instructions.md`, and `.github/petrel.yml`'s
`review.instructions` and `review.path_instructions` (a glob and its text, for the files it
matches). They are read from the default branch (`PullSource.default_file`), never from the pull
request's head, so a pull request cannot rewrite the rules it is reviewed by; each file is read once.

Rules are instructions to follow while reviewing, so a chunk's rules go into its system prompt,
after the line saying the diff is data; they ask for findings and cannot change the answer's
form or what Petrel does with it. Nothing in that part of the prompt comes from the pull request
(a rule is named by its own path or glob, never by the changed files). Each file is cut to
RULE_FILE_CHARS and a chunk's rules to a token budget, the most specific first (path
instructions, then the nearest `AGENTS.md`, the root one, Copilot's instructions); the review
body names the rules that were applied.
"""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from shared.github.pull_texts import or_none
from shared.repo_config.paths import matches
from shared.repo_config.schema import Config
from shared.review.intent import cut

log = logging.getLogger("petrel.review")

AGENTS = "AGENTS.md"
COPILOT = ".github/copilot-instructions.md"
RULE_FILE_CHARS = 4_000
RULES_TOKENS_CAP = 3_000  # per chunk
CONTEXT_SHARE = 8  # a chunk's rules take at most this fraction of the model's context
MAX_LOOKUPS = 40  # directories searched for an AGENTS.md, per review
EVERY_FILE = "applies to every file"
WITHOUT_RULES = "reviewing without the repository's rule files"

RULES_HEAD = (
    "\n\nThe repository's review rules, written by its maintainers and read from its default branch "
    "(the pull request cannot change them). Follow them where they apply when you look for findings; "
    "they do not change the form of your answer."
)


@dataclass(frozen=True)
class Rule:
    """One source of rules: `kind` is "file" (`name` its path), "path" (`name` its glob) or "config"."""

    kind: str
    name: str
    text: str
    scope: str  # which files it applies to, in words made only of the rule's own path or glob


@dataclass
class Rules:
    """A review's rules: those for every file, the nearest `AGENTS.md` of each changed file, the path
    instructions; `applied` lists (kind, name) of each rule some chunk was given, in order."""

    general: list[Rule] = field(default_factory=list)
    nearest: dict[str, Rule] = field(default_factory=dict)  # changed path -> its nearest AGENTS.md below the root
    path_rules: list[Rule] = field(default_factory=list)
    budget: int = 0  # tokens a chunk's rules may take; 0 when there are none
    estimate: Callable[[str], int] = len
    applied: list[tuple[str, str]] = field(default_factory=list)

    def for_paths(self, paths: Iterable[str]) -> list[Rule]:
        """The rules for these files, most specific first."""
        paths = list(paths)
        chosen = [rule for rule in self.path_rules if any(matches(rule.name, path) for path in paths)]
        for path in paths:
            rule = self.nearest.get(path)
            if rule and rule not in chosen:
                chosen.append(rule)
        return chosen + self.general

    def prompt(self, paths: Iterable[str]) -> str:
        """The rules for these files as text for the end of the system prompt, within the budget; "" if none."""
        if not self.budget:
            return ""
        room = self.budget - self.estimate(RULES_HEAD)
        kept: list[Rule] = []
        for rule in self.for_paths(paths):
            text = cut(
                rule.text, room - self.estimate(_shown(Rule(rule.kind, rule.name, "", rule.scope))), self.estimate
            )
            if not text:
                break
            kept.append(Rule(rule.kind, rule.name, text, rule.scope))
            room -= self.estimate(_shown(kept[-1]))
            if (rule.kind, rule.name) not in self.applied:
                self.applied.append((rule.kind, rule.name))
        kept.sort(key=_reading_order)
        return RULES_HEAD + "".join(_shown(rule) for rule in kept) if kept else ""


def _shown(rule: Rule) -> str:
    return f"\n\n--- {rule.name} ({rule.scope})\n{rule.text}"


def _reading_order(rule: Rule) -> tuple[int, str]:
    """General rules first, then the nearer `AGENTS.md` files, then path instructions."""
    return (0 if rule.scope == EVERY_FILE else 1 if rule.kind == "file" else 2), rule.name


def read_rules(pull, config: Config, paths: Iterable[str], model) -> Rules:
    """The review rules for the changed files `paths`, read from the default branch of `pull`'s
    repository (`pull.default_file`; when GitHub fails, only the config's path instructions)."""
    cache: dict[str, str | None] = {}
    failed: list[str] = []  # after one failure, no more reads: the review goes on without the rule files

    def read(path: str) -> str | None:
        if path not in cache:
            text = None
            if not failed:  # a 1-tuple when GitHub answered (maybe None: no such file), None when it failed
                answer = or_none(lambda: (pull.default_file(path),), f"rules: could not read {path}", WITHOUT_RULES)
                if answer is None:
                    failed.append(path)
                text = answer[0] if answer else None
            cache[path] = text.strip()[:RULE_FILE_CHARS] if text and text.strip() else None
        return cache[path]

    rules = Rules(estimate=model.estimate)
    if config.review.instructions:  # already in the system prompt (shared/review/prompt.py)
        rules.applied.append(("config", "review.instructions"))
    paths = list(paths)
    if not paths:
        return rules
    for path in (AGENTS, COPILOT):
        if read(path):
            rules.general.append(Rule("file", path, read(path), EVERY_FILE))
    for path in paths:
        rule = _nearest(path, read, cache)
        if rule:
            rules.nearest[path] = rule
    rules.path_rules = [
        Rule("path", glob, text[:RULE_FILE_CHARS], f"applies to the files matching {glob}")
        for glob, text in config.review.path_instructions
        if any(matches(glob, path) for path in paths)
    ]
    every = [*rules.general, *dict.fromkeys(rules.nearest.values()), *rules.path_rules]
    if every:
        share = model.specs["review"].context_tokens // CONTEXT_SHARE
        rules.budget = min(RULES_TOKENS_CAP, share, model.estimate(RULES_HEAD + "".join(map(_shown, every))) + 16)
    return rules


def _nearest(path: str, read: Callable[[str], str | None], cache: dict) -> Rule | None:
    """The `AGENTS.md` nearest above `path`, below the root (the root one applies to every file)."""
    directory = posixpath.dirname(path.strip("/"))
    while directory:
        candidate = f"{directory}/{AGENTS}"
        if candidate not in cache and len(cache) >= MAX_LOOKUPS + 2:
            log.info(
                "rules: more than %s directories to search for %s; %s gets only the root's", MAX_LOOKUPS, AGENTS, path
            )
            return None
        text = read(candidate)
        if text:
            return Rule("file", candidate, text, f"applies to the files under {directory}/")
        directory = posixpath.dirname(directory)
    return None
