"""Webhook signatures (``quorra.webhooks``: what receivers run) and subscription input checks."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime

import pytest

from quorra.core.errors import InvalidInput
from quorra.core.jobs import Job, JobStatus
from quorra.core.webhooks import check_request, glob_to_like, internal_queues, new_webhook
from quorra.webhook_delivery import delivery_body
from quorra.webhooks import InvalidSignature, sign, signature_header, verify

SECRET = "whsec_" + "s" * 43
BODY = b'{"event":"job.succeeded","id":"d1"}'
NOW = 1_800_000_000


class TestSignatures:
    def test_signature_is_hmac_sha256_of_timestamp_dot_body(self) -> None:
        expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY,
                            hashlib.sha256).hexdigest()
        assert sign(SECRET, NOW, BODY) == expected
        assert signature_header(SECRET, BODY, NOW) == f"t={NOW},v1={expected}"

    def test_a_fresh_signature_verifies(self) -> None:
        header = signature_header(SECRET, BODY, NOW)
        assert verify(BODY, header, SECRET, now=NOW + 299) == NOW
        assert verify(BODY, header, SECRET, now=NOW - 299) == NOW

    @pytest.mark.parametrize("body", [BODY + b" ", BODY.replace(b"d1", b"d2"), b""])
    def test_a_tampered_body_is_refused(self, body: bytes) -> None:
        with pytest.raises(InvalidSignature, match="does not match"):
            verify(body, signature_header(SECRET, BODY, NOW), SECRET, now=NOW)

    def test_another_secret_is_refused(self) -> None:
        with pytest.raises(InvalidSignature, match="does not match"):
            verify(BODY, signature_header(SECRET, BODY, NOW), SECRET + "x", now=NOW)

    def test_an_old_or_future_timestamp_is_refused_even_when_signed(self) -> None:
        header = signature_header(SECRET, BODY, NOW)
        for now in (NOW + 301, NOW - 301):
            with pytest.raises(InvalidSignature, match="tolerance"):
                verify(BODY, header, SECRET, now=now)
        assert verify(BODY, header, SECRET, now=NOW + 3000, tolerance=3600) == NOW

    def test_a_replayed_body_under_a_new_timestamp_is_refused(self) -> None:
        old = signature_header(SECRET, BODY, NOW).split(",v1=")[1]
        with pytest.raises(InvalidSignature):
            verify(BODY, f"t={NOW + 600},v1={old}", SECRET, now=NOW + 600)

    @pytest.mark.parametrize("header", [None, "", "v1=abc", f"t={NOW}", "t=x,v1=ab",
                                        f"t={NOW},v2=ab", "garbage"])
    def test_a_missing_or_malformed_header_is_refused(self, header: str | None) -> None:
        with pytest.raises(InvalidSignature):
            verify(BODY, header, SECRET, now=NOW)

    def test_any_of_several_v1_signatures_may_match(self) -> None:
        good = sign(SECRET, NOW, BODY)
        assert verify(BODY, f"t={NOW},v1={'0' * 64},v1={good}", SECRET, now=NOW) == NOW


def _raw(**body: object) -> bytes:
    return json.dumps({"url": "https://hooks.example.com/q", "events": ["job.dead"],
                       **body}).encode()


class TestSubscriptionInput:
    def test_a_valid_request_keeps_events_in_canonical_order(self) -> None:
        req = check_request(_raw(events=["job.dead", "job.succeeded", "job.dead"]),
                            allow_http=False)
        assert req.events == ["job.succeeded", "job.dead"]
        assert req.max_retries == 10 and req.enabled

    @pytest.mark.parametrize(("body", "field"), [
        ({"url": "ftp://x.example/"}, "url"),
        ({"url": "hooks.example.com/x"}, "url"),
        ({"url": "https://"}, "url"),
        ({"url": "https://user:pw@x.example/"}, "url"),
        ({"url": "https://x.example:99999/"}, "url"),
        ({"url": "http://127.0.0.1:9/x"}, "url"),
        ({"events": []}, "events"),
        ({"events": ["job.failed"]}, "events"),
        ({"events": "job.dead"}, "events"),
        ({"queue": "bad queue"}, "queue"),
        ({"max_retries": 101}, "max_retries"),
        ({"secret": "mine"}, "secret"),
    ])
    def test_bad_input_names_the_field(self, body: dict[str, object], field: str) -> None:
        with pytest.raises(InvalidInput) as caught:
            check_request(_raw(**body), allow_http=False)
        assert caught.value.field == field or field in caught.value.message

    def test_plain_http_only_when_allowed(self) -> None:
        assert check_request(_raw(url="http://127.0.0.1:9/x"), allow_http=True).url.startswith(
            "http://")

    def test_globs_become_like_patterns_with_like_wildcards_escaped(self) -> None:
        assert glob_to_like(None) is None
        assert glob_to_like("mail.*") == "mail.%"
        assert glob_to_like("a_b%c?") == "a\\_b\\%c_"
        assert glob_to_like("x\\y") == "x\\\\y"

    def test_new_webhooks_get_distinct_ids_and_long_secrets(self) -> None:
        req = check_request(_raw(), allow_http=False)
        one, two = new_webhook(req), new_webhook(req)
        assert one.id != two.id and one.id.startswith("wh_") and len(one.id) == 15
        assert one.secret != two.secret and len(one.secret) >= 43

    def test_internal_queues_are_those_users_cannot_name(self) -> None:
        assert internal_queues(["_quorra.webhooks", "default", "quorra.x"]) == {
            "_quorra.webhooks"}


def test_delivery_body_carries_the_snapshot_and_the_attempt() -> None:
    now = datetime(2026, 1, 2, tzinfo=UTC)
    job = Job(id=uuid.uuid4(), type="quorra.webhook", queue="_quorra.webhooks", priority=0,
              status=JobStatus.LEASED, attempts=2, max_retries=10, last_error="HTTP 500",
              result=None, run_at=now, created_at=now, updated_at=now,
              payload={"webhook": "wh_x", "event": "job.dead", "job": {"id": "j"}})
    body = json.loads(delivery_body(job, now))
    assert body == {"id": str(job.id), "event": "job.dead", "webhook": "wh_x", "attempt": 2,
                    "delivered_at": now.isoformat(), "job": {"id": "j"}}
