"""OpenAPI helpers: request bodies that handlers decode themselves (strictly) still get documented,
from the same msgspec structs that validate them."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import msgspec
from litestar.openapi.spec import (
    OpenAPIMediaType,
    OpenAPIType,
    Operation,
    Parameter,
    RequestBody,
    Schema,
)

__all__ = ["json_body_operation"]

_SNAKE = re.compile(r"(?<!^)(?=[A-Z])")
_TRACEPARENT = Parameter(
    name="traceparent", param_in="header", required=False,
    description="The producer's W3C trace context (https://www.w3.org/TR/trace-context/): "
                "stored with each job that has no traceparent of its own (README \"Tracing\"). "
                "Malformed: 400.",
    schema=Schema(type=OpenAPIType.STRING, max_length=512))


def _schema(node: dict[str, Any], defs: dict[str, Any]) -> Schema:
    if "$ref" in node:
        return _schema(defs[node["$ref"].rsplit("/", 1)[1]], defs)
    fields: dict[str, Any] = {}
    for key, value in node.items():
        name = _SNAKE.sub("_", key).lower()
        if name == "properties":
            value = {k: _schema(v, defs) for k, v in value.items()}
        elif name == "items":
            value = _schema(value, defs)
        elif name == "any_of":
            value = [_schema(v, defs) for v in value]
        fields[name] = value
    return Schema(**fields)


def json_body_operation(struct: type[msgspec.Struct], *,
                        traceparent: bool = False) -> type[Operation]:
    """An ``operation_class`` documenting a JSON body of type ``struct`` (and, with
    ``traceparent``, the optional ``traceparent`` header)."""
    generated = msgspec.json.schema(struct)
    body = _schema(generated, generated.get("$defs", {}))

    @dataclasses.dataclass
    class _Operation(Operation):
        def __post_init__(self) -> None:
            self.request_body = RequestBody(
                required=True, content={"application/json": OpenAPIMediaType(schema=body)}
            )
            if traceparent:
                self.parameters = [*(self.parameters or []), _TRACEPARENT]

    return _Operation
