"""Tortoise for Dramatiq workers: one context per worker, opened on its event loop.

Database connections belong to the event loop that opened them, and the AsyncIO
middleware runs every async actor on one loop thread. So the worker gets its own
`TortoiseContext`, initialised on that loop, and made current in each worker thread:
an async actor runs in a copy of the calling thread's context (asyncio copies it in
`run_coroutine_threadsafe`), so every actor sees the worker's context. It is never the
global fallback, so an embedded worker can share a process with the API (whose
context is) without either touching the other's connections.
"""

from __future__ import annotations

from typing import Any

from dramatiq import Broker, Middleware
from dramatiq.asyncio import get_event_loop_thread
from dramatiq.middleware import MiddlewareError
from tortoise.context import TortoiseContext

from loyalty import db
from loyalty.config import get_settings


class TortoiseMiddleware(Middleware):
    """Open the worker's database context at boot and close it at shutdown.

    `database_url` defaults to DATABASE_URL as it is when the worker boots.
    Must be added after the AsyncIO middleware: `before_worker_boot` runs in order,
    so the loop is running by then, and `after_worker_shutdown` runs in reverse, so
    connections close before the loop stops.
    """

    def __init__(self, database_url: str | None = None) -> None:
        self.database_url = database_url
        self.context: TortoiseContext | None = None

    def before_worker_boot(self, broker: Broker, worker: Any) -> None:
        loop_thread = get_event_loop_thread()
        if loop_thread is None:
            raise MiddlewareError("TortoiseMiddleware must come after the AsyncIO middleware")
        context = TortoiseContext()
        try:
            loop_thread.run_coroutine(self._open(context))
        except Exception as exc:  # Dramatiq logs and ignores anything but MiddlewareError
            raise MiddlewareError(f"worker could not open the database: {exc}") from exc
        self.context = context

    def after_worker_thread_boot(self, broker: Broker, thread: Any) -> None:
        if self.context is not None:
            self.context.__enter__()

    def after_worker_shutdown(self, broker: Broker, worker: Any) -> None:
        loop_thread = get_event_loop_thread()
        if self.context is not None and loop_thread is not None:
            loop_thread.run_coroutine(self._close(self.context))
        self.context = None

    async def _open(self, context: TortoiseContext) -> None:
        url = self.database_url or get_settings().database_url
        # Current while it initialises, so model set-up never reaches another context.
        with context:
            await context.init(config=db.tortoise_config(url))

    @staticmethod
    async def _close(context: TortoiseContext) -> None:
        with context:
            await context.close_connections()
