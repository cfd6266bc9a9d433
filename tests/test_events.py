"""Perception without I/O: signatures, parsing, names and CloudEvents of deliveries."""

from __future__ import annotations

import json

import payloads
import pytest

from shared.pipeline import events
from shared.runtime.log import redact


def parse(payload, event):
    return events.parse_delivery({"X-GitHub-Event": event, "X-GitHub-Delivery": "d-1"}, json.dumps(payload).encode())


def test_signature_accepts_any_configured_secret_and_refuses_others():
    body = b'{"a": 1}'
    events.verify_signature(body, events.sign(body, "new"), ["new", "old"])
    events.verify_signature(body, events.sign(body, "old"), ["new", "old"])
    for header in (events.sign(body, "other"), "sha1=abc", "sha256=", None, ""):
        with pytest.raises(events.WebhookError) as error:
            events.verify_signature(body, header, ["new", "old"])
        assert error.value.status == 401 and "GITHUB_WEBHOOK_SECRET" in error.value.message


@pytest.mark.parametrize(
    "digest",
    ["\u00e9" * 64, "\u00ff\u00fe" + "0" * 62, "\u0660" * 64, "a" * 63 + "\u00e9"],
    ids=["latin-1", "byte-order-mark", "arabic-indic-digits", "last-character"],
)
def test_a_signature_with_characters_outside_ascii_is_refused_not_a_crash(digest):
    # a server decodes header bytes as Latin-1; hmac.compare_digest raises TypeError on non-ASCII str
    body = b'{"a": 1}'
    with pytest.raises(events.WebhookError) as error:
        events.verify_signature(body, "sha256=" + digest, ["secret"])
    assert error.value.status == 401


def test_no_secret_fails_closed():
    body = b"{}"
    with pytest.raises(events.WebhookError):
        events.verify_signature(body, events.sign(body, ""), [])


def test_delivery_fields_and_cloudevent_of_a_pull_request():
    payload = payloads.with_installation(payloads.example("pull_request", "opened"), 42)
    delivery = parse(payload, "pull_request")
    assert (delivery.name, delivery.installation_id, delivery.repository) == (
        "pull_request.opened",
        42,
        payload["repository"]["full_name"],
    )
    assert events.cloudevent_attributes(delivery) == {
        "specversion": "1.0",
        "type": "com.github.pull_request.opened",
        "id": "d-1",
        "source": payload["repository"]["html_url"],
        "subject": str(payload["pull_request"]["number"]),
        "datacontenttype": "application/json",
    }
    again = events.delivery_from_cloudevent(events.cloudevent_attributes(delivery), payload)
    assert (again.id, again.event, again.action, again.installation_id, again.repository) == (
        "d-1",
        "pull_request",
        "opened",
        42,
        delivery.repository,
    )


def test_events_without_action_or_repository():
    push = parse(payloads.example("push"), "push")
    assert (push.name, push.action, push.subject) == ("push", None, None)
    installation = parse(payloads.example("installation", "created"), "installation")
    assert installation.repository is None
    assert (
        events.cloudevent_attributes(installation)["source"]
        == f"urn:github:installation:{installation.installation_id}"
    )
    assert "subject" not in events.cloudevent_attributes(installation)


def test_issue_comment_subject_is_the_issue_number():
    delivery = parse(payloads.comment("/help"), "issue_comment")
    assert delivery.subject == "1" and delivery.thread == "Codertocat/Hello-World#1"


@pytest.mark.parametrize(
    "headers,fragment",
    [
        ({"X-GitHub-Delivery": "d"}, "X-GitHub-Event"),
        ({"X-GitHub-Event": "push"}, "X-GitHub-Delivery"),
        ({"X-GitHub-Event": "pu sh", "X-GitHub-Delivery": "d"}, "event name"),
        ({"X-GitHub-Event": "push", "X-GitHub-Delivery": "d" * 300}, "delivery id"),
    ],
)
def test_bad_headers_are_400(headers, fragment):
    with pytest.raises(events.WebhookError) as error:
        events.parse_delivery(headers, b"{}")
    assert error.value.status == 400 and fragment in error.value.message


def test_not_a_github_cloudevent_is_refused():
    with pytest.raises(ValueError):
        events.delivery_from_cloudevent({"type": "dev.knative.other", "id": "x"}, {})


def test_logs_never_show_tokens_or_keys():
    text = (
        "token ghs_" + "a" * 36 + " and Bearer eyJhbGciOiJSUzI1NiJ9.eyJpYXQiOjF9.c2lnbmF0dXJl "
        "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY----- github_pat_" + "b" * 30
    )
    cleaned = redact(text)
    assert "ghs_" not in cleaned and "eyJ" not in cleaned and "MIIE" not in cleaned and "github_pat_" not in cleaned
    assert cleaned.count("[redacted]") == 4
