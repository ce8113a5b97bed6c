"""construct_event: typed data by event type, raw data for ping and unknown types."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from asyncapi_client import Project, User, WebhookVerificationError
from asyncapi_client.webhooks import construct_event, signed_headers
from tests.support.resources import PROJECT, USER
from tests.support.signed_deliveries import NOW, SECRET, delivery, event_body


def test_project_event_is_typed() -> None:
    body, headers = delivery("project.updated", msg_id="msg_abc")
    event = construct_event(body, headers, SECRET, now=NOW)
    assert event.id == "evt_1" and event.type == "project.updated"
    assert event.created_at == datetime(2024, 5, 1, 12, tzinfo=timezone.utc)
    assert isinstance(event.data, Project) and event.data.name == "Apollo" and event.data.id == 7
    assert event.webhook_id == "msg_abc" and event.timestamp == NOW


def test_user_event_is_typed() -> None:
    body, headers = delivery("user.created", USER)
    event = construct_event(body, headers, SECRET, now=NOW)
    assert isinstance(event.data, User) and event.data.email == "ada@example.com"


@pytest.mark.parametrize("event_type", ["ping", "invoice.paid"])
def test_ping_and_unknown_types_keep_raw_data(event_type: str) -> None:
    body, headers = delivery(event_type, {"anything": [1, 2]})
    event = construct_event(body, headers, SECRET, now=NOW)
    assert event.type == event_type and event.data == {"anything": [1, 2]}


def test_integer_event_ids_become_strings() -> None:
    body = event_body("ping", {}, event_id=42)
    event = construct_event(body, signed_headers(SECRET, body, timestamp=NOW), SECRET, now=NOW)
    assert event.id == "42"


def test_extra_fields_are_tolerated() -> None:
    body, headers = delivery("project.created", {**PROJECT, "owner": "someone"})
    assert construct_event(body, headers, SECRET, now=NOW).data.name == "Apollo"


@pytest.mark.parametrize(
    "payload",
    [
        b"[1, 2]",
        b'{"type": "ping", "created_at": "2024-01-01T00:00:00Z", "data": {}}',
        b'{"id": "e", "created_at": "2024-01-01T00:00:00Z", "data": {}}',
        b'{"id": "e", "type": "ping", "created_at": "yesterday", "data": {}}',
        b'{"id": "e", "type": "project.created", "created_at": "2024-01-01T00:00:00Z", "data": {"id": 1}}',
        b'{"id": true, "type": "ping", "created_at": "2024-01-01T00:00:00Z", "data": {}}',
    ],
)
def test_payloads_that_are_not_events(payload: bytes) -> None:
    with pytest.raises(WebhookVerificationError) as info:
        construct_event(payload, signed_headers(SECRET, payload, timestamp=NOW), SECRET, now=NOW)
    assert info.value.reason == "invalid_payload"


def test_verification_comes_first() -> None:
    body, headers = delivery()
    with pytest.raises(WebhookVerificationError) as info:
        construct_event(body + b" ", headers, SECRET, now=NOW)
    assert info.value.reason == "no_matching_signature"
