"""The scores of `make eval`: what a review of each case found, and the figures over the whole set.

Apart from the runner (bench/eval.py) so that tests/test_eval.py can check the arithmetic on
outcomes it writes by hand as well as on a run with a scripted model.

- recall: defect cases where a finding lands on the defect's file within NEAR lines of it, over
  the defect cases reviewed;
- noise: findings per clean case;
- precision: findings within NEAR lines of the defect over all findings on defect cases (a finding
  on a clean case is not counted here: nobody decided whether it is right);
- tokens and seconds: the median per case.
A case whose review failed (a model error) is counted apart and left out of the figures.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field

NEAR = 3  # a finding this close to the defect's line, on its file, has found it


@dataclass
class Outcome:
    """One case reviewed once: its findings (path, line), its cost and whether the review worked."""

    case: str
    defect: dict | None
    findings: list[tuple[str, int]] = field(default_factory=list)
    tokens: int = 0
    seconds: float = 0.0
    error: str | None = None

    @property
    def near(self) -> int:
        """How many findings are on the defect's file within NEAR lines of its line (0 on a clean case)."""
        if not self.defect:
            return 0
        path, line = self.defect["path"], self.defect["line"]
        return sum(1 for p, n in self.findings if p == path and isinstance(n, int) and abs(n - line) <= NEAR)

    @property
    def found(self) -> bool:
        """Whether the injected defect was flagged."""
        return self.near > 0


@dataclass(frozen=True)
class Scores:
    """The figures of one run over the set (one value of review.verify)."""

    cases: int
    defect_cases: int
    clean_cases: int
    failed: int
    found: int
    recall: float | None
    noise: float | None
    precision: float | None
    tokens: float | None
    seconds: float | None

    def as_dict(self) -> dict:
        """The scores as plain JSON values."""
        return asdict(self)


def score(outcomes: list[Outcome]) -> Scores:
    """The figures over these outcomes; None where nothing decides them (no such case, no finding)."""
    done = [o for o in outcomes if o.error is None]
    defects = [o for o in done if o.defect]
    clean = [o for o in done if not o.defect]
    on_defects = sum(len(o.findings) for o in defects)
    found = sum(1 for o in defects if o.found)
    return Scores(
        cases=len(outcomes),
        defect_cases=len(defects),
        clean_cases=len(clean),
        failed=len(outcomes) - len(done),
        found=found,
        recall=found / len(defects) if defects else None,
        noise=sum(len(o.findings) for o in clean) / len(clean) if clean else None,
        precision=sum(o.near for o in defects) / on_defects if on_defects else None,
        tokens=statistics.median(o.tokens for o in done) if done else None,
        seconds=statistics.median(o.seconds for o in done) if done else None,
    )


def _figure(value: float | None, kind: str) -> str:
    if value is None:
        return "n/a"
    if kind == "share":
        return f"{value:.0%}"
    if kind == "count":
        return f"{value:.0f}"
    return f"{value:.2f}" if kind == "ratio" else f"{value:.1f}"


ROWS = (
    ("cases reviewed (defect / clean)", lambda s: f"{s.defect_cases} / {s.clean_cases}"),
    ("cases failed (model error)", lambda s: str(s.failed)),
    (
        "recall (defect flagged within 3 lines)",
        lambda s: f"{_figure(s.recall, 'share')} ({s.found} of {s.defect_cases})" if s.defect_cases else "n/a",
    ),
    ("noise (findings per clean case)", lambda s: _figure(s.noise, "ratio")),
    ("precision (near the defect / on defect cases)", lambda s: _figure(s.precision, "share")),
    ("tokens per case (median)", lambda s: _figure(s.tokens, "count")),
    ("seconds per case (median)", lambda s: _figure(s.seconds, "seconds")),
)


def table(columns: dict[str, Scores]) -> str:
    """A Markdown table with one column per run (e.g. `verify: true`, `verify: false`)."""
    lines = ["| | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    for label, cell in ROWS:
        lines.append(f"| {label} | " + " | ".join(cell(s) for s in columns.values()) + " |")
    return "\n".join(lines)
