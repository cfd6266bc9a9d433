"""The deploy manifests (infra/manifests.py): current, complete, valid, and free of secrets.

The Knative objects are checked against a small schema written from the Knative API reference
(serving.knative.dev/v1 Service, eventing.knative.dev/v1 Broker and Trigger, sources.knative.dev/v1
SinkBinding; the container fields are the ones Knative's webhook allows). Where the cloudcoil
models of Knative's CRDs are installed, they check the same objects offline, field by field.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser

import pytest
import yaml
from conftest import ROOT

sys.path.insert(0, str(ROOT / "infra"))
import gcp_scripts  # noqa: E402
import github_app  # noqa: E402
import knative_objects  # noqa: E402
import manifests  # noqa: E402

from shared.pipeline import (
    events,  # noqa: E402
    subscriptions,
)
from shared.runtime import settings

KNATIVE = ROOT / "infra" / "knative"
APPLIED = ("namespace.yaml", "settings.yaml", "broker.yaml", "services.yaml", "triggers.yaml", "sinkbinding.yaml")
LOOKS_SECRET = re.compile(r"SECRET|TOKEN|PASSWORD|PRIVATE|_KEY$|DATABASE_URL")
SECRET_LITERAL = re.compile(r"gh[pousr]_[A-Za-z0-9]{20,}|sk-[A-Za-z0-9_-]{20,}|-----BEGIN [A-Z ]*PRIVATE KEY-----")


def load(name: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all((KNATIVE / name).read_text(encoding="utf-8")) if doc is not None]


def objects() -> list[dict]:
    return [doc for name in APPLIED + ("templates/secret.yaml",) for doc in load(name)]


def of_kind(kind: str) -> list[dict]:
    return [doc for doc in objects() if doc["kind"] == kind]


def deployed_functions() -> list[str]:
    return sorted(path.parent.name for path in (ROOT / "functions").glob("*/main.py"))


# --- the files are generated, and current --------------------------------------------------------


def test_committed_files_are_what_the_generator_writes():
    result = subprocess.run(
        [sys.executable, str(ROOT / "infra" / "manifests.py"), "--check"], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr


def test_check_names_each_stale_or_missing_file(tmp_path):
    files = manifests.render()
    manifests.write(tmp_path, files)
    assert manifests.stale(tmp_path, files) == []

    triggers = tmp_path / "infra/knative/triggers.yaml"
    triggers.write_text(triggers.read_text().replace("issues.opened", "issues.reopened", 1))
    (tmp_path / "app.yml").unlink()
    (tmp_path / "infra/gcp/deploy.sh").chmod(0o644)
    assert manifests.stale(tmp_path, files) == [
        "infra/knative/triggers.yaml",
        "infra/gcp/deploy.sh (not executable)",
        "app.yml",
    ]


def test_a_new_subscription_changes_the_manifests(tmp_path):
    functions_dir = tmp_path / "functions"
    shutil.copytree(ROOT / "functions", functions_dir, ignore=shutil.ignore_patterns("__pycache__"))
    main = functions_dir / "issue_triage" / "main.py"
    main.write_text(
        main.read_text().replace('SUBSCRIBES = ("issues.opened",)', 'SUBSCRIBES = ("issues.opened", "issues.reopened")')
    )
    table = subscriptions.table(functions_dir)
    assert table["issue_triage"] == ("issues.opened", "issues.reopened")

    files = manifests.render(table)
    assert "com.github.issues.reopened" in files["infra/knative/triggers.yaml"]
    assert 'attributes.type = "com.github.issues.reopened"' in files["infra/gcp/cloudrun.sh"]
    assert manifests.stale(files=files) == ["infra/knative/triggers.yaml", "infra/gcp/cloudrun.sh"]


# --- triggers: one per subscription, the type the webhook sends -----------------------------------


def test_every_subscription_has_exactly_one_trigger_with_its_type_and_subscriber():
    triggers = of_kind("Trigger")
    table = subscriptions.table()
    assert table, "no function subscribes to anything"
    assert len(triggers) == sum(len(names) for names in table.values())
    for function, names in table.items():
        for name in names:
            event, _, action = name.partition(".")
            delivery = events.Delivery("d-1", event, action or None, 1, "o/r", {}, "{}")
            wanted = events.cloudevent_attributes(delivery)["type"]
            matching = [
                t
                for t in triggers
                if t["spec"]["filter"]["attributes"] == {"type": wanted}
                and t["spec"]["subscriber"]["ref"]
                == {
                    "apiVersion": "serving.knative.dev/v1",
                    "kind": "Service",
                    "name": knative_objects.service_name(function),
                }
            ]
            assert len(matching) == 1, f"{function} {name}: {len(matching)} triggers"
            assert matching[0]["spec"]["broker"] == knative_objects.BROKER


def test_a_whole_event_without_action_filters_on_exactly_its_type():
    [push] = knative_objects.triggers({"memory_indexer": ("push",)})
    assert push["spec"]["filter"] == {"attributes": {"type": "com.github.push"}}
    assert [t["spec"]["filter"]["attributes"]["type"] for t in of_kind("Trigger")].count("com.github.push") == sum(
        "push" in names for names in subscriptions.table().values()
    )


def test_a_whole_event_with_actions_is_refused_not_silently_unmatched():
    with pytest.raises(knative_objects.ManifestError, match="issues.<action>"):
        knative_objects.triggers({"issue_triage": ("issues",)})


def test_long_names_stay_valid_and_distinct():
    a = knative_objects.dns_name("petrel", "memory_indexer", "pull_request_review_thread.resolved_and_some_more_words")
    b = knative_objects.dns_name("petrel", "memory_indexer", "pull_request_review_thread.resolved_and_some_more_wordz")
    assert len(a) <= 63 and len(b) <= 63 and a != b
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", a)


# --- services -----------------------------------------------------------------------------------


def test_one_service_per_function_with_its_image_and_scale_to_zero():
    services = {
        s["metadata"]["name"]: s for s in of_kind("Service") if s["metadata"]["name"] != knative_objects.DEAD_LETTER
    }
    assert sorted(services) == sorted(knative_objects.service_name(f) for f in deployed_functions())
    for function in deployed_functions():
        service = services[knative_objects.service_name(function)]
        template = service["spec"]["template"]
        [container] = template["spec"]["containers"]
        assert container["image"] == f"REGISTRY/petrel-{function}:VERSION"
        annotations = template["metadata"]["annotations"]
        assert annotations["autoscaling.knative.dev/class"] == "kpa.autoscaling.knative.dev"
        assert int(annotations["autoscaling.knative.dev/max-scale"]) >= 1
        env = {e["name"]: e for e in container["env"]}
        assert env["THREADS"]["value"] == str(template["spec"]["containerConcurrency"])
        assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
            "name": knative_objects.SECRET,
            "key": "DATABASE_URL",
        }
        labels = service["metadata"]["labels"]
        if function == knative_objects.WEBHOOK:
            assert "networking.knative.dev/visibility" not in labels  # GitHub must reach it
            assert "GITHUB_WEBHOOK_SECRET" in env and "GITHUB_PRIVATE_KEY" not in env and "OPENAI_API_KEY" not in env
            assert "K_SINK" not in env  # the SinkBinding injects it
        else:
            assert labels["networking.knative.dev/visibility"] == "cluster-local"
            assert annotations["autoscaling.knative.dev/min-scale"] == "0"
            assert {"GITHUB_APP_ID", "GITHUB_PRIVATE_KEY", "OPENAI_API_KEY"} <= set(env)
            assert "GITHUB_WEBHOOK_SECRET" not in env


def test_broker_retries_exponentially_then_dead_letters_to_a_service_it_ships_with():
    [broker] = of_kind("Broker")
    delivery = broker["spec"]["delivery"]
    assert delivery["backoffPolicy"] == "exponential" and delivery["retry"] >= 1
    sink = delivery["deadLetterSink"]["ref"]
    assert sink == {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": knative_objects.DEAD_LETTER}
    assert [s["metadata"]["name"] for s in load("broker.yaml") if s["kind"] == "Service"] == [
        knative_objects.DEAD_LETTER
    ]
    assert "@sha256:" in knative_objects.DEAD_LETTER_IMAGE  # pinned


def test_sinkbinding_gives_the_webhook_the_broker():
    [binding] = of_kind("SinkBinding")
    assert binding["spec"]["subject"] == {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "name": knative_objects.service_name("webhook"),
    }
    assert binding["spec"]["sink"] == {
        "ref": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "name": knative_objects.BROKER}
    }


# --- secrets ------------------------------------------------------------------------------------


def test_no_secret_value_is_inlined_anywhere():
    for document in objects():
        for container in document.get("spec", {}).get("template", {}).get("spec", {}).get("containers") or []:
            for variable in container.get("env", []):
                if LOOKS_SECRET.search(variable["name"]):
                    assert "value" not in variable, variable
                    assert set(variable["valueFrom"]) == {"secretKeyRef"}, variable
                    assert variable["valueFrom"]["secretKeyRef"]["name"] == knative_objects.SECRET
        if document["kind"] == "ConfigMap":
            assert not [key for key in document["data"] if LOOKS_SECRET.search(key)]
    [template] = of_kind("Secret")
    assert set(template["stringData"].values()) == {""} and "data" not in template
    for path, text in manifests.render().items():
        assert not SECRET_LITERAL.search(text), path


def test_every_secret_reference_is_a_key_of_the_template_and_a_setting_petrel_reads():
    [template] = of_kind("Secret")
    referenced = {
        variable["valueFrom"]["secretKeyRef"]["key"]
        for service in of_kind("Service")
        for container in service["spec"]["template"]["spec"]["containers"]
        for variable in container.get("env", [])
        if "valueFrom" in variable
    }
    assert referenced == set(template["stringData"]) == set(knative_objects.SECRET_KEYS)
    assert referenced <= set(settings.KNOWN)


def test_the_settings_config_map_holds_petrels_own_defaults():
    [config] = of_kind("ConfigMap")
    defaults = settings.from_env({})
    configured = settings.from_env(config["data"])
    for field in defaults.__dataclass_fields__:
        if field != "raw":
            assert getattr(configured, field) == getattr(defaults, field), field


# --- a schema written from the Knative API reference ----------------------------------------------


def check(value, schema: dict, path: str = "") -> list[str]:
    """The errors of `value` against a small subset of JSON Schema."""
    kind = schema.get("type")
    types = {"object": dict, "array": list, "string": str, "integer": int, "boolean": bool}
    if kind and (not isinstance(value, types[kind]) or (kind == "integer" and isinstance(value, bool))):
        return [f"{path or '/'}: expected {kind}, got {type(value).__name__} {value!r}"]
    errors = []
    if "const" in schema and value != schema["const"]:
        errors.append(f"{path}: expected {schema['const']!r}, got {value!r}")
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} not one of {schema['enum']}")
    if "pattern" in schema and not re.fullmatch(schema["pattern"], value):
        errors.append(f"{path}: {value!r} does not match {schema['pattern']}")
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        errors.append(f"{path}: longer than {schema['maxLength']}")
    if "minimum" in schema and value < schema["minimum"] or "maximum" in schema and value > schema["maximum"]:
        errors.append(f"{path}: {value} out of [{schema.get('minimum')}, {schema.get('maximum')}]")
    if kind == "array":
        if not schema.get("minItems", 0) <= len(value) <= schema.get("maxItems", len(value)):
            errors.append(f"{path}: {len(value)} items")
        for index, item in enumerate(value):
            errors += check(item, schema.get("items", {}), f"{path}/{index}")
    if kind == "object":
        errors += [f"{path}/{key}: required" for key in schema.get("required", ()) if key not in value]
        if "oneOf" in schema and sum(all(k in value for k in keys) for keys in schema["oneOf"]) != 1:
            errors.append(f"{path}: exactly one of {schema['oneOf']}")
        properties, extra = schema.get("properties", {}), schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in properties:
                errors += check(item, properties[key], f"{path}/{key}")
            elif extra is False:
                errors.append(f"{path}/{key}: not a field of this object")
            elif isinstance(extra, dict):
                errors += check(item, extra, f"{path}/{key}")
    return errors


def obj(properties: dict, required=(), **more) -> dict:
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
        **more,
    }


STRING = {"type": "string"}
NAME = {"type": "string", "pattern": r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", "maxLength": 63}
STRINGS = {"type": "object", "additionalProperties": STRING}
DURATION = {"type": "string", "pattern": r"PT(\d+H)?(\d+M)?(\d+(\.\d+)?S)?"}
QUANTITY = {"type": "string", "pattern": r"\d+(\.\d+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?"}
SCALE = {"type": "string", "pattern": r"\d+"}
METADATA = obj(
    {"name": NAME, "namespace": {"const": knative_objects.NAMESPACE}, "labels": STRINGS, "annotations": STRINGS},
    ["name", "namespace"],
)
KREFERENCE = obj({"apiVersion": STRING, "kind": STRING, "name": NAME}, ["apiVersion", "kind", "name"])
DESTINATION = obj({"ref": KREFERENCE, "uri": STRING}, oneOf=[["ref"], ["uri"]])
DELIVERY_SPEC = obj(
    {
        "deadLetterSink": DESTINATION,
        "retry": {"type": "integer", "minimum": 0},
        "backoffPolicy": {"enum": ["linear", "exponential"]},
        "backoffDelay": DURATION,
        "timeout": DURATION,
    }
)
KEY_SELECTOR = obj({"name": NAME, "key": STRING, "optional": {"type": "boolean"}}, ["name", "key"])
ENV_VAR = obj(
    {
        "name": {"type": "string", "pattern": r"[A-Za-z_][A-Za-z0-9_]*"},
        "value": STRING,
        "valueFrom": obj(
            {"secretKeyRef": KEY_SELECTOR, "configMapKeyRef": KEY_SELECTOR},
            oneOf=[["secretKeyRef"], ["configMapKeyRef"]],
        ),
    },
    ["name"],
    oneOf=[["value"], ["valueFrom"]],
)
ENV_FROM = obj(
    {
        "prefix": STRING,
        "configMapRef": obj({"name": NAME, "optional": {"type": "boolean"}}, ["name"]),
        "secretRef": obj({"name": NAME, "optional": {"type": "boolean"}}, ["name"]),
    }
)
RESOURCE_LIST = obj({"cpu": QUANTITY, "memory": QUANTITY})
# The container fields Knative Serving accepts (its ContainerMask); everything else is refused.
CONTAINER = obj(
    {
        "name": NAME,
        "image": {"type": "string", "pattern": r"\S+"},
        "args": {"type": "array", "items": STRING},
        "command": {"type": "array", "items": STRING},
        "env": {"type": "array", "items": ENV_VAR},
        "envFrom": {"type": "array", "items": ENV_FROM},
        "workingDir": STRING,
        "imagePullPolicy": {"enum": ["Always", "IfNotPresent", "Never"]},
        "ports": {"type": "array", "maxItems": 1},
        "livenessProbe": {"type": "object"},
        "readinessProbe": {"type": "object"},
        "resources": obj({"requests": RESOURCE_LIST, "limits": RESOURCE_LIST}),
        "securityContext": obj(
            {
                "runAsNonRoot": {"type": "boolean"},
                "runAsUser": {"type": "integer"},
                "runAsGroup": {"type": "integer"},
                "readOnlyRootFilesystem": {"type": "boolean"},
                "capabilities": obj({"drop": {"type": "array", "items": STRING}}),
            }
        ),
        "terminationMessagePath": STRING,
        "terminationMessagePolicy": STRING,
        "volumeMounts": {"type": "array"},
    },
    ["image"],
)
REVISION_SPEC = obj(
    {
        "containerConcurrency": {"type": "integer", "minimum": 0, "maximum": 1000},
        "timeoutSeconds": {"type": "integer", "minimum": 1, "maximum": 600},  # max-revision-timeout-seconds
        "serviceAccountName": NAME,
        "containers": {"type": "array", "items": CONTAINER, "minItems": 1, "maxItems": 1},
    },
    ["containers"],
)
REVISION_ANNOTATIONS = {
    "type": "object",
    "properties": {
        "autoscaling.knative.dev/class": {"enum": ["kpa.autoscaling.knative.dev", "hpa.autoscaling.knative.dev"]},
        "autoscaling.knative.dev/metric": {"enum": ["concurrency", "rps", "cpu", "memory"]},
        "autoscaling.knative.dev/min-scale": SCALE,
        "autoscaling.knative.dev/max-scale": SCALE,
    },
    "additionalProperties": STRING,
}
SCHEMAS = {
    ("serving.knative.dev/v1", "Service"): obj(
        {
            "apiVersion": STRING,
            "kind": STRING,
            "metadata": METADATA,
            "spec": obj(
                {
                    "template": obj(
                        {
                            "metadata": obj({"labels": STRINGS, "annotations": REVISION_ANNOTATIONS}),
                            "spec": REVISION_SPEC,
                        },
                        ["spec"],
                    )
                },
                ["template"],
            ),
        },
        ["apiVersion", "kind", "metadata", "spec"],
    ),
    ("eventing.knative.dev/v1", "Broker"): obj(
        {
            "apiVersion": STRING,
            "kind": STRING,
            "metadata": METADATA,
            "spec": obj({"config": KREFERENCE, "delivery": DELIVERY_SPEC}),
        },
        ["apiVersion", "kind", "metadata", "spec"],
    ),
    ("eventing.knative.dev/v1", "Trigger"): obj(
        {
            "apiVersion": STRING,
            "kind": STRING,
            "metadata": METADATA,
            "spec": obj(
                {
                    "broker": NAME,
                    "filter": obj({"attributes": STRINGS}),
                    "subscriber": DESTINATION,
                    "delivery": DELIVERY_SPEC,
                },
                ["broker", "subscriber"],
            ),
        },
        ["apiVersion", "kind", "metadata", "spec"],
    ),
    ("sources.knative.dev/v1", "SinkBinding"): obj(
        {
            "apiVersion": STRING,
            "kind": STRING,
            "metadata": METADATA,
            "spec": obj({"subject": KREFERENCE, "sink": DESTINATION}, ["subject", "sink"]),
        },
        ["apiVersion", "kind", "metadata", "spec"],
    ),
    ("v1", "Namespace"): obj(
        {"apiVersion": STRING, "kind": STRING, "metadata": obj({"name": NAME, "labels": STRINGS}, ["name"])},
        ["metadata"],
    ),
    ("v1", "ConfigMap"): obj(
        {"apiVersion": STRING, "kind": STRING, "metadata": METADATA, "data": STRINGS}, ["metadata", "data"]
    ),
    ("v1", "Secret"): obj(
        {
            "apiVersion": STRING,
            "kind": STRING,
            "metadata": METADATA,
            "type": {"const": "Opaque"},
            "stringData": STRINGS,
        },
        ["metadata", "stringData"],
    ),
}


def test_the_schema_catches_what_the_api_server_would_refuse():
    [service] = [s for s in of_kind("Service") if s["metadata"]["name"] == "petrel-webhook"]
    schema = SCHEMAS[("serving.knative.dev/v1", "Service")]
    broken = json.loads(json.dumps(service))
    spec = broken["spec"]["template"]["spec"]
    spec["containerConcurrency"] = "8"
    spec["containers"][0]["lifecycle"] = {}
    spec["containers"][0]["env"][0]["valueFrom"] = {"secretKeyRef": {"name": "petrel"}}
    broken["metadata"]["name"] = "petrel_webhook"
    errors = check(broken, schema)
    assert any("containerConcurrency: expected integer" in e for e in errors)
    assert any("lifecycle: not a field" in e for e in errors)
    assert any("env/0" in e and "exactly one of" in e for e in errors)
    assert any("secretKeyRef/key: required" in e for e in errors)
    assert any("metadata/name" in e for e in errors)


@pytest.mark.parametrize("name", APPLIED + ("templates/secret.yaml",))
def test_every_object_matches_its_schema(name):
    for document in load(name):
        schema = SCHEMAS.get((document.get("apiVersion"), document.get("kind")))
        assert schema, f"{name}: no schema for {document.get('apiVersion')} {document.get('kind')}"
        assert check(document, schema) == [], f"{name} {document['kind']} {document['metadata']['name']}"


@pytest.mark.filterwarnings("ignore:Field name .* shadows an attribute:UserWarning")
def test_knative_objects_match_the_crd_models_when_cloudcoil_is_installed():
    """cloudcoil's models are generated from Knative's CRD schemas; fields they do not know are
    dropped on the way through, so a round trip that changes the object names an unknown field."""
    # Knative's CRDs leave spec.delivery open (x-kubernetes-preserve-unknown-fields) for the
    # delivery-timeout feature (knative/eventing#5654), so the generated models do not list `timeout`.
    preserved = {"Broker": ("spec", "delivery", "timeout"), "Trigger": ("spec", "delivery", "timeout")}
    serving = pytest.importorskip("cloudcoil.models.knative_serving.serving.v1")
    eventing = pytest.importorskip("cloudcoil.models.knative_eventing.eventing.v1")
    sources = pytest.importorskip("cloudcoil.models.knative_eventing.sources.v1")
    models = {
        "Service": serving.Service,
        "Broker": eventing.Broker,
        "Trigger": eventing.Trigger,
        "SinkBinding": sources.SinkBinding,
    }
    checked = 0
    for document in objects():
        model = models.get(document["kind"])
        if model is None:
            continue
        expected = json.loads(json.dumps(document))
        *parents, leaf = preserved.get(document["kind"], ("-",))
        holder = expected
        for key in parents:
            holder = holder.get(key, {})
        holder.pop(leaf, None)
        parsed = model.model_validate(document)
        assert parsed.model_dump(by_alias=True, exclude_unset=True) == expected, document["metadata"]["name"]
        checked += 1
    assert checked == len([d for d in objects() if d["kind"] in models])


# --- the GitHub App manifest --------------------------------------------------------------------


def test_app_manifest_events_are_the_subscribed_events_and_permissions_are_the_documented_ones():
    app = yaml.safe_load((ROOT / "app.yml").read_text(encoding="utf-8"))
    subscribed = {name.partition(".")[0] for names in subscriptions.table().values() for name in names}
    assert app["default_events"] == sorted(subscribed - {"installation", "installation_repositories"})
    assert app["default_permissions"] == {
        "issues": "write",
        "pull_requests": "write",
        "contents": "read",
        "metadata": "read",
        "checks": "write",
    }
    assert app["public"] is False
    assert app["hook_attributes"]["url"].startswith("https://") and app["redirect_url"] and app["url"] and app["name"]


def test_app_form_posts_the_manifest_with_the_webhook_url():
    class Form(HTMLParser):
        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            if tag == "form":
                self.action = attrs["action"]
            if tag == "input" and attrs.get("name") == "manifest":
                self.manifest = json.loads(attrs["value"])

    form = Form()
    form.feed(github_app.app_form("https://abc.trycloudflare.com/webhook", org="acme", name="petrel-acme"))
    assert form.action == "https://github.com/organizations/acme/settings/apps/new"
    app = yaml.safe_load((ROOT / "app.yml").read_text(encoding="utf-8"))
    assert form.manifest == {
        **app,
        "name": "petrel-acme",
        "hook_attributes": {**app["hook_attributes"], "url": "https://abc.trycloudflare.com/webhook"},
    }
    personal = Form()
    personal.feed(github_app.app_form("https://x.example/webhook"))
    assert personal.action == "https://github.com/settings/apps/new"


# --- Google Cloud script and docs ---------------------------------------------------------------


def test_deploy_script_is_valid_bash_and_applies_in_order():
    script = (ROOT / "infra" / "gcp" / "deploy.sh").read_text(encoding="utf-8")
    subprocess.run(["bash", "-n", str(ROOT / "infra" / "gcp" / "deploy.sh")], check=True)
    assert f"FUNCTIONS=({' '.join(knative_objects.functions(subscriptions.table()))})" in script
    order = [script.index(f"infra/knative/{name}") for name in APPLIED]
    assert order == sorted(order)
    assert script.index('kind":"Secret') < script.index("infra/knative/broker.yaml")


def test_deploy_doc_gives_the_knative_commands_in_order():
    doc = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    knative = doc[doc.index("## Knative") : doc.index("## Google Cloud")]
    steps = [
        "create secret generic petrel",
        "infra/knative/broker.yaml",
        "infra/knative/services.yaml",
        "infra/knative/triggers.yaml",
        "infra/knative/sinkbinding.yaml",
    ]
    positions = [knative.index(step) for step in steps]
    assert positions == sorted(positions)
    for key in knative_objects.SECRET_KEYS:
        assert key in knative


# --- Cloud Run with Pub/Sub ---------------------------------------------------------------------

CLOUDRUN = ROOT / "infra" / "gcp" / "cloudrun.sh"

FAKE_GCLOUD = r"""#!/usr/bin/env bash
# records each call; answers like gcloud where the script reads an answer
printf '%s\n' "$*" >> "$GCLOUD_LOG"
case "$*" in
  "projects describe"*"projectNumber"*) echo 123456 ;;
  "projects describe"*) echo my-project ;;
  "services list"*) printf '%s\n' run.googleapis.com pubsub.googleapis.com artifactregistry.googleapis.com \
                      secretmanager.googleapis.com iam.googleapis.com ;;
  "secrets describe"*|"artifacts docker images describe"*) exit 0 ;;
  "run services describe petrel-"*) set -- $*; echo "https://$4-abc.a.run.app" ;;
  *" describe "*) exit 1 ;;  # nothing exists yet: every create runs
  "pubsub topics list-subscriptions"*) echo "projects/my-project/subscriptions/petrel-old-function-issues-opened" ;;
