"""Embedded mode: a Dramatiq worker and the scheduler as threads inside `loyalty serve`.

With no BROKER_URL the broker is an in-process StubBroker, so nothing else needs
installing; the same actors and scheduler run as in production, just in one process.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from dramatiq import Broker, Worker
from starlette.applications import Starlette

from loyalty.workers import load_actors
from loyalty.workers.scheduler import Entry, Scheduler

WORKER_THREADS = 2
STOP_TIMEOUT_MS = 30_000


class EmbeddedWorkers:
    """Starts and stops an in-process Worker and a scheduler thread together."""

    def __init__(self, broker: Broker, schedule: list[Entry]) -> None:
        self.broker = broker
        self.schedule = schedule
        self._stop = threading.Event()
        self._worker: Worker | None = None
        self._scheduler: threading.Thread | None = None

    def start(self) -> None:
        load_actors()
        self._stop.clear()
        self._worker = Worker(self.broker, worker_threads=WORKER_THREADS, worker_timeout=1000)
        self._worker.start()
        scheduler = Scheduler(self.broker, self.schedule)
        self._scheduler = threading.Thread(
            target=scheduler.run, args=(self._stop,), name="loyalty-scheduler", daemon=True
        )
        self._scheduler.start()

    def stop(self) -> None:
        """Stop scheduling first, then let the worker finish what it has in hand."""
        self._stop.set()
        if self._scheduler is not None:
            self._scheduler.join()
            self._scheduler = None
        if self._worker is not None:
            self._worker.stop(timeout=STOP_TIMEOUT_MS)
            self._worker = None


def run_alongside(app: Starlette, workers: EmbeddedWorkers) -> Starlette:
    """Run `workers` inside the app's lifespan: started after its startup, stopped before
    its shutdown, so jobs never outlive the API's database setup."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(scope_app: Any) -> AsyncIterator[Any]:
        async with inner(scope_app) as state:
            await asyncio.to_thread(workers.start)
            try:
                yield state
            finally:
                await asyncio.to_thread(workers.stop)

    app.router.lifespan_context = lifespan
    return app
