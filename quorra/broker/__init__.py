"""The broker: the job operations themselves. ``base`` is the interface; drivers live in
subpackages and only the composition root (``quorra.bootstrap``) picks one."""

from quorra.broker.base import Broker, Settled

__all__ = ["Broker", "Settled"]
