"""Idempotency keys: a repeat has no second effect and returns the first result."""

import asyncio

import pytest

from loyalty.customers.models import Customer
from loyalty.errors import DomainError
from loyalty.idempotency import request_hash, run_once
from loyalty.programme import ledger, rewards
from loyalty.programme.models import EntryKind, LedgerEntry, Voucher
from loyalty.shops.models import IdempotencyRecord

pytestmark = pytest.mark.both_dbs


def _adjuster(customer_id: int, points: int, calls: list[int]):
    """An adjustment action that counts its runs and returns a JSON-able result."""

    async def action():
        calls.append(points)
        customer = await Customer.get(id=customer_id)
        entry = await ledger.post(
            customer, EntryKind.ADJUST, points=points, actor="staff:amy", reason="goodwill"
        )
        return {"entryId": entry.id, "balance": customer.points_balance}

    return action


async def test_a_repeat_returns_the_first_result_without_a_second_effect(kit):
    customer = await kit.customer()
    calls: list[int] = []
    body = {"customerId": customer.id, "points": 25, "reason": "goodwill"}
    first = await run_once(kit.shop.id, "adjust", "key-1", body, _adjuster(customer.id, 25, calls))
    again = await run_once(kit.shop.id, "adjust", "key-1", body, _adjuster(customer.id, 25, calls))
    assert again == first == {"entryId": first["entryId"], "balance": 25}
    assert calls == [25]
    assert await LedgerEntry.filter(customer_id=customer.id).count() == 1
    assert await kit.balances(customer) == (25, 0)


async def test_the_same_key_with_a_different_body_is_refused(kit):
    customer = await kit.customer()
    calls: list[int] = []
    body = {"customerId": customer.id, "points": 25}
    await run_once(kit.shop.id, "adjust", "key-1", body, _adjuster(customer.id, 25, calls))
    with pytest.raises(DomainError) as raised:
        await run_once(
            kit.shop.id,
            "adjust",
            "key-1",
            {"customerId": customer.id, "points": 2500},
            _adjuster(customer.id, 2500, calls),
        )
    assert (raised.value.code, raised.value.field) == ("IDEMPOTENCY_KEY_REUSED", "idempotencyKey")
    assert calls == [25]
    assert await kit.balances(customer) == (25, 0)


async def test_the_body_fingerprint_ignores_key_order_but_not_values():
    assert request_hash({"a": 1, "b": [1, 2]}) == request_hash({"b": [1, 2], "a": 1})
    assert request_hash({"a": 1}) != request_hash({"a": 2})
    assert request_hash({"a": [1, 2]}) != request_hash({"a": [2, 1]})


async def test_keys_are_scoped_by_shop_and_operation(kit, other_kit):
    mine = await kit.customer()
    theirs = await other_kit.customer()
    calls: list[int] = []
    body = {"points": 10}
    await run_once(kit.shop.id, "adjust", "k", body, _adjuster(mine.id, 10, calls))
    await run_once(kit.shop.id, "import", "k", body, _adjuster(mine.id, 10, calls))
    await run_once(other_kit.shop.id, "adjust", "k", body, _adjuster(theirs.id, 10, calls))
    assert calls == [10, 10, 10]
    assert await kit.balances(mine) == (20, 0)
    assert await other_kit.balances(theirs) == (10, 0)
    assert await IdempotencyRecord.filter(key="k").count() == 3


async def test_without_a_key_every_call_runs(kit):
    customer = await kit.customer()
    calls: list[int] = []
    for _ in range(3):
        await run_once(kit.shop.id, "adjust", None, {}, _adjuster(customer.id, 1, calls))
    assert calls == [1, 1, 1]
    assert await IdempotencyRecord.all().count() == 0


async def test_a_failed_write_is_rolled_back_and_not_remembered(kit):
    customer = await kit.customer()

    async def half_done():
        await ledger.post(await Customer.get(id=customer.id), EntryKind.ADJUST, points=40)
        raise DomainError("INVALID", "refused after writing")

    with pytest.raises(DomainError):
        await run_once(kit.shop.id, "adjust", "key-1", {"p": 40}, half_done)
    assert await LedgerEntry.filter(customer_id=customer.id).count() == 0
    assert await kit.balances(customer) == (0, 0)
    assert await IdempotencyRecord.all().count() == 0
    # A retry with the same key is evaluated afresh.
    calls: list[int] = []
    result = await run_once(
        kit.shop.id, "adjust", "key-1", {"p": 40}, _adjuster(customer.id, 40, calls)
    )
    assert calls == [40] and result["balance"] == 40


async def test_concurrent_repeats_have_one_effect_and_share_the_result(kit):
    customer = await kit.customer()
    calls: list[int] = []
    body = {"points": 5}
    results = await asyncio.gather(
        *(
            run_once(kit.shop.id, "adjust", "same", body, _adjuster(customer.id, 5, calls))
            for _ in range(10)
        )
    )
    assert all(r == results[0] for r in results)
    assert await LedgerEntry.filter(customer_id=customer.id).count() == 1
    assert await kit.balances(customer) == (5, 0)


async def test_a_retried_redemption_issues_one_voucher(kit):
    customer = await kit.customer()
    await kit.credit(customer, 100)
    reward = await kit.reward(points_cost=40)

    async def redeem():
        voucher = await rewards.redeem(await Customer.get(id=customer.id), reward.id)
        return {"voucherId": voucher.id, "code": voucher.code}

    body = {"rewardId": reward.id}
    first = await run_once(kit.shop.id, "redeem", "r-1", body, redeem)
    again = await run_once(kit.shop.id, "redeem", "r-1", body, redeem)
    assert again == first
    assert await Voucher.filter(customer_id=customer.id).count() == 1
    assert await kit.balances(customer) == (60, 0)
    # A new key is a new redemption.
    await run_once(kit.shop.id, "redeem", "r-2", body, redeem)
    assert await kit.balances(customer) == (20, 0)
