"""The scheduler loop and the embedded worker+scheduler pair."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest

from loyalty import clock
from loyalty.customers.models import Customer
from loyalty.workers.embedded import EmbeddedWorkers
from loyalty.workers.scheduler import Entry, Scheduler, schedule_from_env
from tests.workers.test_actors import T0, _shop_with_pending_order


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeBroker:
    """Just enough broker for the scheduler: actors that record their sends."""

    def __init__(self, failing: set[str] = frozenset()) -> None:
        self.sent: list[str] = []
        self.failing = failing

    def get_actor(self, name: str):
        broker = self

        class Actor:
            def send(self) -> None:
                if name in broker.failing:
                    raise ConnectionError("broker down")
                broker.sent.append(name)

        return Actor()


def test_default_schedule_is_every_15_minutes_and_daily():
    by_name = {e.actor_name: e.every_seconds for e in schedule_from_env({})}
    assert by_name == {
        "confirm_pending_points_all_shops": 15 * 60,
        "expire_points_all_shops": 24 * 3600,
        "reevaluate_tiers_all_shops": 24 * 3600,
        "release_due_messages": 60,
        "resend_stalled_work": 10 * 60,
    }


def test_intervals_come_from_the_environment():
    entries = schedule_from_env({"LOYALTY_CONFIRM_EVERY_MINUTES": "5"})
    assert entries[0] == Entry("confirm_pending_points_all_shops", 300)
    with pytest.raises(ValueError, match="LOYALTY_TIERS_EVERY_MINUTES"):
        schedule_from_env({"LOYALTY_TIERS_EVERY_MINUTES": "0"})


def test_everything_runs_on_start_then_each_at_its_interval():
    broker, now = FakeBroker(), FakeClock()
    env = {"LOYALTY_RELEASE_MESSAGES_EVERY_MINUTES": "60", "LOYALTY_SWEEP_EVERY_MINUTES": "60"}
    scheduler = Scheduler(broker, schedule_from_env(env), monotonic=now)

    assert len(scheduler.tick()) == 5
    assert scheduler.tick() == []
    assert scheduler.seconds_to_next() == 15 * 60

    now.now += 15 * 60
    assert [e.actor_name for e in scheduler.tick()] == ["confirm_pending_points_all_shops"]
    now.now += 24 * 3600 - 15 * 60
    assert len(scheduler.tick()) == 5


def test_after_a_long_stall_each_job_runs_once_not_once_per_missed_slot():
    broker, now = FakeBroker(), FakeClock()
    scheduler = Scheduler(broker, [Entry("job", 60)], monotonic=now)
    scheduler.tick()
    now.now += 60 * 10 + 5
    scheduler.tick()
    scheduler.tick()
    assert broker.sent == ["job", "job"]
    assert scheduler.seconds_to_next() == 60


def test_a_refused_send_is_retried_soon():
    broker, now = FakeBroker(failing={"job"}), FakeClock()
    scheduler = Scheduler(broker, [Entry("job", 3600)], monotonic=now)
    assert scheduler.tick() == []
    assert scheduler.seconds_to_next() == 30
    broker.failing = set()
    now.now += 30
    assert len(scheduler.tick()) == 1


async def test_embedded_workers_run_the_schedule_in_process(stub_broker):
    shop, _ = await _shop_with_pending_order("Embedded Ltd")
    clock.set_now(T0 + timedelta(days=15))
    embedded = EmbeddedWorkers(stub_broker, schedule_from_env({}))

    embedded.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            customer = await Customer.get(shop_id=shop.id, external_id="c1")
            if customer.points_balance:
                break
            await asyncio.sleep(0.05)
    finally:
        embedded.stop()

    assert (customer.points_balance, customer.pending_points) == (50, 0)
