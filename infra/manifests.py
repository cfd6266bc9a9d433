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
import hashlib
import html
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from shared.pipeline import subscriptions  # noqa: E402  (pure: reads SUBSCRIBES with ast)

NAMESPACE = "petrel"
BROKER = "petrel"
SECRET = "petrel"
SETTINGS = "petrel-settings"
DEAD_LETTER = "petrel-dead-letter"
WEBHOOK = "webhook"
IMAGE = "REGISTRY/petrel-{function}:VERSION"
KNATIVE_VERSION = "1.17.0"
# Knative's own CloudEvents logger, pinned by digest: a dead letter is printed to its log.
DEAD_LETTER_IMAGE = ("gcr.io/knative-releases/knative.dev/eventing/cmd/event_display"
                     "@sha256:610234e4319b767b187398085971d881956da660a4e0fab65a763e0f81881d82")

SERVING = "serving.knative.dev/v1"
EVENTING = "eventing.knative.dev/v1"
SOURCES = "sources.knative.dev/v1"

# GitHub sends these to every App, subscribed or not, and refuses them in `default_events`.
ALWAYS_SENT = frozenset({"installation", "installation_repositories"})
# Events that carry no `action`: their CloudEvent type is `com.github.<event>` and nothing else, so a
# Trigger's exact filter on it sees every delivery. A whole-event subscription to an event that has
# actions would need a prefix filter; it is refused instead (see `cloudevent_type`).
WITHOUT_ACTION = frozenset({"push", "create", "delete", "fork", "gollum", "public", "status", "page_build"})

# The App's permissions, from the calls Petrel makes, and nothing more.
PERMISSIONS = {
    # shared/github/actions.py: comments found by marker and edited, labels, reactions on issue comments;
    # shared/triage.py and /ask: issues and their comments read
    "issues": "write",
    # shared/github/actions.py: COMMENT reviews, replies in review threads, reactions on review comments, the
    # marked section of a description; shared/github/pulls.py: diffs, review comments
    "pull_requests": "write",
    # shared/repo_config/load.py (.github/petrel.yml), shared/memory/indexing.py (trees, blobs), /ask (files),
    # shared/github/pulls.py (compare, for incremental reviews)
    "contents": "read",
    # GitHub grants it to every App
    "metadata": "read",
}
# The permission without which GitHub does not deliver an event to an App.
EVENT_PERMISSION = {
    "issues": "issues", "issue_comment": "issues",
    "pull_request": "pull_requests", "pull_request_review": "pull_requests",
    "pull_request_review_comment": "pull_requests", "pull_request_review_thread": "pull_requests",
    "push": "contents", "create": "contents", "delete": "contents",
}

# Keys of the Secret `petrel`, each with what it holds; the optional ones may be left out.
SECRET_KEYS = {
    "GITHUB_WEBHOOK_SECRET": "the webhook secret configured on the GitHub App",
    "GITHUB_WEBHOOK_SECRET_PREVIOUS": "optional: the previous webhook secret, while it is rotated",
    "GITHUB_APP_ID": "the App's id",
    "GITHUB_PRIVATE_KEY": "the App's private key, PEM text",
    "OPENAI_API_KEY": "optional: key of the OpenAI-compatible model server",
    "DATABASE_URL": "postgresql://USER:PASSWORD@HOST:5432/DB of a Postgres with pgvector",
}
OPTIONAL_SECRETS = frozenset({"GITHUB_WEBHOOK_SECRET_PREVIOUS", "OPENAI_API_KEY"})
# Each function gets only the secrets it uses: the webhook never sees the App key or the model key.
WEBHOOK_SECRETS = ("GITHUB_WEBHOOK_SECRET", "GITHUB_WEBHOOK_SECRET_PREVIOUS", "DATABASE_URL")
FUNCTION_SECRETS = ("GITHUB_APP_ID", "GITHUB_PRIVATE_KEY", "OPENAI_API_KEY", "DATABASE_URL")

# Non-secret settings, as a ConfigMap every function reads. The values are the code's own defaults
# (a test checks that), so the ConfigMap changes nothing until it is edited.
SETTINGS_DEFAULTS = {
    "GITHUB_API_URL": "https://api.github.com",
    "PETREL_APP_SLUG": "petrel",
    "OPENAI_BASE_URL": "",
    "PETREL_MODEL": "gpt-4o-mini",
    "PETREL_LIGHT_MODEL": "",
    "PETREL_EMBEDDING_MODEL": "text-embedding-3-small",
    "PETREL_DRY_RUN": "0",
    "PETREL_LOG_LEVEL": "INFO",
}


@dataclass(frozen=True)
class Sizing:
    """How one function's Knative Service runs."""

    concurrency: int         # containerConcurrency, and functions-framework's THREADS
    timeout: int             # timeoutSeconds; 600 is Knative's default ceiling
    memory: tuple[str, str]  # request, limit
    max_scale: int
    min_scale: int = 0       # 0: scale to zero when idle
    cpu: tuple[str, str] = ("100m", "1000m")


