"""The packaging report: a table with one row per bundle (and the monolith, when measured), then
what each bundle holds. infra/package.py writes it; bench/bundles.py adds the measured columns.
"""

from __future__ import annotations

import datetime
import os
import platform
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from package import Bundle
    from venv_check import Venvs

MIB = 1024 * 1024
COLD_RUNS = 3  # measured starts per bundle, after one discarded warm-up start


@dataclass
class Start:
    """One cold start: the time to the first 2xx answer and the peak memory of the server's processes."""

    ms: float
    rss_largest: int  # VmHWM of the largest process (the gunicorn worker, or its master)
    rss_total: int  # summed over the server's processes (shared pages counted twice)


@dataclass
class Row:
    """One line of the table: a bundle (or the monolith), its size, and its measured figures when there are any."""

    name: str
    target: str
    modules: list[str]
    distributions: list[str]
    bundle_bytes: int
    installed_bytes: int | None = None
    start: Start | None = None


def table(rows: list[Row], total_shared: int) -> str:
    """The Markdown table; the measured columns only when a row has them."""
    installed = any(r.start for r in rows)
    head = ["function", "target", "shared modules", "distributions", "bundle KiB"]
    if installed:
        head += ["installed MiB", "cold start ms", "peak RSS MiB (largest process)", "peak RSS MiB (all processes)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * 4 + ["---:"] * (len(head) - 4)) + "|"]
    for r in rows:
        cells = [
            r.name,
            r.target,
            f"{len(r.modules)} of {total_shared}",
            ", ".join(r.distributions),
            f"{r.bundle_bytes / 1024:.0f}",
        ]
        if installed:
            cells += [
                f"{r.installed_bytes / MIB:.1f}" if r.installed_bytes is not None else "",
                f"{r.start.ms:.0f}" if r.start else "",
                f"{r.start.rss_largest / MIB:.0f}" if r.start else "",
                f"{r.start.rss_total / MIB:.0f}" if r.start else "",
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report(
    rows: list[Row],
    bundles: list[Bundle],
    total_shared: int,
    checked: bool | None,
    venvs: Venvs | None,
    writer: str = "infra/package.py",
) -> str:
    """The whole report as Markdown: the table, what its columns mean, and what each bundle holds."""
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "# Packaging report",
        "",
        f"Written by `{writer}` on {now}. Machine: {os.cpu_count()} CPUs, {platform.system()} "
        f"{platform.release()} ({platform.machine()}), CPython {platform.python_version()}.",
        "",
        table(rows, total_shared),
        "",
        "- bundle KiB: bytes of the files in `dist/<name>/` (main.py, shared/, routing stubs, requirements.txt).",
    ]
    if any(r.start for r in rows):
        parts += [
            "- installed MiB: bytes of the files in the site-packages of a fresh venv after "
            "`pip install -r dist/<name>/requirements.txt` (pip and setuptools included, about 15 MiB).",
            f"- cold start: from spawning `functions-framework` (gunicorn) to the first 2xx answer: a signed `ping` "
            f"for the webhook, a CloudEvent of the function's first subscribed type (a recorded payload) for the "
            f"others, in dry-run with no GitHub credentials, `DATABASE_URL` at a local pgserver Postgres. Median of "
            f"{COLD_RUNS} starts after a discarded one, with PYTHONDONTWRITEBYTECODE=1 and no .pyc in the bundle "
            f"(as the Dockerfile runs it).",
            "- peak RSS: VmHWM of each process of the server right after that answer; gunicorn's master imports "
            "the function and forks one worker, so the sum counts shared pages twice.",
            "- monolith: `functions/` and `shared/` of the repository, every function module imported by one "
            "process (served as the webhook), with every distribution of requirements.txt but pgserver.",
        ]
    if venvs and venvs.seconds:
        made = ", ".join(f"{len(k)} distributions in {s:.0f} s" for k, s in venvs.seconds.items())
        parts.append(f"- venvs made (python -m venv + pip install -r): {made}.")
    if checked is not None:
        parts.append(f"- `--check`: {'every bundle imports completely from its own venv' if checked else 'FAILED'}.")
    parts += ["", "## What each bundle holds", ""]
    for b in bundles:
        extras = []
        if b.data:
            extras.append(f"{len(b.data)} migrations")
        if b.routes:
            extras.append(f"routing stubs for {', '.join(sorted(b.routes))}")
        parts.append(
            f"- **{b.name}** (`--target {b.target}`{', cloudevent' if b.signature == 'cloudevent' else ''}): "
            f"{', '.join(b.modules) or 'no shared module'}"
            f"{'; ' + '; '.join(extras) if extras else ''}. Requirements: {', '.join(b.requirements)}."
        )
    return "\n".join(parts) + "\n"
