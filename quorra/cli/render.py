"""How ``quorractl`` shows answers: JSON for scripts, rich tables for people."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from quorra.core.limits import QueueLimits, describe

__all__ = ["STATUS_ORDER", "Renderer", "limits_text", "when"]

STATUS_ORDER = ("pending", "blocked", "leased", "succeeded", "dead", "cancelled")
_STATUS_STYLE = {"pending": "yellow", "blocked": "magenta", "leased": "cyan",
                 "succeeded": "green", "dead": "red", "cancelled": "dim"}
_JOB_FIELDS = ("id", "type", "queue", "status", "priority", "attempts", "max_retries",
               "unique_key", "last_error", "run_at", "created_at", "updated_at", "finished_at",
               "leased_by", "lease_expires_at", "timeout_seconds")


def when(value: Any) -> str:
    """A timestamp (RFC 3339 text or epoch seconds) shortened for a table, in UTC."""
    if isinstance(value, int | float):
        parsed = datetime.fromtimestamp(value, UTC)
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    else:
        return "" if value is None else str(value)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC)
    return parsed.strftime("%Y-%m-%d %H:%M:%S")


def status_text(status: Any) -> str:
    text = escape(str(status))
    style = _STATUS_STYLE.get(str(status))
    return f"[{style}]{text}[/{style}]" if style else text


class Renderer:
    """Writes to stdout (answers) and stderr (progress, notes); ``json_mode`` picks the form."""

    def __init__(self, json_mode: bool) -> None:
        self.json_mode = json_mode
        self.out = Console(highlight=False, soft_wrap=False)
        if not self.out.is_terminal:
            self.out = Console(highlight=False, width=200)
        self.err = Console(stderr=True, highlight=False)

    def json(self, value: Any) -> None:
        click.echo(json.dumps(value, indent=2, ensure_ascii=False))

    def json_line(self, value: Any) -> None:
        click.echo(json.dumps(value, ensure_ascii=False))

    def note(self, text: str) -> None:
        self.err.print(text, markup=False, soft_wrap=True)

    def say(self, text: str) -> None:
        self.out.print(text, markup=False, soft_wrap=True)

    def lines(self, rows: Sequence[tuple[str, Any]]) -> None:
        width = max((len(label) for label, _ in rows), default=0) + 2
        for label, value in rows:
            self.out.print(f"{label + ':':<{width}}{escape(str(value))}")

    def job(self, job: dict[str, Any]) -> None:
        table = Table(show_header=False, box=None, pad_edge=False)
        table.add_column("field", style="bold")
        table.add_column("value", overflow="fold")
        for name in _JOB_FIELDS:
            if job.get(name) is not None:
                value = status_text(job[name]) if name == "status" else escape(str(job[name]))
                table.add_row(name, value)
        for name in ("depends_on", "dependents"):
            if job.get(name):
                table.add_row(name, escape("\n".join(str(i) for i in job[name])))
        table.add_row("payload", escape(json.dumps(job.get("payload", {}), indent=2)))
        if job.get("result") is not None:
            table.add_row("result", escape(json.dumps(job["result"], indent=2)))
        self.out.print(table)

    def jobs(self, jobs: Sequence[dict[str, Any]], title: str | None = None) -> None:
        table = Table(title=title, title_justify="left")
        for name in ("ID", "Type", "Queue", "Status", "Prio", "Tries", "Created", "Last error"):
            table.add_column(name, no_wrap=name in ("ID", "Created"))
        for job in jobs:
            table.add_row(
                str(job.get("id", "")), escape(str(job.get("type", ""))),
                escape(str(job.get("queue", ""))), status_text(job.get("status", "")),
                str(job.get("priority", "")),
                f"{job.get('attempts', 0)}/{job.get('max_retries', 0)}",
                when(job.get("created_at")), escape(str(job.get("last_error") or "")),
            )
        self.out.print(table if jobs else "No jobs.")

    def queues(self, rows: Sequence[dict[str, Any]], paused: Sequence[str] = (),
               limits: dict[str, dict[str, Any]] | None = None) -> None:
        limits = limits or {}
        counts: dict[str, dict[str, int]] = {str(queue): {} for queue in [*paused, *limits]}
        for row in rows:
            counts.setdefault(str(row["queue"]), {})[str(row["status"])] = int(row["count"])
        statuses = [s for s in STATUS_ORDER if any(s in c for c in counts.values())]
        statuses += sorted({s for c in counts.values() for s in c} - set(statuses))
        table = Table(title="Queue Statistics", title_justify="left")
        table.add_column("Queue")
        for status in statuses:
            table.add_column(status_text(status), justify="right")
        table.add_column("total", justify="right")
        for queue in sorted(counts):
            by_status = counts[queue]
            name = escape(queue) + (" [yellow](paused)[/yellow]" if queue in paused else "")
            if queue in limits:
                name += f" [cyan]({escape(limits_text(limits[queue]))})[/cyan]"
            table.add_row(name, *(str(by_status.get(s, 0)) for s in statuses),
                          str(sum(by_status.values())))
        self.out.print(table if counts else "No jobs in any queue.")

    def workers(self, workers: Sequence[dict[str, Any]]) -> None:
        table = Table(title="Connected workers", title_justify="left")
        for name in ("Worker", "Queues", "In flight", "Server", "Connected", "Last seen"):
            table.add_column(name)
        for worker in workers:
            table.add_row(
                escape(str(worker.get("worker_id", ""))),
                escape(",".join(str(q) for q in worker.get("queues", []))),
                str(worker.get("in_flight", 0)), escape(str(worker.get("replica") or "")),
                when(worker.get("connected_at")), when(worker.get("last_seen")),
            )
        self.out.print(table if workers else "No workers connected.")


def limits_text(limits: dict[str, Any]) -> str:
    """A queue's limits as ``GET /v1/queues/{queue}/limits`` gives them, in words."""
    return describe(QueueLimits(**{k: limits.get(k) for k in QueueLimits.__struct_fields__}))