DEFAULT_SIZING = Sizing(concurrency=4, timeout=600, memory=("256Mi", "512Mi"), max_scale=5)
SIZING = {
    # GitHub waits 10 s for an answer and does not redeliver by itself, so one pod (about 90 MiB,
    # BENCHMARKS.md) stays up rather than make a delivery wait for a cold start. Its connection
    # pool holds 8 connections (shared/runtime/db.py): 8 requests at once.
    WEBHOOK: Sizing(concurrency=8, timeout=30, memory=("128Mi", "256Mi"), max_scale=10, min_scale=1),
    # mostly waiting on the model and GitHub
    "commands": Sizing(concurrency=8, timeout=600, memory=("256Mi", "512Mi"), max_scale=5),
    # large diffs, and review.concurrency chunks in parallel per review
    "pr_review": Sizing(concurrency=4, timeout=600, memory=("512Mi", "1Gi"), max_scale=5),
    # a backfill holds a repository's files and embedding batches
    "memory_indexer": Sizing(concurrency=2, timeout=600, memory=("512Mi", "1Gi"), max_scale=3),
}

# The broker's delivery policy, inherited by every Trigger: 5 retries, 5 s then doubling (5, 10, 20,
# 40, 80 s), each attempt allowed as long as a function may run; then the dead-letter Service.
DELIVERY = {"retry": 5, "backoffPolicy": "exponential", "backoffDelay": "PT5S", "timeout": "PT10M"}

HEADER = ("# Generated by infra/manifests.py from the SUBSCRIBES of each functions/<name>/main.py.\n"
          "# Do not edit: change the functions or infra/manifests.py, then run `python infra/manifests.py`.\n")


class ManifestError(ValueError):
    """A subscription the manifests cannot express."""


def dns_name(*parts: str) -> str:
    """A Kubernetes object name (DNS-1123 label) from parts such as `pr_review`, `issues.opened`."""
    name = "-".join(re.sub(r"[^a-z0-9]+", "-", part.lower()).strip("-") for part in parts)
    if len(name) > 63:  # keep it unique: cut, then add a hash of the whole
        name = name[:54].rstrip("-") + "-" + hashlib.sha256(name.encode()).hexdigest()[:8]
    return name


def service_name(function: str) -> str:
    return dns_name("petrel", function)


def cloudevent_type(subscription: str) -> str:
    """The CloudEvent type a subscription receives (shared/pipeline/events.cloudevent_attributes)."""
    event, _, action = subscription.partition(".")
    if not action and event not in WITHOUT_ACTION:
        raise ManifestError(
            f"'{subscription}' subscribes to a whole event that has actions: a Trigger filters on the exact "
            f"type com.github.{subscription}, which no delivery has. Subscribe to '{subscription}.<action>' names "
            f"(or add '{event}' to WITHOUT_ACTION in infra/manifests.py if it has no action)")
    return f"com.github.{subscription}"


def _labels(component: str) -> dict:
    return {"app.kubernetes.io/part-of": "petrel", "app.kubernetes.io/component": dns_name(component)}


def _ref(api_version: str, kind: str, name: str) -> dict:
    return {"apiVersion": api_version, "kind": kind, "name": name}


def _metadata(name: str, component: str, **extra) -> dict:
    return {"name": name, "namespace": NAMESPACE, "labels": _labels(component), **extra}


def _secret_env(key: str) -> dict:
    selector = {"name": SECRET, "key": key}
    if key in OPTIONAL_SECRETS:
        selector["optional"] = True
    return {"name": key, "valueFrom": {"secretKeyRef": selector}}


