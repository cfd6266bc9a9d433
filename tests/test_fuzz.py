"""Property-based tests (hypothesis): hostile webhook requests and hostile configuration files.

Deterministic (`derandomize=True`), sized to run in well under a minute on two cores. Each
property counts the examples it ran and prints one summary line (for BENCHMARKS.md).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import uuid
from urllib.parse import parse_qs, urlencode

import pytest
import yaml
from conftest import ROOT, SECRET, count
from functions_framework import create_app
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.pipeline import events
from shared.repo_config import load as config
from shared.repo_config import parse
from shared.repo_config.load import LoadedConfig
from shared.repo_config.schema import CONFIG_PATH, DEFAULTS, Config, ConfigError

WEBHOOK_SOURCE = str(ROOT / "functions" / "webhook" / "main.py")
BODY_LIMIT = 20_000  # PETREL_MAX_BODY_BYTES for the HTTP property, so that 413 is reachable

HTTP_EXAMPLES = 300
EVENTS_EXAMPLES = 3000
CONFIG_EXAMPLES = 1500
LOAD_EXAMPLES = 600

FUZZ = dict(
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


def summary(capsys, name: str, ran: int, expected: int, **details) -> None:
    extra = ", ".join(f"{k} {v}" for k, v in details.items())
    with capsys.disabled():
        print(f"\nfuzz {name}: {ran} examples (max_examples {expected}){'; ' + extra if extra else ''}")
    assert ran >= expected, f"{name}: only {ran} of {expected} examples ran"


# ---------------------------------------------------------------------------------------------
# Strategies: webhook requests

# Header values travel through WSGI as latin-1; CR/LF would be refused by the client itself.
header_text = st.text(st.characters(max_codepoint=255, exclude_characters="\r\n"), max_size=60)

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**60), max_value=10**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
# Objects shaped a bit like GitHub's, with the keys the parser looks at holding anything.
json_objects = st.fixed_dictionaries(
    {},
    optional={
        "action": json_values,
        "installation": st.fixed_dictionaries({}, optional={"id": json_values}) | json_values,
        "repository": st.fixed_dictionaries({}, optional={"full_name": json_values, "html_url": json_values})
        | json_values,
        "number": json_values,
        "pull_request": json_values,
        "issue": json_values,
        "text": st.text(max_size=40),
    },
).flatmap(
    lambda base: st.dictionaries(st.text(max_size=8), json_values, max_size=3).map(lambda extra: {**extra, **base})
)

HOSTILE_JSON = [
    '{"a": NaN}',
    '{"a": Infinity, "b": -Infinity}',
    '{"a": 1e400}',
    '{"a": "\\u0000", "b": 1e400}',
    '{"a": "\\u0000", "b": NaN}',
    '{"a": "\\ud800"}',
    '{"a": "\\udfff\\ud800"}',
    '{"\\u0000": "\\u0000"}',
    '{"installation": {"id": 100000000000000000000000000000}}',
    '{"installation": {"id": -9223372036854775809}}',
    '{"a": ' + "9" * 5000 + "}",
    '{"a": 1, "a": 2}',
    '{"action": "\\u0000"}',
    '{"repository": {"full_name": "\\u0000"}}',
    '{"a": "\\\\u0000"}',
    "{}",
    "  {}  ",
    "\ufeff{}",
    '{"a": 1}\x00',
    '{"a": "\x00"}',
    "[]",
    "null",
    "1",
    '"x"',
]


def nested(depth: int, kind: str) -> str:
    return "[" * depth + "]" * depth if kind == "list" else '{"a":' * depth + "1" + "}" * depth


bodies = st.one_of(
    json_objects.map(lambda p: ("object", json.dumps(p).encode())),
    json_values.map(lambda v: ("any", json.dumps(v).encode())),
    st.sampled_from(HOSTILE_JSON).map(lambda t: ("hostile", t.encode("utf-8", "surrogatepass"))),
    st.tuples(st.integers(1, 200_000), st.sampled_from(["list", "dict"])).map(
        lambda t: ("nested", nested(*t).encode())
    ),
    st.binary(max_size=300).map(lambda b: ("binary", b)),
    st.text(max_size=200).map(lambda t: ("text", t.encode())),
    st.binary(min_size=1, max_size=40).map(lambda b: ("invalid-utf8", b'{"a": "' + b"\xff\xfe" + b + b'"}')),
    st.integers(BODY_LIMIT - 2, BODY_LIMIT + 50).map(
        lambda n: ("big", ("{" + '"a":"' + "x" * max(n - 8, 0) + '"}').encode())
    ),
)

CONTENT_TYPES = [
    None,
    "application/json",
    "application/json; charset=utf-8",
    "application/json; charset=utf-16",
    "application/json; charset=latin-1",
    "text/plain",
    "application/octet-stream",
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=iso-8859-1",
    "APPLICATION/X-WWW-FORM-URLENCODED",
    "multipart/form-data; boundary=x",
    "application/json;;;",
    "\x00",
    "garbage",
]
EVENT_NAMES = ["push", "ping", "issues", "pull_request", "issue_comment", "installation", "unknown_event"]
DELIVERY_IDS = ["dup-1", "dup-2", "72d3162e-cc78-11e3-81ab-4c9367dc0958"]


@st.composite
def requests(draw):
    kind, payload_bytes = draw(bodies)
    if draw(st.booleans()):  # a well-formed envelope around any body: the body alone is hostile
        method, content_type, event, signature = (
            "POST",
            draw(st.sampled_from(CONTENT_TYPES[:3])),
            draw(st.sampled_from(EVENT_NAMES)),
            "right",
        )
        delivery = draw(st.sampled_from(DELIVERY_IDS) | st.builds(lambda: str(uuid.uuid4())))
    else:
        method = (
            draw(st.sampled_from(["POST", "GET", "PUT", "DELETE", "PATCH", "OPTIONS"]))
            if draw(st.integers(0, 5)) == 0
            else "POST"
        )
        content_type = draw(st.sampled_from(CONTENT_TYPES) | header_text)
        event = draw(st.sampled_from(EVENT_NAMES) | header_text | st.none())
        delivery = draw(st.sampled_from(DELIVERY_IDS) | st.builds(lambda: str(uuid.uuid4())) | header_text | st.none())
        signature = draw(
            st.sampled_from(["right", "right", "upper", "wrong-secret", "garbage", "sha1", "none", "empty"])
        )
    form = (
        content_type is not None and content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded"
    )
    if form and draw(st.booleans()):  # the payload as GitHub's form encoding sends it
        body = urlencode({"payload": payload_bytes.decode("utf-8", "replace")}).encode()
    elif form and draw(st.booleans()):
        body = draw(
            st.sampled_from([b"", b"payload", b"payload=", b"payload=%ff", b"other=1", b"payload=%7B%7D&payload=1"])
        )
    else:
        body = payload_bytes
    headers = {}
    if content_type is not None:
        headers["Content-Type"] = content_type
    if event is not None:
        headers["X-GitHub-Event"] = event
    if delivery is not None:
        headers["X-GitHub-Delivery"] = delivery
    right = events.sign(body, SECRET)
    value = {
        "right": right,
        "upper": "sha256=" + right[7:].upper(),
        "wrong-secret": events.sign(body, "nope"),
        "garbage": draw(header_text),
        "sha1": "sha1=" + hashlib.sha1(body).hexdigest(),
        "none": None,
        "empty": "",
    }[signature]
    if value is not None:
        headers["X-Hub-Signature-256"] = value
    return method, headers, body, kind


def acceptable(method: str, headers: dict, body: bytes) -> bool:
    """An independent oracle of what may be answered 2xx: a POST, signed with the secret, with
    an event and a delivery id, whose payload is a JSON object."""
    if method != "POST" or len(body) > BODY_LIMIT:
        return False
    digest = (headers.get("X-Hub-Signature-256") or "").partition("=")
    if digest[0] != "sha256" or not hmac.compare_digest(
        hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest(), digest[2].strip().lower()
    ):
        return False
    if not (headers.get("X-GitHub-Event") or "").strip() or not (headers.get("X-GitHub-Delivery") or "").strip():
        return False
    try:
        text = body.decode("utf-8")
        if (headers.get("Content-Type") or "").split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
            text = parse_qs(text, keep_blank_values=True)["payload"][0]
        return isinstance(json.loads(text), dict)
    except (ValueError, KeyError, RecursionError):
        return False


def plainly_valid(method, headers, body, kind) -> bool:
    """A request that must be accepted: a POST of a JSON object, signed, with sane headers."""
    return (
        method == "POST"
        and kind == "object"
        and len(body) <= BODY_LIMIT
        and headers.get("X-Hub-Signature-256") == events.sign(body, SECRET)
        and headers.get("X-GitHub-Event") in EVENT_NAMES
        and (headers.get("X-GitHub-Delivery") in DELIVERY_IDS or len(headers.get("X-GitHub-Delivery") or "") == 36)
        and headers.get("Content-Type") in (None, "application/json", "application/json; charset=utf-8", "text/plain")
    )


@pytest.fixture
def client(env, clean_db):
    env(
        GITHUB_WEBHOOK_SECRET=SECRET,
        DATABASE_URL=clean_db,
        PETREL_JOB_LEASE_SECONDS=30,
        PETREL_MAX_BODY_BYTES=BODY_LIMIT,
    )
    app = create_app("webhook", WEBHOOK_SOURCE, "http")
    yield app.test_client(), clean_db


def test_webhook_answers_every_request_without_5xx_and_stores_each_accepted_delivery_once(client, capsys):
    http, url = client
    accepted: set[str] = set()
    seen = {"n": 0, "2xx": 0, "statuses": {}}

    @settings(max_examples=HTTP_EXAMPLES, **FUZZ)
    @given(requests())
    def prop(request):
        method, headers, body, kind = request
        seen["n"] += 1
        response = http.open("/", method=method, data=body, headers=headers)
        status = response.status_code
        seen["statuses"][status] = seen["statuses"].get(status, 0) + 1
        context = f"{method} {headers!r} body[:200]={body[:200]!r} -> {status} {response.get_data()[:300]!r}"
        assert status in (200, 202, 400, 401, 405, 413), context
        if status in (200, 202):
            assert acceptable(method, headers, body), context
            accepted.add(headers["X-GitHub-Delivery"].strip())
            seen["2xx"] += 1
        if plainly_valid(method, headers, body, kind):
            assert status in (200, 202), context
        assert count(url, "SELECT count(*) FROM deliveries") == len(accepted), context

    prop()
    summary(
        capsys,
        "webhook HTTP",
        seen["n"],
        HTTP_EXAMPLES,
        accepted=seen["2xx"],
        distinct_deliveries=len(accepted),
        statuses=dict(sorted(seen["statuses"].items())),
    )


# ---------------------------------------------------------------------------------------------
# events.parse_delivery / verify_signature, directly

any_text = st.text(max_size=80) | st.sampled_from(
    ["", " ", "\x00", "push", "ping", "a" * 101, "sha256=", "sha256= ", "=x"]
)
header_maps = st.dictionaries(
    st.sampled_from(["X-GitHub-Event", "X-GitHub-Delivery", "Content-Type", "X-Hub-Signature-256", "Other"]),
    any_text | st.sampled_from(CONTENT_TYPES[1:]) | st.sampled_from(EVENT_NAMES),
    max_size=5,
)
direct_bodies = bodies.map(lambda kb: kb[1]) | st.builds(
    lambda p: urlencode({"payload": json.dumps(p)}).encode(), json_objects
)


def test_parse_delivery_and_verify_signature_raise_only_webhook_errors(capsys):
    seen = {"n": 0, "parsed": 0, "verified": 0}

    @settings(max_examples=EVENTS_EXAMPLES, **FUZZ)
    @given(header_maps, direct_bodies, any_text | st.none(), st.lists(st.text(max_size=20), max_size=3), st.booleans())
    def prop(headers, body, signature, secrets, sign_it):
        seen["n"] += 1
        if sign_it and secrets:
            signature = events.sign(body, secrets[-1])
        try:
            events.verify_signature(body, signature, secrets)
            seen["verified"] += 1
            assert signature and secrets, "verified without a signature or a secret"
        except events.WebhookError as error:
            assert error.status == 401 and error.message
            assert not (sign_it and secrets), "a correct signature was refused"
        try:
            delivery = events.parse_delivery(headers, body)
        except events.WebhookError as error:
            assert error.status == 400 and error.message
        else:
            seen["parsed"] += 1
            assert isinstance(delivery.payload, dict) and delivery.id and delivery.event
            # no NUL, and no \u0000 escape (Postgres jsonb refuses it); an escaped backslash before
            # "u0000" is ordinary text
            assert "\x00" not in json.dumps(delivery.payload)
            assert not re.search(r"(?<!\\)(?:\\\\)*\\u0000", delivery.payload_json)
            # the attribute helpers must not fail on whatever the payload holds
            delivery.name, delivery.subject, delivery.thread, delivery.source, delivery.updated_at
            events.cloudevent_attributes(delivery)

    prop()
    summary(
        capsys,
        "events.parse_delivery/verify_signature",
        seen["n"],
        EVENTS_EXAMPLES,
        parsed=seen["parsed"],
        verified=seen["verified"],
    )


# ---------------------------------------------------------------------------------------------
# The configuration loader

TOKENS = [
    "review",
    "summary",
    "triage",
    "paths",
    "models",
    "memory",
    "commands",
    "language",
    "daily_token_budget",
    "_extends",
    "auto",
    "drafts",
    "max_comments",
    "min_severity",
    "skip_labels",
    "include",
    "exclude",
    "label_mapping",
    "allowed",
    "concurrency",
    "x",
    "yes",
    "no",
    "on",
    "null",
    "~",
    "1e3",
    "0x1F",
    "0o7",
    "-.inf",
    ".nan",
    "2001-12-14",
    "1_000",
    "!!str",
    "!!int",
    "!!python/object/apply:os.system",
    "!custom",
    "!!binary",
    "!!set",
    "!!omap",
    "&a",
    "*a",
    "<<",
    "|",
    ">",
    "'q'",
    '"d\\x00"',
    "{",
    "}",
    "[",
    "]",
    ",",
    "?",
    "#",
    "%YAML 1.1",
    "---",
    "...",
    "@",
    "`",
    "\t",
    "\ufeff",
    "\x00",
    "\x85",
    "\u2028",
    "é",
]
yamlish_lines = st.tuples(
    st.integers(0, 8),
    st.lists(st.sampled_from(TOKENS) | st.text(max_size=5), max_size=4),
    st.sampled_from(["", ":", ": ", "- ", " - ", ":\n"]),
    st.lists(st.sampled_from(TOKENS) | st.text(max_size=5), max_size=3),
).map(lambda t: " " * t[0] + " ".join(t[1]) + t[2] + " ".join(t[3]))
yamlish = st.lists(yamlish_lines, max_size=12).map("\n".join)

config_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["minor", "critical", "OWNER", "*.md", "docs/**", "[", "English", "gpt-4o"]),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(TOKENS[:22]) | st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=25,
)
config_shaped = st.dictionaries(st.sampled_from(TOKENS[:10]) | st.text(max_size=6), config_values, max_size=5)
dumped = (config_shaped | config_values).flatmap(
    lambda data: st.sampled_from(
        [
            lambda d: yaml.safe_dump(d, allow_unicode=True),
            lambda d: yaml.safe_dump(d, default_flow_style=True),
            lambda d: yaml.safe_dump(d, allow_unicode=False, canonical=True),
        ]
    ).map(lambda dump: dump(data))
)
yaml_texts = st.one_of(st.text(max_size=300), yamlish, dumped)


def check_parse(text: str):
    """config.parse: a Config or a one-line ConfigError, nothing else."""
    try:
        result = parse.parse(text)
    except ConfigError as error:
        message = str(error)
        assert message and "\n" not in message and "\r" not in message, repr(message)
        return None
    assert isinstance(result, Config)
    assert parse.from_dict(result.to_dict()) == result  # what parse accepts survives a round trip
    return result


def check_load(files: dict, repository: str) -> LoadedConfig:
    def fetch(repo: str, path: str):
        return files.get((repo.lower(), path))

    result = config.load(fetch, repository)
    assert isinstance(result, LoadedConfig) and isinstance(result.config, Config)
    if result.error is not None:
        assert result.config == DEFAULTS and "\n" not in result.error and "\r" not in result.error
    return result


def test_config_parse_gives_a_config_or_a_one_line_error_for_any_text(capsys):
    seen = {"n": 0, "configs": 0}

    @settings(max_examples=CONFIG_EXAMPLES, **FUZZ)
    @given(yaml_texts)
    def prop(text):
        seen["n"] += 1
        config.cache_clear()
        if check_parse(text) is not None:
            seen["configs"] += 1

    prop()
    summary(capsys, "config.parse", seen["n"], CONFIG_EXAMPLES, valid_configs=seen["configs"])


REPOS = ["octo/app", "octo/.github", "octo/base", "other/base", "OCTO/App"]


def test_config_load_never_raises_whatever_the_files_and_extends_chains(capsys):
    seen = {"n": 0, "errors": 0}
    extends = st.sampled_from(
        [
            "base",
            "octo/base",
            "other/base",
            "app",
            ".github",
            "octo/app:x.yml",
            "..",
            "a/b:..",
            "other/base:.github/petrel.yml",
            "",
        ]
    ) | st.text(max_size=20)
    file_text = (
        yaml_texts
        | st.tuples(extends, yaml_texts).map(lambda t: f"_extends: {json.dumps(t[0])}\n{t[1]}")
        | extends.map(lambda e: f"_extends: {json.dumps(e)}\nlanguage: French\n")
    )
    file_map = st.dictionaries(
        st.sampled_from(REPOS).map(str.lower),
        st.tuples(file_text, st.sampled_from(["s1", "s2", "s3", None])),
        max_size=4,
    )

    @settings(max_examples=LOAD_EXAMPLES, **FUZZ)
    @given(file_map, st.sampled_from(REPOS), st.booleans())
    def prop(repos, repository, clear):
        seen["n"] += 1
        if clear:
            config.cache_clear()
        files = {(repo, CONFIG_PATH): (text, sha) for repo, (text, sha) in repos.items()}
        files.update({(repo, "x.yml"): v for (repo, _), v in files.items()})
        if check_load(files, repository).error:
            seen["errors"] += 1

    config.cache_clear()
    prop()
    config.cache_clear()
    summary(capsys, "config.load", seen["n"], LOAD_EXAMPLES, broken=seen["errors"])


LAUGHS = (
    "a: &a ["
    + ",".join(["lol"] * 9)
    + "]\n"
    + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]\n" for i in range(8))
)
HOSTILE_YAML = {
    "billion laughs": LAUGHS,
    "billion laughs under review": "review:\n  instructions: *i\n" + LAUGHS,
    "python object apply": '!!python/object/apply:os.system ["echo hi"]',
    "python object apply as a value": 'review:\n  instructions: !!python/object/apply:os.system ["echo hi"]\n',
    "python name": "!!python/name:os.system",
    "python module": "language: !!python/module:os\n",
    "js function": '!!js/function "function(){}"',
    "deep flow lists": "[" * 10_000 + "]" * 10_000,
    "deep block lists": "".join(" " * (2 * i) + "-\n" for i in range(3000)),
    "deep flow mappings": "{a: " * 10_000 + "1" + "}" * 10_000,
    "deep unclosed": "[" * 60_000,
    "1 MB document": "language: " + "x" * (1 << 20) + "\n",
    "1 MB of comments": "#" * (1 << 20),
    "just under the limit, many items": "paths:\n  exclude:\n" + "    - a\n" * 8000,
    "just under the limit, long keys": "review:\n" + "".join(f"  k{i}: 1\n" for i in range(6000)),
    "many small mappings": "".join(f"- {{a: {i}}}\n" for i in range(6000)),
    "tabs": "review:\n\tauto: true\n",
    "tab after colon": "review:\t\n  auto:\ttrue\n",
    "BOM": "\ufeffreview:\n  auto: false\n",
    "BOM twice": "\ufeff\ufeffreview: {}\n",
    "duplicate keys": "review:\n  auto: true\n  auto: false\n",
    "duplicate top keys": "language: French\nlanguage: German\n",
    "merge key": "review:\n  <<: {auto: false}\n",
    "set": "!!set {a, b}",
    "binary": "language: !!binary aGk=\n",
    "NUL": "language: \x00\n",
    "NUL escaped": 'language: "\\x00"\n',
    "lone surrogate escaped": 'language: "\\ud800"\n',
    "C1 control": "language: \x85x\n",
    "huge integer": "daily_token_budget: " + "9" * 5000 + "\n",
    "huge float": "triage:\n  label_threshold: 1e999\n",
    "nan": "triage:\n  label_threshold: .nan\n",
    "sexagesimal": "review:\n  max_comments: 1:20\n",
    "date key": "2001-12-14: 1\n",
    "complex key": "? [a, b]\n: 1\n",
    "non-string key": "1: 2\n",
    "null key": "~: 2\n",
    "bool key": "yes: 2\n",
    "many documents": "---\nlanguage: a\n---\nlanguage: b\n",
    "directive": "%YAML 1.2\n---\nlanguage: a\n",
    "unknown directive": "%FOO bar\n---\n{}\n",
    "stray document end": "...\n...\n",
    "only comments": "# nothing\n# here\n",
    "empty": "",
    "whitespace": " \n\t\n  ",
    "anchor on a scalar": "language: &x English\n",
    "long tag": "language: !" + "x" * 5000 + " a\n",
    "long line": "language: " + "é" * 20000 + "\n",
    "control characters": "".join(chr(i) for i in range(32)) + "\n",
}


@pytest.mark.parametrize("name", list(HOSTILE_YAML))
def test_config_parse_and_load_survive_hostile_documents(name):
    text = HOSTILE_YAML[name]
    config.cache_clear()
    check_parse(text)
    check_load({("octo/app", CONFIG_PATH): (text, "sha-" + name)}, "octo/app")
    check_load(
        {("octo/.github", CONFIG_PATH): (text, None), ("octo/app", CONFIG_PATH): ("_extends: .github\n", "sha-ext")},
        "octo/app",
    )
    config.cache_clear()
