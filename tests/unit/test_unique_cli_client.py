"""Unique keys in the producer clients: ``quorractl create/enqueue --unique-key --unique-for``
sends them and says when the answer is a duplicate; ``quorra.Client``'s ``NewJob`` carries them
into the protobuf spec and reads the ``duplicate`` flag back."""

from __future__ import annotations

import json

import httpx
import pytest

from quorra.client.types import NewJob, enqueued_from_pb, to_pb
from quorra.rpc.proto import quorra_pb2 as pb
from tests.unit.test_quorractl_requests import run

DONE = {"id": "j1", "status": "pending", "run_at": "2026-01-01T00:00:00Z"}


@pytest.mark.parametrize("command", ["create", "enqueue"])
def test_quorractl_sends_the_key_and_window(monkeypatch: pytest.MonkeyPatch,
                                            command: str) -> None:
    seen: list[httpx.Request] = []
    result = run(monkeypatch, seen, lambda _: httpx.Response(201, json=DONE), command, "t",
                 "--unique-key", "order-7", "--unique-for", "90")
    assert result.exit_code == 0, result.output
    body = json.loads(seen[0].content)
    assert (body["unique_key"], body["unique_for_seconds"]) == ("order-7", 90)
    assert "created successfully" in result.stdout


def test_quorractl_says_duplicate(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[httpx.Request] = []
    answer = {**DONE, "created": False, "duplicate": True}
    result = run(monkeypatch, seen, lambda _: httpx.Response(200, json=answer), "create", "t",
                 "--unique-key", "k")
    assert result.exit_code == 0, result.output
    assert "unique_for_seconds" not in json.loads(seen[0].content)
    assert "Duplicate" in result.stdout and "j1" in result.stdout


def test_quorractl_refuses_a_window_of_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[httpx.Request] = []
    result = run(monkeypatch, seen, lambda _: httpx.Response(201, json=DONE), "create", "t",
                 "--unique-key", "k", "--unique-for", "0")
    assert result.exit_code == 2 and not seen


def test_client_spec_carries_the_key() -> None:
    message = to_pb(NewJob.from_mapping({"type": "t", "unique_key": "k",
                                         "unique_for_seconds": 5}))
    assert (message.unique_key, message.unique_for_seconds) == ("k", 5)
    plain = to_pb(NewJob("t"))
    assert plain.unique_key == "" and not plain.HasField("unique_for_seconds")
    assert enqueued_from_pb(pb.Enqueued(id="x", status="pending", duplicate=True)).duplicate