def function_service(function: str) -> dict:
    """The Knative Service of one function: the image of infra's Dockerfile, served on $PORT."""
    size = SIZING.get(function, DEFAULT_SIZING)
    metadata = _metadata(service_name(function), function)
    if function != WEBHOOK:  # reachable from the broker inside the cluster, never from outside
        metadata["labels"]["networking.knative.dev/visibility"] = "cluster-local"
    secrets = WEBHOOK_SECRETS if function == WEBHOOK else FUNCTION_SECRETS
    container = {
        "image": IMAGE.format(function=function),
        "env": [{"name": "THREADS", "value": str(size.concurrency)}] + [_secret_env(key) for key in secrets],
        "envFrom": [{"configMapRef": {"name": SETTINGS}}],
        "resources": {"requests": {"cpu": size.cpu[0], "memory": size.memory[0]},
                      "limits": {"cpu": size.cpu[1], "memory": size.memory[1]}},
        "securityContext": {"runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}},
    }
    return {
        "apiVersion": SERVING,
        "kind": "Service",
        "metadata": metadata,
        "spec": {"template": {
            "metadata": {"labels": _labels(function), "annotations": {
                "autoscaling.knative.dev/class": "kpa.autoscaling.knative.dev",
                "autoscaling.knative.dev/metric": "concurrency",
                "autoscaling.knative.dev/min-scale": str(size.min_scale),
                "autoscaling.knative.dev/max-scale": str(size.max_scale),
            }},
            "spec": {"containerConcurrency": size.concurrency, "timeoutSeconds": size.timeout,
                     "containers": [container]},
        }},
    }


def dead_letter_service() -> dict:
    """Where the broker sends an event it could not deliver: a logger that stays up, so that
    `kubectl logs` shows every dead letter with the error the function last answered."""
    metadata = _metadata(DEAD_LETTER, "dead-letter")
    metadata["labels"]["networking.knative.dev/visibility"] = "cluster-local"
    return {
        "apiVersion": SERVING,
        "kind": "Service",
        "metadata": metadata,
        "spec": {"template": {
            "metadata": {"annotations": {"autoscaling.knative.dev/min-scale": "1",
                                         "autoscaling.knative.dev/max-scale": "1"}},
            "spec": {"containers": [{
                "image": DEAD_LETTER_IMAGE,
                "resources": {"requests": {"cpu": "10m", "memory": "32Mi"},
                              "limits": {"cpu": "100m", "memory": "64Mi"}},
            }]},
        }},
    }


def broker() -> dict:
    return {
        "apiVersion": EVENTING,
        "kind": "Broker",
        "metadata": _metadata(BROKER, "broker",
                              annotations={"eventing.knative.dev/broker.class": "MTChannelBasedBroker"}),
        "spec": {"delivery": {**DELIVERY, "deadLetterSink": {"ref": _ref(SERVING, "Service", DEAD_LETTER)}}},
    }


def trigger(function: str, subscription: str) -> dict:
    return {
        "apiVersion": EVENTING,
        "kind": "Trigger",
        "metadata": _metadata(dns_name("petrel", function, subscription), function),
        "spec": {
            "broker": BROKER,
            "filter": {"attributes": {"type": cloudevent_type(subscription)}},
            "subscriber": {"ref": _ref(SERVING, "Service", service_name(function))},
        },
    }


def sink_binding() -> dict:
    """K_SINK for the webhook: it posts each stored delivery to the broker as one CloudEvent."""
    return {
        "apiVersion": SOURCES,
        "kind": "SinkBinding",
        "metadata": _metadata(service_name(WEBHOOK), WEBHOOK),
        "spec": {"subject": _ref(SERVING, "Service", service_name(WEBHOOK)),
                 "sink": {"ref": _ref(EVENTING, "Broker", BROKER)}},
    }


def namespace() -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE, "labels": _labels("namespace")}}


def settings_config_map() -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _metadata(SETTINGS, "settings"),
            "data": dict(SETTINGS_DEFAULTS)}


def secret_template() -> dict:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": _metadata(SECRET, "secret"), "type": "Opaque",
            "stringData": {key: "" for key in SECRET_KEYS}}


def functions(table: dict[str, tuple[str, ...]]) -> list[str]:
    """Every deployed function: the webhook first, then each subscribing function by name."""
    return [WEBHOOK] + sorted(table)


def triggers(table: dict[str, tuple[str, ...]]) -> list[dict]:
    documents = [trigger(function, subscription) for function in sorted(table) for subscription in table[function]]
    names = [document["metadata"]["name"] for document in documents]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ManifestError(f"two subscriptions make the same Trigger name: {', '.join(duplicates)}")
    return documents


def app_manifest(table: dict[str, tuple[str, ...]]) -> dict:
    """The GitHub App manifest (the manifest flow's format, as Probot reads app.yml)."""
    events = sorted({name.partition(".")[0] for names in table.values() for name in names} - ALWAYS_SENT)
    missing = sorted({event for event in events if EVENT_PERMISSION.get(event) not in PERMISSIONS})
    if missing:
        raise ManifestError(f"no permission in PERMISSIONS lets GitHub deliver: {', '.join(missing)} "
                            "(add it to EVENT_PERMISSION and PERMISSIONS in infra/manifests.py)")
    return {
        "name": "petrel",
        "description": "Reviews pull requests, summarizes them, triages issues and answers commands in comments.",
        "url": "https://petrel.example.com",
        "hook_attributes": {"url": "https://petrel.example.com/webhook", "active": True},
        "redirect_url": "http://localhost:8080/",
        "public": False,
        "default_permissions": dict(PERMISSIONS),
        "default_events": events,
    }


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
        "infra/knative/settings.yaml": _yaml([settings_config_map()], _comment(
            "Non-secret settings, read by every function (envFrom). The values are Petrel's defaults;\n"
            "README.md's Settings table lists the others. A pod reads them when it starts; after an edit:\n"
            "  kubectl -n petrel delete pod -l app.kubernetes.io/part-of=petrel")),
        "infra/knative/broker.yaml": _yaml([dead_letter_service(), broker()], _comment(
            "The broker (multi-tenant, channel based; the channel is the cluster's default, InMemoryChannel\n"
            "unless configured otherwise) and its dead-letter sink: a small Service that logs each event the\n"
            "broker gave up on, with the knativeerrordest, knativeerrorcode and knativeerrordata attributes.\n"
            "Its delivery policy applies to every Trigger.")),
        "infra/knative/services.yaml": _yaml([function_service(name) for name in names], _comment(
            "One Knative Service per function. Replace the image placeholders when applying:\n"
            "  sed \"s|image: REGISTRY/\\(.*\\):VERSION\\$|image: $REGISTRY/\\1:$VERSION|\" infra/knative/services.yaml \\\n"
            "    | kubectl apply -f -")),
        "infra/knative/triggers.yaml": _yaml(triggers(table), _comment(
            "One Trigger per (function, subscription): the exact CloudEvent type, delivered to that function.")),
        "infra/knative/sinkbinding.yaml": _yaml([sink_binding()]),
        "infra/knative/templates/secret.yaml": _yaml([secret_template()], _comment(
            "A template, never applied: the keys of the Secret `petrel`. Create it with kubectl\n"
            "(docs/deploy.md), so that no value is ever written in this repository:\n"
            + "\n".join(f"  {key}: {meaning}" for key, meaning in SECRET_KEYS.items()))),
        "infra/gcp/deploy.sh": deploy_script(names),
        "infra/gcp/cloudrun.sh": cloudrun_script(table),
        "app.yml": HEADER + _comment(
            "The GitHub App manifest (GitHub's manifest flow, Probot's app.yml). Register the App from it:\n"
            "  python infra/manifests.py --app-form https://YOUR-HOST/webhook > register-petrel.html\n"
            "then open that file and press the button (docs/deploy.md). Installation events reach every App\n"
            "without being listed.") + yaml.safe_dump(app, sort_keys=False, width=110),
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


