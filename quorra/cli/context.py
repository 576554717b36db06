"""What every ``quorractl`` command shares: the context object, error mapping, param types."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import click

from quorra.cli.render import Renderer
from quorra.cli.rest import ApiError, RestClient

__all__ = ["ApiGroup", "Ctl", "InputError", "JsonObject", "output_option", "pass_ctl"]


class InputError(click.ClickException):
    """Bad input data (not an option): exit 2 like a usage error."""

    exit_code = 2


@dataclasses.dataclass
class Ctl:
    server: str
    api_key: str
    timeout: float
    render: Renderer
    ca_cert: str | None = None  # a PEM bundle to trust for https:// (else the system's)

    def client(self) -> RestClient:
        return RestClient(self.server, self.api_key, timeout=self.timeout, ca_cert=self.ca_cert)


pass_ctl = click.make_pass_decorator(Ctl)


class JsonObject(click.ParamType[dict[str, Any]]):
    name = "JSON"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> dict[str, Any]:
        if isinstance(value, dict):
            return value
        try:
            parsed = json.loads(value)
        except ValueError as exc:
            self.fail(f"invalid JSON payload: {exc}", param, ctx)
        if not isinstance(parsed, dict):
            self.fail("the payload must be a JSON object, like '{\"to\": \"a@b.c\"}'", param, ctx)
        return parsed


def _set_output(ctx: click.Context, _: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.find_object(Ctl).render = Renderer(json_mode=value == "json")  # type: ignore[union-attr]


def output_option() -> Any:
    """``--output`` after the command too (``quorractl get ID -o json``)."""
    return click.option("--output", "-o", type=click.Choice(["table", "json"]), default=None,
                        expose_value=False, callback=_set_output,
                        help="Tables for people, JSON for scripts.")


class ApiGroup(click.Group):
    """Turns ``ApiError`` into ``Error: <the server's message>`` and exit status 1; every
    command also takes ``--output``."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        if not any(p.name == "output" for p in cmd.params):
            output_option()(cmd)
        super().add_command(cmd, name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ApiError as exc:
            raise click.ClickException(exc.message) from None
