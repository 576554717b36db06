"""``quorractl webhooks``: webhook subscriptions (create, list, show, enable, disable, delete,
deliveries); needs an admin key."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import click
from rich.markup import escape
from rich.table import Table

from quorra.cli.context import ApiGroup, Ctl, pass_ctl
from quorra.cli.render import when

__all__ = ["webhooks"]

EVENTS = ("job.succeeded", "job.dead", "job.cancelled")


def _path(webhook_id: str, tail: str = "") -> str:
    return f"/v1/webhooks/{quote(webhook_id, safe='')}{tail}"


def _show(ctl: Ctl, rows: list[dict[str, Any]]) -> None:
    if ctl.render.json_mode:
        ctl.render.json(rows)
        return
    table = Table(title="Webhooks", title_justify="left")
    for column in ("Id", "URL", "Events", "Queue", "Type", "Enabled", "Created"):
        table.add_column(column)
    for row in rows:
        table.add_row(escape(row["id"]), escape(row["url"]), escape(", ".join(row["events"])),
                      escape(row.get("queue") or "any"), escape(row.get("type") or "any"),
                      "yes" if row["enabled"] else "no", when(row.get("created_at")))
    ctl.render.out.print(table if rows else "No webhooks.")


def _list(ctl: Ctl) -> None:
    with ctl.client() as client:
        _show(ctl, client.request("GET", "/v1/webhooks")["webhooks"])


@click.group(cls=ApiGroup, invoke_without_command=True)
@click.pass_context
def webhooks(ctx: click.Context) -> None:
    """List webhook subscriptions; subcommands create, change and delete them."""
    if ctx.invoked_subcommand is None:
        _list(ctx.find_object(Ctl))  # type: ignore[arg-type]


@webhooks.command("list")
@pass_ctl
def list_webhooks(ctl: Ctl) -> None:
    """List subscriptions (never their secrets)."""
    _list(ctl)


@webhooks.command()
@click.argument("url")
@click.option("--event", "events", multiple=True, type=click.Choice(EVENTS), required=True,
              help="A job event to deliver; repeat it.")
@click.option("--queue", default=None, metavar="PATTERN",
              help="Only jobs of this queue (exact, or a glob with * and ?).")
@click.option("--type", "type_", default=None, metavar="PATTERN",
              help="Only jobs of this type (exact, or a glob with * and ?).")
@click.option("--max-retries", type=click.IntRange(0, 100), default=10, show_default=True,
              help="Retries of a refused delivery before it is dead.")
@click.option("--description", default="", help="A note shown in listings.")
@pass_ctl
def create(ctl: Ctl, url: str, events: tuple[str, ...], queue: str | None,
           type_: str | None, max_retries: int, description: str) -> None:
    """Subscribe URL (https://) to job events; the signing secret is printed this once."""
    body = {"url": url, "events": list(events), "queue": queue, "type": type_,
            "max_retries": max_retries, "description": description}
    with ctl.client() as client:
        made = client.request("POST", "/v1/webhooks", body=body)
    if ctl.render.json_mode:
        ctl.render.json(made)
        return
    ctl.render.say(f"Created webhook {made['id']}. Its signing secret is shown only now:")
    click.echo(made["secret"])


def _set_enabled(ctl: Ctl, webhook_id: str, enabled: bool) -> None:
    with ctl.client() as client:
        client.request("PATCH", _path(webhook_id), body={"enabled": enabled})
    ctl.render.say(f"{'Enabled' if enabled else 'Disabled'} webhook {webhook_id}.")


@webhooks.command()
@click.argument("webhook_id", metavar="ID")
@pass_ctl
def enable(ctl: Ctl, webhook_id: str) -> None:
    """Deliver events to webhook ID again."""
    _set_enabled(ctl, webhook_id, True)


@webhooks.command()
@click.argument("webhook_id", metavar="ID")
@pass_ctl
def disable(ctl: Ctl, webhook_id: str) -> None:
    """Stop deliveries to webhook ID (pending ones are skipped)."""
    _set_enabled(ctl, webhook_id, False)


@webhooks.command()
@click.argument("webhook_id", metavar="ID")
@pass_ctl
def delete(ctl: Ctl, webhook_id: str) -> None:
    """Delete webhook ID (its pending deliveries are skipped)."""
    with ctl.client() as client:
        client.request("DELETE", _path(webhook_id))
    ctl.render.say(f"Deleted webhook {webhook_id}.")


@webhooks.command()
@click.argument("webhook_id", metavar="ID")
@click.option("--limit", type=click.IntRange(1, 200), default=20, show_default=True)
@pass_ctl
def deliveries(ctl: Ctl, webhook_id: str, limit: int) -> None:
    """The newest deliveries of webhook ID."""
    with ctl.client() as client:
        rows = client.request("GET", _path(webhook_id, "/deliveries"),
                              params={"limit": limit})["deliveries"]
    if ctl.render.json_mode:
        ctl.render.json(rows)
        return
    table = Table(title=f"Deliveries of {escape(webhook_id)}", title_justify="left")
    for column in ("Delivery", "Event", "Job", "Status", "Attempts", "Answer", "Next attempt"):
        table.add_column(column)
    for row in rows:
        answer = f"HTTP {row['response_status']}" if row.get("response_status") else (
            row.get("last_error") or "")
        table.add_row(escape(row["id"]), escape(row.get("event") or ""),
                      escape(row.get("job_id") or ""), escape(row["status"]),
                      str(row["attempts"]), escape(answer), when(row.get("next_attempt_at")))
    ctl.render.out.print(table if rows else "No deliveries.")