def app_form(webhook_url: str, org: str | None = None, name: str | None = None, homepage: str | None = None) -> str:
    """An HTML page whose button POSTs app.yml's manifest to GitHub's manifest flow."""
    manifest = yaml.safe_load((ROOT / "app.yml").read_text(encoding="utf-8"))
    manifest["hook_attributes"]["url"] = webhook_url
    if name:
        manifest["name"] = name
    if homepage:
        manifest["url"] = homepage
    action = (f"https://github.com/organizations/{org}/settings/apps/new" if org
              else "https://github.com/settings/apps/new")
    return ("<!doctype html>\n<meta charset=\"utf-8\">\n<title>Register a Petrel GitHub App</title>\n"
            f"<form action=\"{html.escape(action)}\" method=\"post\">\n"
            f"  <input type=\"hidden\" name=\"manifest\" value=\"{html.escape(json.dumps(manifest))}\">\n"
            f"  <p>Webhook: {html.escape(webhook_url)}</p>\n"
            f"  <button type=\"submit\">Register {html.escape(manifest['name'])} on GitHub</button>\n"
            "</form>\n")


def deploy_script(names: list[str]) -> str:
    required = [key for key in SECRET_KEYS if key not in OPTIONAL_SECRETS]
    optional = [key for key in SECRET_KEYS if key in OPTIONAL_SECRETS]
    return _fill(DEPLOY_SH, {
        "FUNCTIONS": " ".join(names), "REQUIRED_SECRETS": " ".join(required), "OPTIONAL_SECRETS": " ".join(optional),
        "KNATIVE_VERSION": KNATIVE_VERSION, "NAMESPACE": NAMESPACE, "SECRET": SECRET, "BROKER": BROKER,
        "WEBHOOK": service_name(WEBHOOK), "HEADER": HEADER.rstrip("\n"),
    })


def _fill(template: str, values: dict[str, str]) -> str:
    """A script template with each @NAME@ replaced, in the order given."""
    for name, value in values.items():
        template = template.replace(f"@{name}@", value)
    return template


