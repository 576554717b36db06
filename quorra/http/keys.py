"""``/v1/keys``: scoped API keys (admin). The secret is in the creation's answer only; listings
show ids, names, roles, queue patterns, tenants and dates, never a key nor its hash."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.datastructures import State
from litestar.params import FromPath

from quorra.core.errors import Unavailable
from quorra.core.keys import ApiKey, Role
from quorra.core.spec import decode_body
from quorra.http.auth import require_api_key
from quorra.http.errors import error_responses
from quorra.http.openapi import json_body_operation
from quorra.keys import KeyService

__all__ = ["KeyBody", "KeyList", "KeyView", "KeysController", "key_view"]


class KeyBody(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    role: Role
    queues: list[str] = msgspec.field(default_factory=list)
    tenant: str | None = None  # none: the key sees every tenant's queues


class KeyView(msgspec.Struct):
    id: str
    name: str
    role: str
    queues: list[str]
    created_at: datetime
    revoked_at: datetime | None = None
    tenant: str | None = None


class CreatedKey(KeyView):
    key: str = ""  # the whole key: shown this once


class KeyList(msgspec.Struct):
    keys: list[KeyView]


def key_view(key: ApiKey) -> KeyView:
    return KeyView(id=key.id, name=key.name, role=key.role.value, queues=list(key.queues),
                   created_at=key.created_at, revoked_at=key.revoked_at, tenant=key.tenant)


def _keys(state: State) -> KeyService:
    keys: KeyService | None = state.key_service
    if keys is None:
        raise Unavailable("API keys are not managed here")
    return keys


class KeysController(Controller):
    path = "/v1/keys"
    before_request = staticmethod(require_api_key)
    security = [{"apiKey": []}, {"bearer": []}]  # noqa: RUF012
    tags = ["keys"]  # noqa: RUF012

    @post("/", status_code=201, operation_class=json_body_operation(KeyBody),
          responses=error_responses(400, 401, 503),
          summary="Create an API key (the answer holds the key: it is never shown again)")
    async def create(self, request: Request[Any, Any, Any]) -> CreatedKey:
        body: KeyBody = decode_body(await request.body(), KeyBody)
        made = await _keys(request.app.state).create(body.name, body.role, body.queues,
                                                     body.tenant)
        view = key_view(made.key)
        return CreatedKey(**msgspec.structs.asdict(view), key=made.secret)

    @get("/", responses=error_responses(401, 503), summary="List API keys (never the secrets)")
    async def list_keys(self, state: State) -> KeyList:
        return KeyList(keys=[key_view(key) for key in await _keys(state).list_keys()])

    @delete("/{key_id:str}", status_code=200, responses=error_responses(401, 404, 503),
            summary="Revoke an API key (every replica refuses it within 5 s; its dashboard "
                    "sessions end)")
    async def revoke(self, key_id: FromPath[str], state: State) -> KeyView:
        return key_view(await _keys(state).revoke(key_id))
