"""Keys, the keyring, the permission table and the failure throttle (no services)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from quorra.core.errors import InvalidInput, PermissionDenied
from quorra.core.keys import (
    ADMIN,
    ROLE_PERMISSIONS,
    Keyring,
    Permission,
    Principal,
    Role,
    hash_key,
    key_id_of,
    new_key,
)
from quorra.core.permissions import (
    REST_ROUTES,
    RPC_METHODS,
    Rule,
    Scope,
    authorize,
    authorize_queues,
)
from quorra.core.throttle import FailureThrottle

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_new_key_has_its_shape_and_only_its_hash_is_kept() -> None:
    made = new_key("ci deploy", Role.PRODUCER, ["orders*"], created_at=NOW)
    prefix, key_id, secret = made.secret.split("_", 2)
    assert prefix == "qk" and key_id == made.key.id and len(key_id) == 8
    assert len(secret) >= 32
    assert made.digest == hash_key(made.secret) and len(made.digest) == 32
    assert made.secret not in repr(made.key)
    assert key_id_of(made.secret.encode()) == key_id
    assert key_id_of(b"some-admin-key-xxxxxxxx") is None
    assert new_key("x", Role.WORKER, [], created_at=NOW).secret != made.secret


@pytest.mark.parametrize("name", ["", " leading space", "x" * 101, "semi;colon"])
def test_key_names_are_checked(name: str) -> None:
    with pytest.raises(InvalidInput, match="name"):
        new_key(name, Role.WORKER, [], created_at=NOW)


@pytest.mark.parametrize("pattern", ["", "a b", "x" * 129, "quote'"])
def test_queue_patterns_are_checked(pattern: str) -> None:
    with pytest.raises(InvalidInput, match="queues"):
        new_key("k", Role.WORKER, [pattern], created_at=NOW)


def test_keyring_accepts_stored_and_admin_keys_and_forgets_revoked() -> None:
    ring = Keyring("the-admin-key-0123456789")
    made = new_key("w", Role.WORKER, ["jobs.*"], created_at=NOW)
    assert ring.authenticate(made.secret.encode()) is None
    ring.replace([(made.key, made.digest)])
    found = ring.authenticate(made.secret.encode())
    assert found == Principal(Role.WORKER, ("jobs.*",), made.key.id, "w")
    assert ring.authenticate(b"the-admin-key-0123456789") is ADMIN
    assert ring.authenticate(b"") is None and ring.authenticate(made.secret.encode()[:-1]) is None
    assert ring.active(made.key.id) and ring.active("env")
    ring.remove(made.key.id)
    assert ring.authenticate(made.secret.encode()) is None and not ring.active(made.key.id)
    ring.add(made.key, made.digest)
    assert ring.authenticate(made.secret.encode()) == found
    ring.replace([])
    assert ring.authenticate(made.secret.encode()) is None


def test_queue_patterns_are_globs() -> None:
    worker = Principal(Role.WORKER, ("orders", "mail.*"))
    assert worker.may_use("orders") and worker.may_use("mail.eu")
    assert not worker.may_use("orders2") and not worker.may_use("mail")
    assert worker.denied_queues(["orders", "billing", "mail.x"]) == ["billing"]
    assert Principal(Role.WORKER).may_use("anything")
    with pytest.raises(PermissionDenied, match="billing"):
        authorize_queues(worker, ["billing"])


def test_roles() -> None:
    assert ROLE_PERMISSIONS[Role.ADMIN] == frozenset(Permission)
    assert ROLE_PERMISSIONS[Role.WORKER] == {Permission.LEASE}
    assert Permission.KEYS not in ROLE_PERMISSIONS[Role.OPERATOR]
    assert Permission.DASHBOARD in ROLE_PERMISSIONS[Role.OPERATOR]
    with pytest.raises(PermissionDenied):
        authorize(Principal(Role.PRODUCER), Rule(Permission.LEASE))
    with pytest.raises(PermissionDenied, match="every queue"):
        authorize(Principal(Role.OPERATOR, ("a",)), Rule(Permission.READ_ALL, Scope.ALL))
    authorize(Principal(Role.OPERATOR), Rule(Permission.READ_ALL, Scope.ALL))


def test_the_table_covers_the_rpcs_of_the_proto() -> None:
    from quorra.rpc.proto import quorra_pb2 as pb

    service = pb.DESCRIPTOR.services_by_name["WorkerService"]
    assert set(RPC_METHODS) == {f"/quorra.WorkerService/{m.name}" for m in service.methods}


def test_every_v1_route_of_the_app_is_in_the_table() -> None:
    from unittest.mock import MagicMock

    from litestar.routes import HTTPRoute
    from prometheus_client import CollectorRegistry

    from quorra.http.app import create_app

    app = create_app(MagicMock(), api_key="unit-test-key-0123456789",
                     registry=CollectorRegistry(), readiness=MagicMock())
    routes = {(method, route.path) for route in app.routes if isinstance(route, HTTPRoute)
              and route.path.startswith("/v1/") for method in route.route_handler_map
              if method != "OPTIONS"}
    assert routes == set(REST_ROUTES)


def test_throttle_counts_failures_per_address_and_key_id() -> None:
    now = [0.0]
    throttle = FailureThrottle(limit=3, window=10, clock=lambda: now[0])
    assert [throttle.failed("a") for _ in range(3)] == [None, None, None]
    assert throttle.failed("a") == 10
    assert throttle.failed("b") is None  # another client
    now[0] = 4.0
    assert throttle.failed("a") == 6
    now[0] = 10.5  # the oldest failures left the window
    assert throttle.failed("a") is None
    for address in ("c", "d", "e"):  # one key id tried from many addresses
        assert throttle.failed(address, "abcd1234") is None
    assert throttle.failed("f", "abcd1234") is not None


def test_throttle_is_bounded() -> None:
    throttle = FailureThrottle(limit=2, window=60, max_buckets=3)
    for n in range(10):
        throttle.failed(f"10.0.0.{n}")
    assert len(throttle._buckets) == 3


def test_peer_addresses() -> None:
    from quorra.rpc.auth import peer_address

    assert peer_address("ipv4:127.0.0.1:5678") == "127.0.0.1"
    assert peer_address("ipv6:[::1]:5678") == "::1"
    assert peer_address("unix:/run/q.sock") == "/run/q.sock"
