"""``quorractl``: drive a Quorra server from a terminal, over its REST API.

Exit status: 0 on success, 1 when the server answers with an error or cannot be reached (its
message is shown), 2 on a usage error (bad option, bad JSON)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from quorra.cli.context import ApiGroup, Ctl, JsonObject, pass_ctl
from quorra.cli.render import STATUS_ORDER, Renderer, limits_text

__all__ = ["main"]

DEFAULT_SERVER = "http://localhost:8080"


def _dev_key() -> str:
    """The key dev mode saved, when quorractl runs beside it and no key was given."""
    path = Path(os.environ.get("QUORRA_DEV_DIR") or ".quorra-dev") / "api-key"
    try:
        return path.read_text().strip()
    except OSError:
        return ""


@click.group(cls=ApiGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--server", envvar="QUORRA_URL", default=DEFAULT_SERVER, show_default=True,
              show_envvar=True, help="Base URL of a Quorra server.")
@click.option("--api-key", envvar="QUORRA_API_KEY", show_envvar=True,
              help="API key or bearer JWT (default: the dev-mode key in ./.quorra-dev, "
                   "if any).")
@click.option("--output", "-o", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="Tables for people, JSON for scripts.")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
              help="Seconds to wait for each HTTP answer.")
@click.option("--ca-cert", envvar="QUORRA_TLS_CA", show_envvar=True,
              type=click.Path(exists=True, dir_okay=False),
              help="PEM CA bundle to trust for an https:// server (and for gRPC commands).")
@click.version_option(package_name="quorra", prog_name="quorractl")
@click.pass_context
def main(ctx: click.Context, server: str, api_key: str | None, output: str,
         timeout: float, ca_cert: str | None) -> None:
    """Operate a Quorra job queue: enqueue, inspect, retry and watch jobs."""
    if not server.startswith(("http://", "https://")):
        raise click.BadParameter("must be an http:// or https:// URL", param_hint="--server")
    ctx.obj = Ctl(server, api_key if api_key is not None else _dev_key(), timeout,
                  Renderer(json_mode=output == "json"), ca_cert)


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


@main.command()
@click.argument("job_type", metavar="TYPE")
@click.option("--payload", type=JsonObject(), default="{}", show_default=True,
              help="The job's payload, a JSON object.")
@click.option("--queue", default="default", show_default=True)
@click.option("--priority", type=int, default=0, show_default=True,
              help="Higher runs first.")
@click.option("--delay", type=click.FloatRange(min=0), default=0, show_default=True,
              help="Seconds before the job may run.")
@click.option("--retries", type=click.IntRange(min=0), default=3, show_default=True,
              help="Retries after the first attempt.")
@click.option("--timeout", "job_timeout", type=float, default=None,
              help="Each attempt's time limit in seconds (default: the server's).")
@click.option("--unique-key", help="While a job of the queue holds this key, enqueue nothing "
                                   "and show that job.")
@click.option("--unique-for", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
              help="Hold the unique key this long (default: until the job finishes).")
@click.option("--after", "after", multiple=True, metavar="ID",
              help="Run only after job ID succeeded (repeatable: after every one).")
@pass_ctl
def create(ctl: Ctl, job_type: str, payload: dict[str, Any], queue: str, priority: int,
           delay: float, retries: int, job_timeout: float | None, unique_key: str | None,
           unique_for: float | None, after: tuple[str, ...]) -> None:
    """Enqueue one job of TYPE."""
    job = {"type": job_type, "payload": payload, "queue": queue, "priority": priority,
           "delay_seconds": _number(delay), "max_retries": retries}
    if job_timeout is not None:
        job["timeout_seconds"] = _number(job_timeout)
    if unique_key is not None:
        job["unique_key"] = unique_key
    if unique_for is not None:
        job["unique_for_seconds"] = _number(unique_for)
    if after:
        job["depends_on"] = list(after)
    with ctl.client() as client:
        done = client.create(job)
    if ctl.render.json_mode:
        ctl.render.json(done)
        return
    ctl.render.say("Duplicate: a job of this queue holds the key; nothing was enqueued."
                   if done.get("duplicate") else "Job created successfully!")
    ctl.render.lines([("ID", done["id"]), ("Status", done["status"]),
                      ("Run at", done["run_at"])])


@main.command()
@click.argument("job_id", metavar="ID")
@pass_ctl
def get(ctl: Ctl, job_id: str) -> None:
    """Show one job."""
    with ctl.client() as client:
        job = client.get(job_id)
    ctl.render.json(job) if ctl.render.json_mode else ctl.render.job(job)


@main.command()
@pass_ctl
def queues(ctl: Ctl) -> None:
    """Job counts per queue and status; paused queues are marked."""
    with ctl.client() as client:
        body = client.queue_overview()
    rows, paused = body.get("queues", []), body.get("paused", [])
    limits = body.get("limits", {})
    if ctl.render.json_mode:
        ctl.render.json({"queues": rows, "paused": paused, "limits": limits})
    else:
        ctl.render.queues(rows, paused, limits)


main.add_command(queues, "stats")
main.add_command(create, "enqueue")


@main.command("list")
@click.option("--queue", help="Only this queue.")
@click.option("--status", type=click.Choice(STATUS_ORDER), help="Only this status.")
@click.option("--type", "type_", metavar="TYPE", help="Only this job type.")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True,
              help="Jobs per page.")
@click.option("--cursor", help="Continue after a previous page (its next_cursor).")
@click.option("--payload", metavar="JSON",
              help='Only jobs whose payload contains this JSON object, e.g. \'{"user": 42}\'.')
@click.option("--id-prefix", metavar="HEX", help="Only jobs whose id starts with these digits.")
@pass_ctl
def list_jobs(ctl: Ctl, queue: str | None, status: str | None, type_: str | None, limit: int,
              cursor: str | None, payload: str | None, id_prefix: str | None) -> None:
    """List jobs, newest first, with filters."""
    with ctl.client() as client:
        page = client.list_jobs(queue=queue, status=status, type_=type_, limit=limit,
                                cursor=cursor, payload=payload, id_prefix=id_prefix)
    if ctl.render.json_mode:
        ctl.render.json(page)
        return
    ctl.render.jobs(page.get("jobs", []))
    if page.get("next_cursor"):
        ctl.render.note(f"More jobs: add --cursor {page['next_cursor']}")


@main.command()
@click.argument("job_id", metavar="ID")
@pass_ctl
def retry(ctl: Ctl, job_id: str) -> None:
    """Run a dead job again (its attempts start over)."""
    with ctl.client() as client:
        job = client.retry(job_id)
    if ctl.render.json_mode:
        ctl.render.json(job)
    else:
        ctl.render.lines([("ID", job.get("id", job_id)), ("Status", job.get("status")),
                          ("Run at", job.get("run_at"))])


@main.command()
@click.argument("job_id", metavar="ID")
@pass_ctl
def delete(ctl: Ctl, job_id: str) -> None:
    """Delete a job that is not leased."""
    with ctl.client() as client:
        client.delete(job_id)
    if ctl.render.json_mode:
        ctl.render.json({"deleted": job_id})
    else:
        ctl.render.say(f"Deleted job {job_id}.")


@main.command()
@click.argument("job_ids", metavar="[ID]...", nargs=-1)
@click.option("--queue", default=None, help="Cancel every unfinished job of this queue.")
@click.option("--type", "type_", default=None, help="Cancel every unfinished job of this type.")
@pass_ctl
def cancel(ctl: Ctl, job_ids: tuple[str, ...], queue: str | None, type_: str | None) -> None:
    """Cancel jobs: pending ones never run, running ones are stopped by their worker. Name
    IDs, or --queue and/or --type for every unfinished job matching them."""
    if bool(job_ids) == bool(queue or type_):
        raise click.UsageError("name job IDs, or --queue and/or --type (not both)")
    with ctl.client() as client:
        if not job_ids:
            count = client.cancel_many(queue, type_)
            if ctl.render.json_mode:
                ctl.render.json({"cancelled": count})
            else:
                ctl.render.say(f"Cancelled {count} job(s).")
            return
        jobs = [client.cancel(job_id) for job_id in job_ids]
    if ctl.render.json_mode:
        ctl.render.json(jobs[0] if len(jobs) == 1 else {"jobs": jobs})
        return
    for job in jobs:
        ctl.render.say(f"Job {job.get('id')} {job.get('status')}.")


def _set_paused(ctl: Ctl, queue: str, paused: bool) -> None:
    with ctl.client() as client:
        state = client.set_paused(queue, paused)
    if ctl.render.json_mode:
        ctl.render.json(state)
    else:
        ctl.render.say(f"Queue {queue} {'paused' if paused else 'resumed'}.")


@main.command()
@click.argument("queue", metavar="QUEUE")
@pass_ctl
def pause(ctl: Ctl, queue: str) -> None:
    """Stop leasing jobs of QUEUE on every server (enqueues are still accepted)."""
    _set_paused(ctl, queue, True)


@main.command()
@click.argument("queue", metavar="QUEUE")
@pass_ctl
def resume(ctl: Ctl, queue: str) -> None:
    """Lease jobs of a paused QUEUE again."""
    _set_paused(ctl, queue, False)


def _rate(text: str | None) -> tuple[int, float] | None:
    """``N/SECONDS`` (``50/1``, ``1000/60``) as ``(N, SECONDS)``."""
    if text is None:
        return None
    count, _, seconds = text.partition("/")
    try:
        return int(count), float(seconds or "1")
    except ValueError:
        raise click.BadParameter("expected N/SECONDS, e.g. 50/1", param_hint="--rate") from None


@main.command()
@click.argument("queue", metavar="QUEUE")
@click.option("--max-concurrency", type=int, help="At most N jobs of QUEUE leased at once.")
@click.option("--rate", metavar="N/SECONDS", help="At most N leases per SECONDS (e.g. 50/1).")
@click.option("--clear", is_flag=True, help="Remove every limit of QUEUE.")
@pass_ctl
def limits(ctl: Ctl, queue: str, max_concurrency: int | None, rate: str | None,
           clear: bool) -> None:
    """Show QUEUE's limits, or replace them (on every server, in every dispatch mode)."""
    rate_limit = _rate(rate)
    body = None
    if max_concurrency is not None or rate_limit is not None:
        body = {"max_concurrency": max_concurrency,
                "rate_limit": rate_limit[0] if rate_limit else None,
                "rate_period": rate_limit[1] if rate_limit else None}
    with ctl.client() as client:
        shown = client.limits(queue, body, clear=clear)
    ctl.render.json(shown) if ctl.render.json_mode else ctl.render.say(
        f"Queue {queue}: {limits_text(shown) or 'no limits'}.")


@main.command()
@pass_ctl
def workers(ctl: Ctl) -> None:
    """Workers connected to the server."""
    with ctl.client() as client:
        rows = client.workers()
    ctl.render.json({"workers": rows}) if ctl.render.json_mode else ctl.render.workers(rows)
