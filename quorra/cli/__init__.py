"""``quorractl``: a command-line client of Quorra's REST API (no server code inside)."""

from __future__ import annotations

from quorra.cli.commands import main
from quorra.cli.dlq import dlq
from quorra.cli.keys import keys
from quorra.cli.schedules import schedules
from quorra.cli.streams import enqueue_bulk, watch
from quorra.cli.webhooks import webhooks

__all__ = ["main"]

main.add_command(dlq)
main.add_command(enqueue_bulk)
main.add_command(keys)
main.add_command(schedules)
main.add_command(watch)
main.add_command(webhooks)
