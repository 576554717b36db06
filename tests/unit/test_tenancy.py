"""Tenant queue names: stored as ``<tenant>~<queue>``, shown without the prefix, never named
across tenants, at most 128 characters stored; a key's tenant is validated."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from quorra.core.errors import InvalidInput
from quorra.core.keys import Principal, Role, check_tenant, new_key
from quorra.core.spec import check_queue
from quorra.core.tenancy import owns, shown_queue, stored_queue, stored_queues, tenant_prefix

ACME = Principal(Role.ADMIN, tenant="acme")
NOBODY = Principal(Role.ADMIN)


def test_stored_and_shown() -> None:
    assert stored_queue(ACME, "mail") == "acme~mail"
    assert shown_queue(ACME, "acme~mail") == "mail"
    assert stored_queues(ACME, ["a", "b"]) == ["acme~a", "acme~b"]
    assert stored_queue(NOBODY, "acme~mail") == "acme~mail"  # no tenant: stored names as is
    assert shown_queue(NOBODY, "acme~mail") == "acme~mail"
    assert tenant_prefix("acme") == "acme~" and tenant_prefix(None) is None
    check_queue("acme~mail")


def test_ownership() -> None:
    assert owns(ACME, "acme~mail") and not owns(ACME, "acmex~mail")
    assert not owns(ACME, "mail") and not owns(ACME, "globex~mail")
    assert owns(NOBODY, "globex~mail") and owns(NOBODY, "mail")


@pytest.mark.parametrize("queue", ["globex~mail", "a~b", "x" * (128 - len("acme~") + 1)])
def test_a_tenant_cannot_name_another_tenants_queue_or_overflow(queue: str) -> None:
    with pytest.raises(InvalidInput):
        stored_queue(ACME, queue)
    assert len(stored_queue(ACME, "x" * (128 - len("acme~")))) == 128


@pytest.mark.parametrize("name", ["a~b~c", "~mail", "acme~", "-x~mail", "a/b"])
def test_stored_names_are_checked(name: str) -> None:
    with pytest.raises(InvalidInput):
        check_queue(name)


@pytest.mark.parametrize("tenant", ["", "a~b", "a/b", "-a", "x" * 65, "a b"])
def test_bad_tenants(tenant: str) -> None:
    with pytest.raises(InvalidInput):
        check_tenant(tenant)
    with pytest.raises(InvalidInput):
        new_key("k", Role.WORKER, [], created_at=datetime.now(UTC), tenant=tenant)


def test_a_keys_tenant_reaches_its_principal() -> None:
    made = new_key("k", Role.WORKER, ["m"], created_at=datetime.now(UTC), tenant="acme.eu-1")
    assert made.key.principal().tenant == "acme.eu-1"