DEPLOY_SH = r"""#!/usr/bin/env bash
@HEADER@
#
# Petrel on Google Cloud: Google Kubernetes Engine running Knative Serving and Eventing, with the
# manifests of infra/knative/, images in Artifact Registry, secrets from Secret Manager, and a
# Postgres with pgvector (Cloud SQL). docs/deploy.md says what must exist first. Cloud Run with
# Pub/Sub instead of a cluster is infra/gcp/cloudrun.sh.
#
#   PROJECT=my-project VERSION=0.1.0 infra/gcp/deploy.sh
#
# Environment: PROJECT and VERSION (the image tag) are required. REGION (us-central1), ZONE
# (REGION-a), CLUSTER (petrel) and REPOSITORY (petrel, in Artifact Registry) have defaults.
# SKIP_BUILD=1 deploys images already pushed instead of building them with docker.
set -euo pipefail
cd "$(dirname "$0")/../.."

: "${PROJECT:?set PROJECT to the Google Cloud project id}"
: "${VERSION:?set VERSION to the image tag to deploy, e.g. 0.1.0}"
REGION="${REGION:-us-central1}"
ZONE="${ZONE:-${REGION}-a}"
CLUSTER="${CLUSTER:-petrel}"
REPOSITORY="${REPOSITORY:-petrel}"
REGISTRY="${REGION}-docker.pkg.dev/${PROJECT}/${REPOSITORY}"
KNATIVE="knative-v@KNATIVE_VERSION@"
NAMESPACE="@NAMESPACE@"
FUNCTIONS=(@FUNCTIONS@)
REQUIRED_SECRETS=(@REQUIRED_SECRETS@)
OPTIONAL_SECRETS=(@OPTIONAL_SECRETS@)

step() { printf '\n==> %s\n' "$*"; }
fail() { printf 'deploy.sh: %s\n' "$*" >&2; exit 1; }
# The Secret Manager secret that holds a key of the Secret: GITHUB_APP_ID -> petrel-github-app-id
secret_id() { printf 'petrel-%s' "$(printf '%s' "$1" | tr 'A-Z_' 'a-z-')"; }
has_secret() { gcloud secrets describe "$(secret_id "$1")" --project "$PROJECT" >/dev/null 2>&1; }

step "Checking what must exist first"
for tool in gcloud kubectl; do command -v "$tool" >/dev/null || fail "$tool is not installed"; done
if [ -z "${SKIP_BUILD:-}" ]; then
  command -v docker >/dev/null || fail "docker is not installed (or set SKIP_BUILD=1 to deploy images already pushed)"
fi
gcloud projects describe "$PROJECT" --format='value(projectId)' >/dev/null || fail "no project $PROJECT, or no access to it"
enabled=$(gcloud services list --enabled --project "$PROJECT" --format='value(config.name)')
for api in container.googleapis.com artifactregistry.googleapis.com secretmanager.googleapis.com; do
  grep -qx "$api" <<<"$enabled" || fail "the $api API is not enabled: gcloud services enable $api --project $PROJECT"
done
for key in "${REQUIRED_SECRETS[@]}"; do
  has_secret "$key" || fail "Secret Manager has no secret $(secret_id "$key") holding $key (docs/deploy.md)"
done

step "Artifact Registry repository $REPOSITORY in $REGION"
if ! gcloud artifacts repositories describe "$REPOSITORY" --location "$REGION" --project "$PROJECT" >/dev/null 2>&1; then
  gcloud artifacts repositories create "$REPOSITORY" --repository-format docker --location "$REGION" --project "$PROJECT"
fi
project_number=$(gcloud projects describe "$PROJECT" --format='value(projectNumber)')
# the cluster's nodes run as the Compute Engine default service account, and pull from here
gcloud artifacts repositories add-iam-policy-binding "$REPOSITORY" --location "$REGION" --project "$PROJECT" \
  --member "serviceAccount:${project_number}-compute@developer.gserviceaccount.com" \
  --role roles/artifactregistry.reader >/dev/null

if [ -z "${SKIP_BUILD:-}" ]; then
  step "Building and pushing one image per function ($VERSION)"
  gcloud auth configure-docker "${REGION}-docker.pkg.dev" --quiet
  make package
  for name in "${FUNCTIONS[@]}"; do
    docker build --platform linux/amd64 --build-arg FUNCTION="$name" -t "$REGISTRY/petrel-$name:$VERSION" .
    docker push "$REGISTRY/petrel-$name:$VERSION"
  done
fi
for name in "${FUNCTIONS[@]}"; do
  gcloud artifacts docker images describe "$REGISTRY/petrel-$name:$VERSION" >/dev/null 2>&1 \
    || fail "no image $REGISTRY/petrel-$name:$VERSION in Artifact Registry"
done

step "GKE cluster $CLUSTER in $ZONE"
if ! gcloud container clusters describe "$CLUSTER" --zone "$ZONE" --project "$PROJECT" >/dev/null 2>&1; then
  gcloud container clusters create "$CLUSTER" --zone "$ZONE" --project "$PROJECT" \
    --machine-type e2-standard-2 --num-nodes 2 --enable-autoscaling --min-nodes 1 --max-nodes 4
fi
gcloud container clusters get-credentials "$CLUSTER" --zone "$ZONE" --project "$PROJECT"

step "Knative Serving with Kourier, Knative Eventing with the channel-based broker ($KNATIVE)"
kubectl apply -f "https://github.com/knative/serving/releases/download/$KNATIVE/serving-crds.yaml"
kubectl apply -f "https://github.com/knative/serving/releases/download/$KNATIVE/serving-core.yaml"
kubectl apply -f "https://github.com/knative/net-kourier/releases/download/$KNATIVE/kourier.yaml"
kubectl patch configmap/config-network -n knative-serving --type merge \
  -p '{"data":{"ingress-class":"kourier.ingress.networking.knative.dev"}}'
kubectl apply -f "https://github.com/knative/serving/releases/download/$KNATIVE/serving-default-domain.yaml"
kubectl apply -f "https://github.com/knative/eventing/releases/download/$KNATIVE/eventing-crds.yaml"
kubectl apply -f "https://github.com/knative/eventing/releases/download/$KNATIVE/eventing-core.yaml"
kubectl apply -f "https://github.com/knative/eventing/releases/download/$KNATIVE/in-memory-channel.yaml"
kubectl apply -f "https://github.com/knative/eventing/releases/download/$KNATIVE/mt-channel-broker.yaml"
for ns in knative-serving kourier-system knative-eventing; do
  kubectl wait --for=condition=Available deployment --all -n "$ns" --timeout=300s
done

step "Namespace, settings, and the Secret @SECRET@ from Secret Manager"
kubectl apply -f infra/knative/namespace.yaml
# The values go from gcloud through base64 into kubectl's stdin: never on disk, never in argv.
secret_json=$(printf '{"apiVersion":"v1","kind":"Secret","type":"Opaque","metadata":{"name":"@SECRET@","namespace":"%s"},"data":{' "$NAMESPACE")
separator=""
for key in "${REQUIRED_SECRETS[@]}" "${OPTIONAL_SECRETS[@]}"; do
  has_secret "$key" || continue
  value=$(gcloud secrets versions access latest --secret "$(secret_id "$key")" --project "$PROJECT" | base64 | tr -d '\n') \
    || fail "cannot read $(secret_id "$key"): you need roles/secretmanager.secretAccessor on it"
  secret_json+=$(printf '%s"%s":"%s"' "$separator" "$key" "$value")
  separator=","
done
printf '%s}}\n' "$secret_json" | kubectl apply --server-side --force-conflicts -f -
unset secret_json value
kubectl apply -f infra/knative/settings.yaml

step "Broker, Services, Triggers, SinkBinding"
kubectl apply -f infra/knative/broker.yaml
kubectl -n "$NAMESPACE" wait --for=condition=Ready broker/@BROKER@ --timeout=300s
sed "s|image: REGISTRY/\(.*\):VERSION\$|image: $REGISTRY/\1:$VERSION|" infra/knative/services.yaml | kubectl apply -f -
kubectl -n "$NAMESPACE" wait --for=condition=Ready ksvc --all --timeout=300s
kubectl apply -f infra/knative/triggers.yaml
kubectl apply -f infra/knative/sinkbinding.yaml
kubectl -n "$NAMESPACE" wait --for=condition=Ready sinkbinding/@WEBHOOK@ --timeout=300s
kubectl -n "$NAMESPACE" wait --for=condition=Ready trigger --all --timeout=300s
kubectl -n "$NAMESPACE" wait --for=condition=Ready ksvc/@WEBHOOK@ --timeout=300s

sink=$(kubectl -n "$NAMESPACE" get ksvc @WEBHOOK@ -o jsonpath='{.spec.template.spec.containers[0].env[?(@.name=="K_SINK")].value}')
[ -n "$sink" ] || fail "the webhook has no K_SINK yet: kubectl -n $NAMESPACE describe sinkbinding @WEBHOOK@"
url=$(kubectl -n "$NAMESPACE" get ksvc @WEBHOOK@ -o jsonpath='{.status.url}')
step "Done. The webhook posts to $sink"
echo "Webhook URL for the GitHub App: $url/webhook"
"""


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
    rows = [(function, dns_name("petrel", function, name), pubsub_filter(name))
            for function in sorted(table) for name in table[function]]
    names = [row[1] for row in rows]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ManifestError(f"two subscriptions make the same Pub/Sub subscription name: {', '.join(duplicates)}")
    return rows


