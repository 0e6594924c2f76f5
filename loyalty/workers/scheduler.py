"""The scheduler: enqueue the scheduled actors (mostly per-shop fan-outs) at fixed intervals.

A small loop rather than a cron library: three jobs at fixed intervals, all
idempotent, so the only things that matter are that each runs at least once per
interval and that a restart catches up at once (every job is due on start). Run
exactly one scheduler per deployment; a second one only causes harmless extra runs.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import dramatiq

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 30.0

#: env variable -> (fan-out actor name, default minutes)
INTERVALS: dict[str, tuple[str, int]] = {
    "LOYALTY_CONFIRM_EVERY_MINUTES": ("confirm_pending_points_all_shops", 15),
    "LOYALTY_EXPIRE_EVERY_MINUTES": ("expire_points_all_shops", 24 * 60),
    "LOYALTY_TIERS_EVERY_MINUTES": ("reevaluate_tiers_all_shops", 24 * 60),
    "LOYALTY_RELEASE_MESSAGES_EVERY_MINUTES": ("release_due_messages", 1),
    "LOYALTY_SWEEP_EVERY_MINUTES": ("resend_stalled_work", 10),
}


@dataclass(frozen=True)
class Entry:
    """One fan-out actor and how often to enqueue it."""

    actor_name: str
    every_seconds: float


def schedule_from_env(env: Mapping[str, str] = os.environ) -> list[Entry]:
    """The schedule, each interval overridable in whole minutes by its env variable."""
    entries = []
    for variable, (actor_name, default) in INTERVALS.items():
        raw = env.get(variable) or str(default)
        if not raw.isdigit() or int(raw) < 1:
            raise ValueError(f"{variable} must be a whole number of minutes >= 1, not {raw!r}")
        entries.append(Entry(actor_name, int(raw) * 60.0))
    return entries


class Scheduler:
    """Sends each entry's actor when due; `tick` is the whole behaviour, `run` loops it."""

    def __init__(
        self,
        broker: dramatiq.Broker,
        entries: list[Entry],
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.broker = broker
        self.entries = entries
        self.monotonic = monotonic
        start = monotonic()
        self.next_due = {entry: start for entry in entries}

    def tick(self) -> list[Entry]:
        """Enqueue every entry that is due; one the broker refuses is retried shortly."""
        now = self.monotonic()
        sent = []
        for entry in self.entries:
            due = self.next_due[entry]
            if due > now:
                continue
            try:
                self.broker.get_actor(entry.actor_name).send()
            except Exception:
                log.exception("could not enqueue %s; retrying", entry.actor_name)
                self.next_due[entry] = now + RETRY_AFTER_SECONDS
                continue
            # Keep to the grid, but after a long stall run once, not once per missed slot.
            following = due + entry.every_seconds
            self.next_due[entry] = following if following > now else now + entry.every_seconds
            sent.append(entry)
            log.info("enqueued %s", entry.actor_name)
        return sent

    def seconds_to_next(self) -> float:
        return max(0.0, min(self.next_due.values()) - self.monotonic())

    def run(self, stop: threading.Event) -> None:
        """Loop until `stop` is set (a signal handler or the embedded server sets it)."""
        while not stop.is_set():
            self.tick()
            stop.wait(self.seconds_to_next())
