"""``quorractl schedules``: cron schedules (list, add, show, pause, resume, delete)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import click
from rich.markup import escape
from rich.table import Table

from quorra.cli.context import ApiGroup, Ctl, JsonObject, pass_ctl
from quorra.cli.render import when

__all__ = ["schedules"]


def _path(name: str = "") -> str:
    return f"/v1/schedules/{quote(name, safe='')}" if name else "/v1/schedules"


def _show(ctl: Ctl, rows: list[dict[str, Any]]) -> None:
    if ctl.render.json_mode:
        ctl.render.json(rows if len(rows) != 1 else rows[0])
        return
    table = Table(title="Schedules", title_justify="left")
    for column in ("Name", "Cron", "Zone", "Job type", "Queue", "State", "Next", "Last"):
        table.add_column(column)
    for row in rows:
        job = row.get("job", {})
        table.add_row(escape(str(row["name"])), escape(str(row["cron"])),
                      escape(str(row["timezone"])), escape(str(job.get("type", ""))),
                      escape(str(job.get("queue", ""))),
                      "paused" if row.get("paused") else "active",
                      when(row.get("next_run_at")), when(row.get("last_run_at")))
    ctl.render.out.print(table if rows else "No schedules.")


@click.group(cls=ApiGroup, invoke_without_command=True)
@click.pass_context
def schedules(ctx: click.Context) -> None:
    """List cron schedules; subcommands add, show, pause, resume and delete them."""
    if ctx.invoked_subcommand is not None:
        return
    ctl: Ctl = ctx.find_object(Ctl)  # type: ignore[assignment]
    with ctl.client() as client:
        _show(ctl, client.request("GET", _path())["schedules"])


@schedules.command()
@click.argument("name")
@click.argument("cron")
@click.argument("job_type", metavar="TYPE")
@click.option("--payload", type=JsonObject(), default="{}", help="The job's JSON payload.")
@click.option("--queue", default="default", show_default=True)
@click.option("--priority", type=int, default=0, show_default=True)
@click.option("--max-retries", type=int, default=3, show_default=True)
@click.option("--timezone", default="UTC", show_default=True, help="IANA zone of the cron.")
@click.option("--replace", is_flag=True, help="Replace a schedule of that name if any.")
@pass_ctl
def add(ctl: Ctl, name: str, cron: str, job_type: str, payload: dict[str, Any], queue: str,
        priority: int, max_retries: int, timezone: str, replace: bool) -> None:
    """Enqueue a TYPE job at every tick of CRON (5 fields, or 6 with seconds first)."""
    body = {"cron": cron, "timezone": timezone, "job": {
        "type": job_type, "payload": payload, "queue": queue, "priority": priority,
        "max_retries": max_retries}}
    with ctl.client() as client:
        if replace:
            saved = client.request("PUT", _path(name), body=body)
        else:
            saved = client.request("POST", _path(), body={"name": name, **body})
    _show(ctl, [saved])


def _one(action: str) -> click.Command:
    @click.argument("name")
    @pass_ctl
    def command(ctl: Ctl, name: str) -> None:
        with ctl.client() as client:
            if action == "delete":
                client.request("DELETE", _path(name))
                ctl.render.say(f"Deleted schedule {name}.")
                return
            path = _path(name) + ("" if action == "show" else f"/{action}")
            _show(ctl, [client.request("GET" if action == "show" else "POST", path)])

    command.__doc__ = {"show": "Show one schedule.", "pause": "Stop firing until resumed.",
                       "resume": "Fire again from the next tick after now.",
                       "delete": "Delete a schedule (jobs it enqueued stay)."}[action]
    return schedules.command(action)(command)


for _action in ("show", "pause", "resume", "delete"):
    _one(_action)
