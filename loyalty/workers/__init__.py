"""Background work: the Dramatiq broker, actors, scheduler and the embedded mode.

Every module that declares actors is listed in ACTOR_MODULES, so that production
workers (`loyalty worker`) and the embedded worker consume the same queues.
"""

from __future__ import annotations

import importlib


class BrokerConfigError(ValueError):
    """BROKER_URL names a scheme we do not support, or its client is not installed.

    Defined here, not in `broker`, because importing `broker` is what raises it."""


ACTOR_MODULES = (
    "loyalty.workers.actors",
    "loyalty.workers.webhooks",
    "loyalty.workers.vouchers",
    "loyalty.workers.messages",
    "loyalty.workers.sweeps",
)


def load_actors() -> None:
    """Import every actor module, declaring its actors (and queues) on the broker."""
    for name in ACTOR_MODULES:
        importlib.import_module(name)
