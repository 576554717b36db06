"""``quorractl keys``: scoped API keys (create, list, revoke); needs an admin key."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import click
from rich.markup import escape
from rich.table import Table

from quorra.cli.context import ApiGroup, Ctl, pass_ctl
from quorra.cli.render import when

__all__ = ["keys"]

ROLES = ("producer", "worker", "operator", "admin")


def _show(ctl: Ctl, rows: list[dict[str, Any]]) -> None:
    if ctl.render.json_mode:
        ctl.render.json(rows)
        return
    table = Table(title="API keys", title_justify="left")
    for column in ("Id", "Name", "Role", "Tenant", "Queues", "Created", "Revoked"):
        table.add_column(column)
    for row in rows:
        table.add_row(escape(str(row["id"])), escape(str(row["name"])), escape(str(row["role"])),
                      escape(str(row.get("tenant") or "")),
                      escape(", ".join(row.get("queues") or []) or "every queue"),
                      when(row.get("created_at")), when(row.get("revoked_at")) or "")
    ctl.render.out.print(table if rows else "No API keys.")


@click.group(cls=ApiGroup, invoke_without_command=True)
@click.pass_context
def keys(ctx: click.Context) -> None:
    """List API keys; subcommands create and revoke them."""
    if ctx.invoked_subcommand is not None:
        return
    ctl: Ctl = ctx.find_object(Ctl)  # type: ignore[assignment]
    with ctl.client() as client:
        _show(ctl, client.request("GET", "/v1/keys")["keys"])


@keys.command("list")
@pass_ctl
def list_keys(ctl: Ctl) -> None:
    """List API keys (ids, names, roles, tenants, queue patterns; never a secret)."""
    with ctl.client() as client:
        _show(ctl, client.request("GET", "/v1/keys")["keys"])


@keys.command()
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True,
              help="producer, worker, operator or admin.")
@click.option("--queue", "queues", multiple=True, metavar="PATTERN",
              help="A queue pattern the key is limited to (glob: orders, mail.*); repeat it. "
                   "None: every queue.")
@click.option("--tenant", default=None, metavar="TENANT",
              help="The tenant the key belongs to: it sees only that tenant's queues. None: "
                   "every tenant's.")
@pass_ctl
def create(ctl: Ctl, name: str, role: str, queues: tuple[str, ...], tenant: str | None) -> None:
    """Create a key NAME; its secret is printed this once (store it now)."""
    body: dict[str, Any] = {"name": name, "role": role, "queues": list(queues)}
    if tenant is not None:
        body["tenant"] = tenant
    with ctl.client() as client:
        made = client.request("POST", "/v1/keys", body=body)
    if ctl.render.json_mode:
        ctl.render.json(made)
        return
    ctl.render.say(f"Created key {made['id']} ({made['role']}). It is shown only now:")
    click.echo(made["key"])


@keys.command()
@click.argument("key_id", metavar="ID")
@pass_ctl
def revoke(ctl: Ctl, key_id: str) -> None:
    """Revoke key ID: every replica refuses it within 5 s and its dashboard sessions end."""
    with ctl.client() as client:
        client.request("DELETE", f"/v1/keys/{quote(key_id, safe='')}")
    ctl.render.say(f"Revoked key {key_id}.")