esac
"""


def test_cloudrun_script_is_valid_bash():
    subprocess.run(["bash", "-n", str(CLOUDRUN)], check=True)


def test_cloudrun_subscriptions_filter_on_the_type_the_webhook_publishes():
    from shared.pipeline import forward as inbox

    rows = gcp_scripts.push_subscriptions(subscriptions.table())
    assert len(rows) == sum(len(names) for names in subscriptions.table().values())
    for function, names in subscriptions.table().items():
        for name in names:
            event, _, action = name.partition(".")
            published = inbox.pubsub_message(events.Delivery("d-1", event, action or None, 1, "o/r", {}, "{}"))
            wanted = f'attributes.type = "{published["attributes"]["type"]}"'
            assert [r for r in rows if r[0] == function and r[2] == wanted] != [], f"{function} {name}"
            assert sum(r[0] == function and r[2] == wanted for r in rows) == 1
            assert all(len(r[2].encode()) <= 256 for r in rows)  # Pub/Sub's limit on a filter
    assert len({r[1] for r in rows}) == len(rows)


def test_cloudrun_script_runs_against_a_fake_gcloud(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "gcloud").write_text(FAKE_GCLOUD)
    (bin_dir / "gcloud").chmod(0o755)
    log = tmp_path / "gcloud.log"
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "GCLOUD_LOG": str(log),
        "PROJECT": "my-project",
        "VERSION": "0.1.0",
        "SKIP_BUILD": "1",
        "HOME": str(tmp_path),
    }
    result = subprocess.run(["bash", str(CLOUDRUN)], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    calls = log.read_text().splitlines()

    assert any(c.startswith("pubsub topics create petrel-events") for c in calls)
    assert any(c.startswith("pubsub topics create petrel-dead-letter") for c in calls)
    deploys = [c for c in calls if c.startswith("run deploy ")]
    assert [c.split()[2] for c in deploys] == [
        knative_objects.service_name(f) for f in knative_objects.functions(subscriptions.table())
    ]
    [webhook] = [c for c in deploys if c.split()[2] == "petrel-webhook"]
    assert "--allow-unauthenticated" in webhook
    assert "PETREL_PUBSUB_TOPIC=projects/my-project/topics/petrel-events" in webhook
    assert "GITHUB_PRIVATE_KEY" not in webhook and "OPENAI_API_KEY" not in webhook  # only what it uses
    for deploy in deploys:
        if deploy.split()[2] != "petrel-webhook":
            assert "--no-allow-unauthenticated" in deploy and "PETREL_PUBSUB_TOPIC" not in deploy

    creates = [c for c in calls if c.startswith("pubsub subscriptions create petrel-") and "--push-endpoint" in c]
    assert len(creates) == len(gcp_scripts.push_subscriptions(subscriptions.table()))
    for function, name, where in gcp_scripts.push_subscriptions(subscriptions.table()):
        [create] = [c for c in creates if c.split()[3] == name]
        assert f"--message-filter={where}" in create
        assert f"--push-endpoint https://{knative_objects.service_name(function)}-abc.a.run.app/" in create
        assert "--push-auth-service-account petrel-push@my-project.iam.gserviceaccount.com" in create
        assert "--max-delivery-attempts 5 --dead-letter-topic petrel-dead-letter" in create
        assert "--min-retry-delay 10s" in create
    # a subscription that no function has any more is removed
    assert "pubsub subscriptions delete petrel-old-function-issues-opened --project my-project --quiet" in calls
    assert "Webhook URL for the GitHub App: https://petrel-webhook-abc.a.run.app/webhook" in result.stdout


def test_deploy_doc_describes_the_cloud_run_path():
    doc = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    google = doc[doc.index("## Google Cloud") : doc.index("## Register the GitHub App")]
    for needed in ("infra/gcp/cloudrun.sh", "PETREL_PUBSUB_TOPIC", "petrel-dead-letter", "not been run against"):
        assert needed in google, needed
