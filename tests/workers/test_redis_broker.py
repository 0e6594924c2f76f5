"""The same actors through a real Redis broker (TEST_REDIS_URL), consumed in-process."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from datetime import timedelta

import pytest
from dramatiq.brokers.redis import RedisBroker

from loyalty import clock
from loyalty.customers.models import Customer
from loyalty.programme.inputs import CustomerInput, OrderInput
from loyalty.programme.models import OrderStatus
from loyalty.programme.orders import record_order
from loyalty.shops.service import create_shop
from loyalty.workers import actors
from loyalty.workers.broker import build_broker
from tests.workers.conftest import actors_on, running_worker
from tests.workers.test_actors import T0

REDIS_URL = os.environ.get("TEST_REDIS_URL")


@pytest.fixture
def redis_url() -> str:
    if not REDIS_URL:
        if os.environ.get("LOYALTY_REQUIRE_SERVICES") == "1":
            pytest.fail("TEST_REDIS_URL is required in CI")
        pytest.skip("Redis not configured (set TEST_REDIS_URL)")
    return REDIS_URL


async def test_fan_out_through_redis_confirms_pending_points(redis_url, database_url):
    broker = build_broker(redis_url, database_url)
    assert isinstance(broker, RedisBroker)
    broker.namespace = f"loyalty-test-{uuid.uuid4().hex[:8]}"  # never touch real queues
    clock.set_now(T0)
    shop = await create_shop("Redis Ltd")
    await record_order(
        shop.id,
        OrderInput(
            external_id="1",
            currency="GBP",
            subtotal=2500,
            status=OrderStatus.PAID,
            customer=CustomerInput(external_id="r1"),
        ),
    )
    clock.set_now(T0 + timedelta(days=20))

    with actors_on(broker), running_worker(broker):
        actors.confirm_pending_points_all_shops.send()
        deadline = time.monotonic() + 15
        while True:
            customer = await Customer.get(shop_id=shop.id, external_id="r1")
            if customer.points_balance == 25 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
    broker.flush_all()
    broker.close()

    assert (customer.points_balance, customer.pending_points) == (25, 0)
