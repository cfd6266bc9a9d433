"""`make eval`: a score for Petrel's reviews, not an impression (issue 12, section 7).

Plans the review of every case of the evaluation set (tests/fixtures/eval/: real commits of public
projects, 30 of them with one injected defect) with the real review planning
(shared/review/plan.py) and the model the usual settings name (PETREL_MODEL, OPENAI_BASE_URL,
OPENAI_API_KEY, from the environment or `.env`), once with `review.verify: true` and once with
`false`, and prints recall, noise, precision, tokens and seconds side by side
(bench/eval_score.py says how each is counted). Nothing is posted anywhere.

    python bench/eval.py [--cases N] [--match TEXT] [--verify both|on|off] [--json]

It stops at once, with one line and exit status 2, when no model is configured or the model
server does not answer; exit status 1 when every review failed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.eval_score import Outcome, Scores, score, table  # noqa: E402
from bench.eval_source import CASES, Case, CasePull, load_cases  # noqa: E402
from shared.model import llm  # noqa: E402
from shared.model.llm import BudgetExceeded, Model, ModelError  # noqa: E402
from shared.repo_config.schema import DEFAULTS, Config  # noqa: E402
from shared.review.plan import plan_review  # noqa: E402
from shared.runtime import settings as runtime_settings  # noqa: E402
from shared.runtime.settings import Settings  # noqa: E402

PROBE_SECONDS = 10.0
MODES = {"both": (True, False), "on": (True,), "off": (False,)}


class Unreachable(Exception):
    """No model to evaluate: none configured, or its server does not answer."""


def server_of(settings: Settings) -> str:
    """The model server's address as the settings name it (OpenAI's own when no base URL is set)."""
    return str(settings.openai_base_url or "https://api.openai.com/v1 (OpenAI)")


def probe(settings: Settings) -> list[str]:
    """The models the server lists; raises Unreachable when none is configured or the server does not answer."""
    if not settings.has_model:
        raise Unreachable(llm.NO_MODEL)
    import openai

    client = llm.openai_client(settings).with_options(timeout=PROBE_SECONDS, max_retries=0)
    try:
        return [m.id for m in client.models.list().data]
    except openai.APIStatusError as error:
        if error.status_code in (404, 405):
            return []  # answers, but lists no models: the chat calls will tell
        raise Unreachable(f"the model server at {server_of(settings)} answered {error.status_code}") from None
    except openai.OpenAIError as error:
        raise Unreachable(f"no model server reachable at {server_of(settings)} ({type(error).__name__})") from None


def review_config(verify: bool, base: Config = DEFAULTS) -> Config:
    """The configuration of one run: the defaults with review.verify set."""
    return replace(base, review=replace(base.review, verify=verify))


def review_case(case: Case, settings: Settings, config: Config, client=None) -> Outcome:
    """Plan the review of one case; its findings (inline and in the body), tokens and seconds."""
    outcome = Outcome(case.name, case.defect)
    model = Model(settings, function="eval", repository=case.meta["repository"], client=client)
    started = time.perf_counter()
    try:
        _, report, _ = plan_review(CasePull(case), model, config, None, forced=True)
    except (ModelError, BudgetExceeded) as error:
        outcome.error = str(error)
        report = None
    outcome.seconds = time.perf_counter() - started
    outcome.tokens = model.prompt_tokens + model.completion_tokens
    if report is not None:
        outcome.findings = [(c.path, c.line) for c in report.comments] + [(p, n) for p, n, _, _ in report.in_body]
        failed = [reason for _, reason in report.not_reviewed if reason.startswith("model error")]
        if failed and not report.reviewed:
            outcome.error = failed[0]
    return outcome


def run(
    cases: list[Case], settings: Settings, modes: tuple[bool, ...], progress=None
) -> dict[str, tuple[Scores, list[Outcome]]]:
    """Every case under each value of review.verify: {"verify: true": (scores, outcomes), ...}."""
    results: dict[str, tuple[Scores, list[Outcome]]] = {}
    client = llm.openai_client(settings)  # one client (and its connections) for the whole run
    for verify in modes:
        config = review_config(verify)
        outcomes = []
        for case in cases:
            outcome = review_case(case, settings, config, client)
            outcomes.append(outcome)
            if progress:
                progress(verify, outcome)
        results[f"verify: {'true' if verify else 'false'}"] = (score(outcomes), outcomes)
    return results


def _progress(verify: bool, outcome: Outcome) -> None:
    found = f"found ({outcome.near} near)"
    mark = "error" if outcome.error else (found if outcome.found else ("missed" if outcome.defect else "clean"))
    print(
        f"  verify={str(verify).lower():5} {outcome.case}: {mark}, {len(outcome.findings)} finding(s), "
        f"{outcome.tokens} tokens, {outcome.seconds:.1f} s" + (f" ({outcome.error})" if outcome.error else ""),
        file=sys.stderr,
        flush=True,
    )


def main(argv: list[str] | None = None, env: dict[str, str] | None = None, out=None) -> int:
    """Run the evaluation; print the table (or JSON) to `out`. `env` replaces the environment (tests)."""
    out = out or sys.stdout
    parser = argparse.ArgumentParser(prog="make eval", description="Score Petrel's reviews on the evaluation set.")
    parser.add_argument("--cases", type=int, help="run only N cases (defect and clean ones interleaved)")
    parser.add_argument("--match", help="run only the cases whose name contains this text (e.g. py-, go-cobra)")
    parser.add_argument("--verify", choices=sorted(MODES), default="both", help="review.verify values to run")
    parser.add_argument("--json", action="store_true", help="print the scores and every outcome as JSON")
    parser.add_argument("--root", type=Path, default=CASES, help=argparse.SUPPRESS)
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)
    settings = runtime_settings.from_env(env if env is not None else runtime_settings.environment())
    try:
        listed = probe(settings)
    except Unreachable as error:
        print(f"make eval: {error}", file=sys.stderr)
        return 2
    cases = load_cases(args.root, args.match, args.cases)
    if not cases:
        print("make eval: no case matches", file=sys.stderr)
        return 2
    server = server_of(settings)
    print(
        f"make eval: {len(cases)} case(s), model {settings.model} (light model {settings.light_model}) "
        f"at {server}" + (f", which lists {', '.join(listed[:3])}" if listed else ""),
        file=sys.stderr,
        flush=True,
    )
    results = run(cases, settings, MODES[args.verify], None if args.quiet else _progress)
    if args.json:
        document = {
            "model": settings.model,
            "light_model": settings.light_model,
            "server": server,
            "cases": len(cases),
            "runs": {
                name: {"scores": scores.as_dict(), "outcomes": [vars(o) for o in outcomes]}
                for name, (scores, outcomes) in results.items()
            },
        }
        print(json.dumps(document, indent=2, default=list), file=out)
    else:
        print(
            f"Model: {settings.model} (light: {settings.light_model}), server: {server}, cases: {len(cases)}\n",
            file=out,
        )
        print(table({name: scores for name, (scores, _) in results.items()}), file=out)
    if all(scores.failed == scores.cases for scores, _ in results.values()):
        print("make eval: every review failed (model errors); see the lines above", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
