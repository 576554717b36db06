"""``quorractl dlq``: the dead-letter queue (jobs that exhausted their retries)."""

from __future__ import annotations

import click

from quorra.cli.context import ApiGroup, Ctl, pass_ctl

__all__ = ["dlq"]


@click.group(cls=ApiGroup, invoke_without_command=True)
@click.option("--queue", help="Only this queue.")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.pass_context
def dlq(ctx: click.Context, queue: str | None, limit: int) -> None:
    """List dead jobs; `dlq replay` runs them again."""
    if ctx.invoked_subcommand is not None:
        return
    ctl: Ctl = ctx.find_object(Ctl)  # type: ignore[assignment]
    with ctl.client() as client:
        page = client.list_jobs(queue=queue, status="dead", limit=limit)
    if ctl.render.json_mode:
        ctl.render.json(page)
        return
    ctl.render.jobs(page.get("jobs", []), title="Dead jobs")
    if page.get("next_cursor"):
        ctl.render.note(f"More: quorractl list --status dead --cursor {page['next_cursor']}")


@dlq.command()
@click.argument("job_ids", metavar="[ID]...", nargs=-1)
@click.option("--queue", help="Replay every dead job of this queue.")
@pass_ctl
def replay(ctl: Ctl, job_ids: tuple[str, ...], queue: str | None) -> None:
    """Run dead jobs again: the IDs given, or all of one --queue."""
    if bool(job_ids) == bool(queue):
        raise click.UsageError("give job IDs or --queue QUEUE (one of the two)")
    with ctl.client() as client:
        if queue:
            retried = client.retry_dead(queue)
            ids: list[str] = []
        else:
            ids = [str(client.retry(job_id).get("id", job_id)) for job_id in job_ids]
            retried = len(ids)
    if ctl.render.json_mode:
        ctl.render.json({"retried": retried, **({"ids": ids} if ids else {})})
    else:
        where = f" in queue {queue}" if queue else ""
        ctl.render.say(f"Replayed {retried} dead job{'s' * (retried != 1)}{where}.")
