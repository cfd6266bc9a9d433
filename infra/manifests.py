#!/usr/bin/env python3
"""Deploy manifests, generated from the `SUBSCRIBES` of each `functions/<name>/main.py`.

    python infra/manifests.py            (re)write every generated file
    python infra/manifests.py --check    exit 1, naming each file, when a committed file is stale
    python infra/manifests.py --app-form https://HOST/webhook [--org ORG] > register-petrel.html

What it writes (docs/deploy.md says how to use each):

- `infra/knative/`: the Namespace; the ConfigMap of non-secret settings; the Broker `petrel` with
  its delivery policy and its dead-letter Service; one Knative Service per function; one Trigger per
  (function, subscription), filtering on the exact CloudEvent type; the SinkBinding that gives the
  webhook its `K_SINK`; and `templates/secret.yaml`, the Secret's keys with empty values (the Secret
  itself is made with kubectl and never committed).
- `infra/gcp/deploy.sh`: the same manifests on Google Kubernetes Engine, with images in Artifact
  Registry, secrets from Secret Manager and Postgres on Cloud SQL.
- `infra/gcp/cloudrun.sh`: Cloud Run with Pub/Sub instead: one topic the webhook publishes to
  (PETREL_PUBSUB_TOPIC), one Cloud Run service per function, and one authenticated push
  subscription per (function, subscription) filtered on the exact `type` attribute, with retries
  and a dead-letter topic.
- `app.yml`: the GitHub App manifest: the permissions Petrel's calls need, and the events its
  functions subscribe to.

Images are named `REGISTRY/petrel-<function>:VERSION`. Both words are placeholders that the deploy
commands replace with sed, so the committed files name no registry.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gcp_scripts import cloudrun_script, deploy_script  # noqa: E402
from github_app import app_form, app_manifest  # noqa: E402
from knative_objects import (  # noqa: E402
    HEADER,
    SECRET_KEYS,
    ManifestError,
    broker,
    dead_letter_service,
    function_service,
    functions,
    namespace,
    secret_template,
    settings_config_map,
    sink_binding,
    triggers,
)

from shared.pipeline import subscriptions  # noqa: E402  (pure: reads SUBSCRIBES with ast)


def _yaml(documents: list[dict], comment: str = "") -> str:
    body = yaml.safe_dump_all(documents, explicit_start=True, sort_keys=False, width=110, allow_unicode=True)
    return HEADER + comment + body


def _comment(text: str) -> str:
    return "".join(f"# {line}".rstrip() + "\n" for line in text.strip().splitlines())


def render(table: dict[str, tuple[str, ...]] | None = None) -> dict[str, str]:
    """Every generated file: its path relative to the repository root, and its text."""
    table = subscriptions.table() if table is None else table
    names = functions(table)
    app = app_manifest(table)
    return {
        "infra/knative/namespace.yaml": _yaml([namespace()]),
        "infra/knative/settings.yaml": _yaml(
            [settings_config_map()],
            _comment(
                "Non-secret settings, read by every function (envFrom). The values are Petrel's defaults;\n"
                "README.md's Settings table lists the others. A pod reads them when it starts; after an edit:\n"
                "  kubectl -n petrel delete pod -l app.kubernetes.io/part-of=petrel"
            ),
        ),
        "infra/knative/broker.yaml": _yaml(
            [dead_letter_service(), broker()],
            _comment(
                "The broker (multi-tenant, channel based; the channel is the cluster's default, InMemoryChannel\n"
                "unless configured otherwise) and its dead-letter sink: a small Service that logs each event the\n"
                "broker gave up on, with the knativeerrordest, knativeerrorcode and knativeerrordata attributes.\n"
                "Its delivery policy applies to every Trigger."
            ),
        ),
        "infra/knative/services.yaml": _yaml(
            [function_service(name) for name in names],
            _comment(
                "One Knative Service per function. Replace the image placeholders when applying:\n"
                '  sed "s|image: REGISTRY/\\(.*\\):VERSION\\$|image: $REGISTRY/\\1:$VERSION|" infra/knative/services.yaml \\\n'
                "    | kubectl apply -f -"
            ),
        ),
        "infra/knative/triggers.yaml": _yaml(
            triggers(table),
            _comment(
                "One Trigger per (function, subscription): the exact CloudEvent type, delivered to that function."
            ),
        ),
        "infra/knative/sinkbinding.yaml": _yaml([sink_binding()]),
        "infra/knative/templates/secret.yaml": _yaml(
            [secret_template()],
            _comment(
                "A template, never applied: the keys of the Secret `petrel`. Create it with kubectl\n"
                "(docs/deploy.md), so that no value is ever written in this repository:\n"
                + "\n".join(f"  {key}: {meaning}" for key, meaning in SECRET_KEYS.items())
            ),
        ),
        "infra/gcp/deploy.sh": deploy_script(names),
        "infra/gcp/cloudrun.sh": cloudrun_script(table),
        "app.yml": HEADER
        + _comment(
            "The GitHub App manifest (GitHub's manifest flow, Probot's app.yml). Register the App from it with\n"
            "`make run`'s start page (http://localhost:8080/, built from shared/github/app_manifest.py too), or:\n"
            "  python infra/manifests.py --app-form https://YOUR-HOST/webhook > register-petrel.html\n"
            "then open that file and press the button (docs/deploy.md). Installation events reach every App\n"
            "without being listed."
        )
        + yaml.safe_dump(app, sort_keys=False, width=110),
    }


EXECUTABLE = {"infra/gcp/deploy.sh", "infra/gcp/cloudrun.sh"}


def write(root: Path = ROOT, files: dict[str, str] | None = None) -> list[str]:
    """Write the files that differ; return their paths."""
    written = []
    for path, text in (render() if files is None else files).items():
        target = root / path
        if not target.is_file() or target.read_text(encoding="utf-8") != text:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            written.append(path)
        if path in EXECUTABLE:
            target.chmod(0o755)
    return written


def stale(root: Path = ROOT, files: dict[str, str] | None = None) -> list[str]:
    """The generated files that are missing or differ from what `write` would write."""
    result = []
    for path, text in (render() if files is None else files).items():
        target = root / path
        if not target.is_file() or target.read_text(encoding="utf-8") != text:
            result.append(path)
        elif path in EXECUTABLE and not target.stat().st_mode & 0o100:
            result.append(f"{path} (not executable)")
    return result


def main(argv: list[str] | None = None) -> int:
    """The command line: write the generated files, check them, or print the App registration form."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when a committed file differs")
    parser.add_argument(
        "--app-form",
        metavar="WEBHOOK_URL",
        help="print an HTML page that registers the App from app.yml with this webhook URL",
    )
    parser.add_argument("--org", help="with --app-form: register the App for this organization")
    parser.add_argument("--name", help="with --app-form: the App's name (GitHub's names are global)")
    parser.add_argument("--homepage", help="with --app-form: the App's homepage URL")
    args = parser.parse_args(argv)
    try:
        files = render()
    except (ManifestError, subscriptions.SubscriptionError) as error:
        print(f"infra/manifests.py: {error}", file=sys.stderr)
        return 2
    if args.app_form:
        if stale(files={"app.yml": files["app.yml"]}):
            print("infra/manifests.py: app.yml is stale: run `python infra/manifests.py` first", file=sys.stderr)
            return 1
        sys.stdout.write(app_form(args.app_form, args.org, args.name, args.homepage))
        return 0
    if args.check:
        outdated = stale(files=files)
        for path in outdated:
            print(f"stale: {path} (run `python infra/manifests.py`)", file=sys.stderr)
        return 1 if outdated else 0
    for path in write(files=files):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
