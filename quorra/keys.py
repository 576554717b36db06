"""KeyService: scoped API keys' use-cases (the admin API calls it; housekeeping refreshes it).

Every replica authenticates against its in-memory ``Keyring``: the stored, unrevoked keys are
read again every ``REFRESH_SECONDS`` (and at once when a change is announced on the
``quorra_keys`` channel, where the composition root listens), so a key created or revoked on
one replica is accepted or refused by every replica within ``REVOCATION_BOUND`` seconds. The
replica that made the change applies it at once."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Protocol

from quorra.core.keys import ApiKey, Keyring, NewKey, Role, new_key

__all__ = ["REFRESH_SECONDS", "REVOCATION_BOUND", "KeyService", "KeyStore"]

log = logging.getLogger(__name__)
REFRESH_SECONDS = 2.0
REVOCATION_BOUND = 5.0  # documented: refresh period + a slow query, with margin
MAX_LISTED = 1000


class KeyStore(Protocol):
    async def create(self, new: NewKey) -> ApiKey: ...

    async def all_keys(self, limit: int) -> list[ApiKey]: ...

    async def active(self) -> list[tuple[ApiKey, bytes]]: ...

    async def revoke(self, key_id: str) -> ApiKey: ...


class KeyService:
    def __init__(self, store: KeyStore, keyring: Keyring) -> None:
        self.store = store
        self.keyring = keyring
        self._changes = 0  # keys created or revoked here (a refresh read meanwhile is stale)

    async def create(self, name: str, role: Role, queues: list[str],
                     tenant: str | None = None) -> NewKey:
        made = new_key(name, role, queues, created_at=datetime.now(UTC), tenant=tenant)
        await self.store.create(made)
        self.keyring.add(made.key, made.digest)
        self._changes += 1
        log.info("API key %s (%s, %s, tenant %s) created", made.key.id, made.key.name,
                 made.key.role, made.key.tenant)
        return made

    async def list_keys(self) -> list[ApiKey]:
        return await self.store.all_keys(MAX_LISTED)

    async def revoke(self, key_id: str) -> ApiKey:
        revoked = await self.store.revoke(key_id)
        self.keyring.remove(key_id)
        self._changes += 1
        log.info("API key %s revoked", key_id)
        return revoked

    async def refresh(self) -> None:
        """Read the stored keys again; a read that a change made here may have overtaken (its
        commit landing after the read began) is dropped: the next refresh takes its place."""
        seen = self._changes
        active = await self.store.active()
        if seen == self._changes:
            self.keyring.replace(active)