def cloudrun_script(table: dict[str, tuple[str, ...]]) -> str:
    names = functions(table)
    required = [key for key in SECRET_KEYS if key not in OPTIONAL_SECRETS]
    optional = [key for key in SECRET_KEYS if key in OPTIONAL_SECRETS]
    services = []
    for function in names:
        size = SIZING.get(function, DEFAULT_SIZING)
        secrets = WEBHOOK_SECRETS if function == WEBHOOK else FUNCTION_SECRETS
        services.append(f"deploy_service {function} {size.concurrency} {size.timeout} {size.memory[1]} "
                        f"{size.min_scale} {size.max_scale} {','.join(secrets)}")
    subs = [f"subscribe {function} {name} '{where}'" for function, name, where in push_subscriptions(table)]
    settings_env = ",".join(f"{key}={value}" for key, value in SETTINGS_DEFAULTS.items() if value)
    return _fill(CLOUDRUN_SH, {
        "FUNCTIONS": " ".join(names), "REQUIRED_SECRETS": " ".join(required), "OPTIONAL_SECRETS": " ".join(optional),
        "SETTINGS_ENV": settings_env, "TOPIC": TOPIC, "DEAD_LETTER_TOPIC": DEAD_LETTER_TOPIC,
        "MAX_DELIVERY_ATTEMPTS": str(PUSH_DELIVERY["max_delivery_attempts"]),
        "MIN_RETRY_DELAY": PUSH_DELIVERY["min_retry_delay"], "MAX_RETRY_DELAY": PUSH_DELIVERY["max_retry_delay"],
        "WEBHOOK": service_name(WEBHOOK), "SERVICES": "\n".join(services), "SUBSCRIPTIONS": "\n".join(subs),
        "HEADER": HEADER.rstrip("\n"),
    })


