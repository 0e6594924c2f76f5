"""The scheduled-job actors through a StubBroker and an in-process Worker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from loyalty import clock
from loyalty.customers.models import Customer
from loyalty.programme import ledger
from loyalty.programme.inputs import CustomerInput, OrderInput
from loyalty.programme.models import EntryKind, ExpiryMode, LedgerEntry, OrderStatus, Programme
from loyalty.programme.orders import record_order
from loyalty.shops.models import Shop
from loyalty.shops.service import create_shop
from loyalty.workers import actors

T0 = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)


async def _shop_with_pending_order(name: str) -> tuple[Shop, Customer]:
    """A shop whose one customer has 50 points pending since T0 (14-day approval)."""
    clock.set_now(T0)
    shop = await create_shop(name)
    await record_order(
        shop.id,
        OrderInput(
            external_id="1001",
            currency="GBP",
            subtotal=5000,
            status=OrderStatus.PAID,
            customer=CustomerInput(external_id="c1"),
        ),
    )
    return shop, await Customer.get(shop_id=shop.id, external_id="c1")


def _drain(broker, worker) -> None:
    broker.join(actors.QUEUE)
    worker.join()


async def test_confirming_twice_confirms_once(stub_broker, stub_worker):
    shop, customer = await _shop_with_pending_order("Twice Ltd")
    clock.set_now(T0 + timedelta(days=15))

    actors.confirm_pending_points.send(shop.id)
    actors.confirm_pending_points.send(shop.id)
    _drain(stub_broker, stub_worker)

    check = await ledger.check_balance(customer.id)
    assert check.ok
    assert (check.cached_points, check.cached_pending) == (50, 0)
    assert await LedgerEntry.filter(customer_id=customer.id, kind=EntryKind.CONFIRM).count() == 1


async def test_nothing_is_confirmed_before_the_approval_period(stub_broker, stub_worker):
    shop, customer = await _shop_with_pending_order("Early Ltd")
    clock.set_now(T0 + timedelta(days=13))

    actors.confirm_pending_points.send(shop.id)
    _drain(stub_broker, stub_worker)

    check = await ledger.check_balance(customer.id)
    assert (check.cached_points, check.cached_pending) == (0, 50)


async def test_fan_out_enqueues_one_job_per_shop(stub_broker, stub_worker, recorder):
    shops = [(await _shop_with_pending_order(f"Shop {n}"))[0] for n in range(3)]
    clock.set_now(T0 + timedelta(days=15))

    actors.confirm_pending_points_all_shops.send()
    _drain(stub_broker, stub_worker)

    per_shop = [args for name, args in recorder.sent if name == "confirm_pending_points"]
    assert sorted(per_shop) == sorted((shop.id,) for shop in shops)
    balances = await Customer.filter(shop_id__in=[s.id for s in shops]).values_list(
        "points_balance", "pending_points"
    )
    assert sorted(balances) == [(50, 0)] * 3


async def test_expiring_twice_expires_once(stub_broker, stub_worker):
    shop, customer = await _shop_with_pending_order("Lapse Ltd")
    await Programme.filter(shop_id=shop.id).update(expiry_mode=ExpiryMode.PER_BATCH, expiry_days=30)
    clock.set_now(T0 + timedelta(days=15))
    actors.confirm_pending_points.send(shop.id)
    _drain(stub_broker, stub_worker)

    clock.set_now(T0 + timedelta(days=60))
    actors.expire_points_all_shops.send()
    actors.expire_points.send(shop.id)
    _drain(stub_broker, stub_worker)

    check = await ledger.check_balance(customer.id)
    assert check.ok and check.cached_points == 0
    assert await LedgerEntry.filter(customer_id=customer.id, kind=EntryKind.EXPIRE).count() == 1


async def test_tier_fan_out_runs_for_every_shop(stub_broker, stub_worker, recorder):
    shop, _ = await _shop_with_pending_order("Tiers Ltd")

    actors.reevaluate_tiers_all_shops.send()
    _drain(stub_broker, stub_worker)

    assert ("reevaluate_tiers", (shop.id,)) in recorder.sent
    assert not stub_broker.dead_letters


async def test_a_deleted_shop_is_not_retried(stub_broker, stub_worker):
    actors.confirm_pending_points.send(987654)
    stub_broker.join(actors.QUEUE, fail_fast=False)
    stub_worker.join()

    assert [m.actor_name for m in stub_broker.dead_letters] == ["confirm_pending_points"]
