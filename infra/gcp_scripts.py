"""The Google Cloud deploy scripts (infra/gcp/deploy.sh, infra/gcp/cloudrun.sh), filled in from the
templates in infra/templates/: the bash lives in those files, the values it needs come from here.
"""

from __future__ import annotations

from pathlib import Path

from knative_objects import (
    BROKER,
    DEFAULT_SIZING,
    FUNCTION_SECRETS,
    HEADER,
    KNATIVE_VERSION,
    NAMESPACE,
    OPTIONAL_SECRETS,
    SECRET,
    SECRET_KEYS,
    SETTINGS_DEFAULTS,
    SIZING,
    WEBHOOK,
    WEBHOOK_SECRETS,
    ManifestError,
    cloudevent_type,
    dns_name,
    functions,
    service_name,
)

TEMPLATES = Path(__file__).resolve().parent / "templates"

TOPIC = "petrel-events"
DEAD_LETTER_TOPIC = "petrel-dead-letter"
# Pub/Sub's push retry policy, like the broker's DELIVERY: 5 attempts (Pub/Sub's minimum with a
# dead-letter topic), waiting 10 s then longer up to 10 min between them; then the dead-letter topic.
PUSH_DELIVERY = {"max_delivery_attempts": 5, "min_retry_delay": "10s", "max_retry_delay": "600s"}


def pubsub_filter(subscription: str) -> str:
    """The message filter of one push subscription: the exact `type` attribute the webhook sets."""
    return f'attributes.type = "{cloudevent_type(subscription)}"'


def push_subscriptions(table: dict[str, tuple[str, ...]]) -> list[tuple[str, str, str]]:
    """(function, subscription name, filter) per (function, subscription). One each rather than one
    OR filter per function: a Pub/Sub filter is at most 256 bytes and cannot be changed later."""
    rows = [
        (function, dns_name("petrel", function, name), pubsub_filter(name))
        for function in sorted(table)
        for name in table[function]
    ]
    names = [row[1] for row in rows]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ManifestError(f"two subscriptions make the same Pub/Sub subscription name: {', '.join(duplicates)}")
    return rows


def cloudrun_script(table: dict[str, tuple[str, ...]]) -> str:
    """infra/gcp/cloudrun.sh: its template filled with the functions, their sizes, secrets and push subscriptions."""
    names = functions(table)
    required = [key for key in SECRET_KEYS if key not in OPTIONAL_SECRETS]
    optional = [key for key in SECRET_KEYS if key in OPTIONAL_SECRETS]
    services = []
    for function in names:
        size = SIZING.get(function, DEFAULT_SIZING)
        secrets = WEBHOOK_SECRETS if function == WEBHOOK else FUNCTION_SECRETS
        services.append(
            f"deploy_service {function} {size.concurrency} {size.timeout} {size.memory[1]} "
            f"{size.min_scale} {size.max_scale} {','.join(secrets)}"
        )
    subs = [f"subscribe {function} {name} '{where}'" for function, name, where in push_subscriptions(table)]
    settings_env = ",".join(f"{key}={value}" for key, value in SETTINGS_DEFAULTS.items() if value)
    return _fill(
        _template("cloudrun.sh.tmpl"),
        {
            "FUNCTIONS": " ".join(names),
            "REQUIRED_SECRETS": " ".join(required),
            "OPTIONAL_SECRETS": " ".join(optional),
            "SETTINGS_ENV": settings_env,
            "TOPIC": TOPIC,
            "DEAD_LETTER_TOPIC": DEAD_LETTER_TOPIC,
            "MAX_DELIVERY_ATTEMPTS": str(PUSH_DELIVERY["max_delivery_attempts"]),
            "MIN_RETRY_DELAY": PUSH_DELIVERY["min_retry_delay"],
            "MAX_RETRY_DELAY": PUSH_DELIVERY["max_retry_delay"],
            "WEBHOOK": service_name(WEBHOOK),
            "SERVICES": "\n".join(services),
            "SUBSCRIPTIONS": "\n".join(subs),
            "HEADER": HEADER.rstrip("\n"),
        },
    )


def deploy_script(names: list[str]) -> str:
    """infra/gcp/deploy.sh: its template filled with the functions, the secrets' keys and the Knative names."""
    required = [key for key in SECRET_KEYS if key not in OPTIONAL_SECRETS]
    optional = [key for key in SECRET_KEYS if key in OPTIONAL_SECRETS]
    return _fill(
        _template("deploy.sh.tmpl"),
        {
            "FUNCTIONS": " ".join(names),
            "REQUIRED_SECRETS": " ".join(required),
            "OPTIONAL_SECRETS": " ".join(optional),
            "KNATIVE_VERSION": KNATIVE_VERSION,
            "NAMESPACE": NAMESPACE,
            "SECRET": SECRET,
            "BROKER": BROKER,
            "WEBHOOK": service_name(WEBHOOK),
            "HEADER": HEADER.rstrip("\n"),
        },
    )


def _fill(template: str, values: dict[str, str]) -> str:
    """A script template with each @NAME@ replaced, in the order given."""
    for name, value in values.items():
        template = template.replace(f"@{name}@", value)
    return template


def _template(name: str) -> str:
    """The text of a script template in infra/templates/, exactly as written (no newline translation)."""
    with open(TEMPLATES / name, encoding="utf-8", newline="") as file:
        return file.read()