CLOUDRUN_SH = r"""#!/usr/bin/env bash
@HEADER@
#
# Petrel on Cloud Run with Pub/Sub: the webhook stores each delivery and publishes it once to the
# topic @TOPIC@ (PETREL_PUBSUB_TOPIC); each function is a Cloud Run service that receives, through an
# authenticated push subscription filtered on the message's `type` attribute, the events it
# subscribes to. Retries, then the dead-letter topic @DEAD_LETTER_TOPIC@. docs/deploy.md says what
# must exist first (the secrets in Secret Manager, a Postgres with pgvector) and what was tested.
#
#   PROJECT=my-project VERSION=0.1.0 infra/gcp/cloudrun.sh
#
# Environment: PROJECT and VERSION (the image tag) are required. REGION (us-central1) and REPOSITORY
# (petrel, in Artifact Registry) have defaults. NETWORK and SUBNET: a VPC network and subnet for
# Direct VPC egress, to reach a Cloud SQL private IP. SKIP_BUILD=1 deploys images already pushed.
set -euo pipefail
cd "$(dirname "$0")/../.."

: "${PROJECT:?set PROJECT to the Google Cloud project id}"
: "${VERSION:?set VERSION to the image tag to deploy, e.g. 0.1.0}"
REGION="${REGION:-us-central1}"
REPOSITORY="${REPOSITORY:-petrel}"
REGISTRY="${REGION}-docker.pkg.dev/${PROJECT}/${REPOSITORY}"
TOPIC="@TOPIC@"
DEAD_LETTER_TOPIC="@DEAD_LETTER_TOPIC@"
FUNCTIONS=(@FUNCTIONS@)
REQUIRED_SECRETS=(@REQUIRED_SECRETS@)
OPTIONAL_SECRETS=(@OPTIONAL_SECRETS@)
SETTINGS_ENV="@SETTINGS_ENV@"

step() { printf '
==> %s
' "$*"; }
fail() { printf 'cloudrun.sh: %s
' "$*" >&2; exit 1; }
secret_id() { printf 'petrel-%s' "$(printf '%s' "$1" | tr 'A-Z_' 'a-z-')"; }
has_secret() { gcloud secrets describe "$(secret_id "$1")" --project "$PROJECT" >/dev/null 2>&1; }
exists() { "$@" --project "$PROJECT" >/dev/null 2>&1; }

step "Checking what must exist first"
command -v gcloud >/dev/null || fail "gcloud is not installed"
if [ -z "${SKIP_BUILD:-}" ]; then
  command -v docker >/dev/null || fail "docker is not installed (or set SKIP_BUILD=1 to deploy images already pushed)"
fi
gcloud projects describe "$PROJECT" --format='value(projectId)' >/dev/null || fail "no project $PROJECT, or no access to it"
enabled=$(gcloud services list --enabled --project "$PROJECT" --format='value(config.name)')
for api in run.googleapis.com pubsub.googleapis.com artifactregistry.googleapis.com secretmanager.googleapis.com iam.googleapis.com; do
  grep -qx "$api" <<<"$enabled" || fail "the $api API is not enabled: gcloud services enable $api --project $PROJECT"
done
for key in "${REQUIRED_SECRETS[@]}"; do
  has_secret "$key" || fail "Secret Manager has no secret $(secret_id "$key") holding $key (docs/deploy.md)"
done
project_number=$(gcloud projects describe "$PROJECT" --format='value(projectNumber)')
PUBSUB_AGENT="serviceAccount:service-${project_number}@gcp-sa-pubsub.iam.gserviceaccount.com"
RUNNER="petrel-run@${PROJECT}.iam.gserviceaccount.com"  # what the services run as
PUSHER="petrel-push@${PROJECT}.iam.gserviceaccount.com"  # what push subscriptions call them as

step "Service accounts"
exists gcloud iam service-accounts describe "$RUNNER"   || gcloud iam service-accounts create petrel-run --display-name "Petrel services" --project "$PROJECT"
exists gcloud iam service-accounts describe "$PUSHER"   || gcloud iam service-accounts create petrel-push --display-name "Petrel Pub/Sub push" --project "$PROJECT"
for key in "${REQUIRED_SECRETS[@]}" "${OPTIONAL_SECRETS[@]}"; do
  has_secret "$key" || continue
  gcloud secrets add-iam-policy-binding "$(secret_id "$key")" --project "$PROJECT"     --member "serviceAccount:$RUNNER" --role roles/secretmanager.secretAccessor >/dev/null
done
# Pub/Sub signs the push requests' identity tokens as PUSHER
gcloud iam service-accounts add-iam-policy-binding "$PUSHER" --project "$PROJECT"   --member "$PUBSUB_AGENT" --role roles/iam.serviceAccountTokenCreator >/dev/null

step "Artifact Registry repository $REPOSITORY in $REGION"
exists gcloud artifacts repositories describe "$REPOSITORY" --location "$REGION"   || gcloud artifacts repositories create "$REPOSITORY" --repository-format docker --location "$REGION" --project "$PROJECT"
if [ -z "${SKIP_BUILD:-}" ]; then
  step "Building and pushing one image per function ($VERSION)"
  gcloud auth configure-docker "${REGION}-docker.pkg.dev" --quiet
  make package
  for name in "${FUNCTIONS[@]}"; do
    docker build --platform linux/amd64 --build-arg FUNCTION="$name" -t "$REGISTRY/petrel-$name:$VERSION" .
    docker push "$REGISTRY/petrel-$name:$VERSION"
  done
fi
for name in "${FUNCTIONS[@]}"; do
  gcloud artifacts docker images describe "$REGISTRY/petrel-$name:$VERSION" >/dev/null 2>&1     || fail "no image $REGISTRY/petrel-$name:$VERSION in Artifact Registry"
done

step "Topics $TOPIC and $DEAD_LETTER_TOPIC"
exists gcloud pubsub topics describe "$TOPIC" || gcloud pubsub topics create "$TOPIC" --project "$PROJECT"
exists gcloud pubsub topics describe "$DEAD_LETTER_TOPIC" || gcloud pubsub topics create "$DEAD_LETTER_TOPIC" --project "$PROJECT"
# dead letters are kept 7 days: gcloud pubsub subscriptions pull $DEAD_LETTER_TOPIC --limit 10
exists gcloud pubsub subscriptions describe "$DEAD_LETTER_TOPIC"   || gcloud pubsub subscriptions create "$DEAD_LETTER_TOPIC" --topic "$DEAD_LETTER_TOPIC"        --message-retention-duration 7d --project "$PROJECT"
gcloud pubsub topics add-iam-policy-binding "$TOPIC" --project "$PROJECT"   --member "serviceAccount:$RUNNER" --role roles/pubsub.publisher >/dev/null
gcloud pubsub topics add-iam-policy-binding "$DEAD_LETTER_TOPIC" --project "$PROJECT"   --member "$PUBSUB_AGENT" --role roles/pubsub.publisher >/dev/null

# deploy_service FUNCTION CONCURRENCY TIMEOUT MEMORY MIN MAX SECRETS
deploy_service() {
  local name=$1 concurrency=$2 timeout=$3 memory=$4 min=$5 max=$6 keys=$7 secrets="" key
  for key in ${keys//,/ }; do
    has_secret "$key" && secrets+="${secrets:+,}$key=$(secret_id "$key"):latest"
  done
  local flags=(--image "$REGISTRY/petrel-$name:$VERSION" --region "$REGION" --project "$PROJECT"
               --service-account "$RUNNER" --concurrency "$concurrency" --timeout "$timeout" --memory "$memory"
               --cpu 1 --min-instances "$min" --max-instances "$max" --set-secrets "$secrets"
               --set-env-vars "THREADS=$concurrency,$SETTINGS_ENV")
  if [ "$name" = webhook ]; then
    flags+=(--allow-unauthenticated --update-env-vars "PETREL_PUBSUB_TOPIC=projects/$PROJECT/topics/$TOPIC")
  else
    flags+=(--no-allow-unauthenticated --ingress all)
  fi
  if [ -n "${NETWORK:-}" ]; then
    flags+=(--network "$NETWORK" --subnet "${SUBNET:-$NETWORK}" --vpc-egress private-ranges-only)
  fi
  gcloud run deploy "petrel-${name//_/-}" "${flags[@]}" --quiet
  if [ "$name" != webhook ]; then
    gcloud run services add-iam-policy-binding "petrel-${name//_/-}" --region "$REGION" --project "$PROJECT"       --member "serviceAccount:$PUSHER" --role roles/run.invoker >/dev/null
  fi
}

# subscribe FUNCTION SUBSCRIPTION FILTER: an authenticated push subscription for one type
WANTED=()
subscribe() {
  local name=$1 subscription=$2 filter=$3 url
  url=$(gcloud run services describe "petrel-${name//_/-}" --region "$REGION" --project "$PROJECT" --format='value(status.url)')
  local flags=(--push-endpoint "$url/" --push-auth-service-account "$PUSHER" --ack-deadline 600
               --max-delivery-attempts @MAX_DELIVERY_ATTEMPTS@ --dead-letter-topic "$DEAD_LETTER_TOPIC"
               --min-retry-delay @MIN_RETRY_DELAY@ --max-retry-delay @MAX_RETRY_DELAY@ --project "$PROJECT")
  WANTED+=("$subscription")
  if exists gcloud pubsub subscriptions describe "$subscription"; then
    # a filter cannot be changed: a different one means the subscription must be made again
    current=$(gcloud pubsub subscriptions describe "$subscription" --project "$PROJECT" --format='value(filter)')
    [ "$current" = "$filter" ] || fail "subscription $subscription filters on '$current', not '$filter': delete it and run again"
    gcloud pubsub subscriptions update "$subscription" "${flags[@]}" >/dev/null
  else
    gcloud pubsub subscriptions create "$subscription" --topic "$TOPIC" --message-filter="$filter" "${flags[@]}"
  fi
  gcloud pubsub subscriptions add-iam-policy-binding "$subscription" --project "$PROJECT"     --member "$PUBSUB_AGENT" --role roles/pubsub.subscriber >/dev/null
}

step "One Cloud Run service per function"
@SERVICES@

step "One push subscription per (function, subscription)"
@SUBSCRIPTIONS@

step "Removing subscriptions of $TOPIC that no function has any more"
for path in $(gcloud pubsub topics list-subscriptions "$TOPIC" --project "$PROJECT" --format='value(.)'); do
  subscription=${path##*/}
  [[ " ${WANTED[*]} " == *" $subscription "* ]] || gcloud pubsub subscriptions delete "$subscription" --project "$PROJECT" --quiet
done

url=$(gcloud run services describe @WEBHOOK@ --region "$REGION" --project "$PROJECT" --format='value(status.url)')
step "Done. The webhook publishes to projects/$PROJECT/topics/$TOPIC"
echo "Webhook URL for the GitHub App: $url/webhook"
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when a committed file differs")
    parser.add_argument("--app-form", metavar="WEBHOOK_URL",
                        help="print an HTML page that registers the App from app.yml with this webhook URL")
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
