"""Workers under test: the real actors rebound to a fresh broker, consumed in-process.

Each test gets its own broker built by `build_broker` (so with the same AsyncIO and
Tortoise middleware as production) and pointed at the test database; the worker
opens its own connections on its own event loop and closes them when stopped.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from dramatiq import Broker, Middleware, Worker
from dramatiq.brokers.stub import StubBroker

from loyalty.workers import load_actors
from loyalty.workers.broker import broker as module_broker
from loyalty.workers.broker import build_broker


class Recorder(Middleware):
    """Remembers every enqueued message as (actor name, args)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, tuple]] = []

    def after_enqueue(self, broker: Broker, message, delay) -> None:
        self.sent.append((message.actor_name, tuple(message.args)))


@contextmanager
def actors_on(broker: Broker) -> Iterator[Broker]:
    """Declare every actor of every actor module on `broker` for the duration."""
    load_actors()
    previous = {actor: actor.broker for actor in module_broker.actors.values()}
    for actor in previous:
        actor.broker = broker
        broker.declare_actor(actor)
    try:
        yield broker
    finally:
        for actor, original in previous.items():
            actor.broker = original


@contextmanager
def running_worker(broker: Broker) -> Iterator[Worker]:
    worker = Worker(broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def stub_broker(database_url: str, recorder: Recorder) -> Iterator[StubBroker]:
    broker = build_broker(None, database_url)
    assert isinstance(broker, StubBroker)
    broker.add_middleware(recorder)
    with actors_on(broker):
        yield broker


@pytest.fixture
def stub_worker(stub_broker: StubBroker) -> Iterator[Worker]:
    with running_worker(stub_broker) as worker:
        yield worker
