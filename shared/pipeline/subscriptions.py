"""Which function wants which event: read from each `functions/<name>/main.py`.

A function declares `SUBSCRIBES = ("issues.opened", "push", ...)` at the top of its
main.py. That literal is the single source for the local dispatcher and, later, the
deploy manifests. It is read with `ast`, without importing the module, so the webhook
stays light (it must not import what the functions import: PyGithub, openai).
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

FUNCTIONS_DIR = Path(__file__).resolve().parents[2] / "functions"
_NAME = re.compile(r"^[a-z_]+(\.[a-z_]+)?$")


class SubscriptionError(ValueError):
    """A function's SUBSCRIBES declaration is missing or malformed."""


def read_subscriptions(main_py: Path) -> tuple[str, ...] | None:
    """The SUBSCRIBES tuple of one main.py, or None when it declares none (the webhook)."""
    tree = ast.parse(main_py.read_text(encoding="utf-8"), filename=str(main_py))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "SUBSCRIBES" for t in node.targets):
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                raise SubscriptionError(f"{main_py}: SUBSCRIBES must be a literal tuple of strings") from None
            if not isinstance(value, (tuple, list)) or not all(isinstance(v, str) and _NAME.match(v) for v in value):
                raise SubscriptionError(f"{main_py}: SUBSCRIBES must hold names like 'issues.opened' or 'push'")
            return tuple(value)
    return None


@cache
def table(functions_dir: Path = FUNCTIONS_DIR) -> dict[str, tuple[str, ...]]:
    """Every function that subscribes to something, by name."""
    result = {}
    for main_py in sorted(functions_dir.glob("*/main.py")):
        subscribed = read_subscriptions(main_py)
        if subscribed is not None:
            result[main_py.parent.name] = subscribed
    return result


def subscribers(event: str, action: str | None, functions_dir: Path = FUNCTIONS_DIR) -> list[str]:
    """Names of the functions subscribed to `event.action` or to the whole `event`."""
    wanted = {event, f"{event}.{action}"} if action else {event}
    return [name for name, subscribed in table(functions_dir).items() if wanted.intersection(subscribed)]
