"""The points ledger: append-only entries, a cached balance proven equal to their sum."""

import pytest
from tortoise.exceptions import IntegrityError

from loyalty.customers.models import Customer
from loyalty.errors import DomainError
from loyalty.programme import jobs, ledger, rewards
from loyalty.programme.models import EntryKind, LedgerEntry
from loyalty.shops.service import create_shop

pytestmark = pytest.mark.both_dbs


async def test_every_kind_of_entry_moves_the_cached_balance_with_the_ledger(kit):
    customer = await kit.customer()
    movements = [
        (EntryKind.EARN, {"points": 120}),
        (EntryKind.EARN, {"pending_points": 40}),
        (EntryKind.IMPORT, {"points": 300, "description": "Imported from Smile"}),
        (EntryKind.ADJUST, {"points": -20, "actor": "staff:amy", "reason": "goodwill reversal"}),
        (EntryKind.REDEEM, {"points": -100, "require_funds": True}),
        (EntryKind.REVERSE, {"points": -50}),
        (EntryKind.EXPIRE, {"points": -10}),
    ]
    expected_points = expected_pending = 0
    for kind, values in movements:
        entry = await ledger.post(customer, kind, **values)
        expected_points += values.get("points", 0)
        expected_pending += values.get("pending_points", 0)
        assert entry.kind == kind
        assert entry.shop_id == kit.shop.id
        # The in-memory customer follows the database, which follows the ledger.
        assert (customer.points_balance, customer.pending_points) == (
            expected_points,
            expected_pending,
        )
        assert await kit.balances(customer) == (expected_points, expected_pending)
    assert await LedgerEntry.filter(customer_id=customer.id).count() == len(movements)


async def test_adjustment_records_actor_and_reason(kit):
    customer = await kit.customer()
    entry = await ledger.post(
        customer,
        EntryKind.ADJUST,
        points=-15,
        actor="staff:amy@example.com",
        reason="Duplicate order credited twice",
    )
    stored = await LedgerEntry.get(id=entry.id)
    assert stored.actor == "staff:amy@example.com"
    assert stored.reason == "Duplicate order credited twice"
    assert stored.points == -15
    assert stored.created_at == kit.at()
    assert await kit.balances(customer) == (-15, 0)


async def test_spend_without_funds_is_refused_and_writes_nothing(kit):
    customer = await kit.customer()
    await kit.credit(customer, 99)
    before = await LedgerEntry.filter(customer_id=customer.id).count()
    with pytest.raises(DomainError) as raised:
        await ledger.post(customer, EntryKind.REDEEM, points=-100, require_funds=True)
    assert raised.value.code == "INSUFFICIENT_POINTS"
    assert await LedgerEntry.filter(customer_id=customer.id).count() == before
    assert await kit.balances(customer) == (99, 0)
    assert customer.points_balance == 99
    # Spending exactly the balance is allowed and leaves zero.
    await ledger.post(customer, EntryKind.REDEEM, points=-99, require_funds=True)
    assert await kit.balances(customer) == (0, 0)


async def test_pending_points_cannot_be_spent(kit):
    customer = await kit.customer()
    await ledger.post(customer, EntryKind.EARN, pending_points=500)
    with pytest.raises(DomainError) as raised:
        await ledger.post(customer, EntryKind.REDEEM, points=-1, require_funds=True)
    assert raised.value.code == "INSUFFICIENT_POINTS"
    assert await kit.balances(customer) == (0, 500)


async def test_reversals_may_take_the_balance_below_zero(kit):
    customer = await kit.customer()
    await kit.credit(customer, 10)
    await ledger.post(customer, EntryKind.REVERSE, points=-25)
    assert await kit.balances(customer) == (-15, 0)


async def test_a_duplicate_idempotency_key_rolls_back_the_balance_move(kit):
    customer = await kit.customer()
    await ledger.post(customer, EntryKind.EARN, points=10, idempotency_key="k1")
    with pytest.raises(IntegrityError):
        await ledger.post(
            await kit.fresh(customer), EntryKind.EARN, points=10, idempotency_key="k1"
        )
    assert await kit.balances(customer) == (10, 0)
    assert (await ledger.existing(kit.shop.id, "k1")).points == 10
    assert await ledger.existing(kit.shop.id, "k2") is None


async def test_idempotency_keys_are_scoped_to_the_shop(kit):
    other = await create_shop("Other shop")
    mine = await kit.customer()
    theirs = await Customer.create(shop=other, external_id="c1", referral_code="OTHER001")
    await ledger.post(mine, EntryKind.EARN, points=5, idempotency_key="same")
    await ledger.post(theirs, EntryKind.EARN, points=7, idempotency_key="same")
    assert (await ledger.existing(kit.shop.id, "same")).customer_id == mine.id
    assert (await ledger.existing(other.id, "same")).customer_id == theirs.id


async def test_check_balance_detects_a_cache_that_drifted(kit):
    customer = await kit.customer()
    empty = await ledger.check_balance(customer.id)
    assert empty.ok and (empty.ledger_points, empty.ledger_pending) == (0, 0)
    await kit.credit(customer, 40)
    await ledger.post(customer, EntryKind.EARN, pending_points=8)
    await Customer.filter(id=customer.id).update(points_balance=41)
    check = await ledger.check_balance(customer.id)
    assert not check.ok
    assert (check.cached_points, check.ledger_points) == (41, 40)
    assert (check.cached_pending, check.ledger_pending) == (8, 8)
    await Customer.filter(id=customer.id).update(points_balance=40, pending_points=9)
    assert not (await ledger.check_balance(customer.id)).ok


async def test_balances_of_two_customers_do_not_mix(kit):
    a = await kit.customer("a")
    b = await kit.customer("b")
    await kit.credit(a, 30)
    await kit.credit(b, 70)
    await ledger.post(b, EntryKind.EARN, pending_points=5)
    assert await kit.balances(a) == (30, 0)
    assert await kit.balances(b) == (70, 5)


async def test_pending_remaining_follows_child_entries(kit):
    customer = await kit.customer()
    earn = await ledger.post(customer, EntryKind.EARN, pending_points=100)
    assert await ledger.pending_remaining(earn) == 100
    await ledger.post(customer, EntryKind.REVERSE, pending_points=-30, parent_id=earn.id)
    assert await ledger.pending_remaining(earn) == 70


async def test_the_ledger_is_append_only_through_a_full_life_cycle(kit):
    """Orders, refunds, confirmation, redemption and cancellation only ever add entries."""
    await kit.configure(approval_days=14)
    customer = await kit.customer()
    reward = await kit.reward(points_cost=30)
    snapshots: dict[int, tuple] = {}

    async def no_entry_changed() -> int:
        rows = await LedgerEntry.filter(customer_id=customer.id).values_list(
            "id", "kind", "points", "pending_points", "parent_id", "created_at"
        )
        for row in rows:
            assert snapshots.setdefault(row[0], row) == row
        return len(rows)

    await kit.order("1", 10000)
    assert await no_entry_changed() == 1
    await kit.refund("1", 2500, external_id="r1")
    assert await no_entry_changed() == 2
    kit.at(days=15)
    await jobs.confirm_pending(kit.shop.id)
    assert await no_entry_changed() == 3
    voucher = await rewards.redeem(await kit.fresh(customer), reward.id)
    assert await no_entry_changed() == 4
    await rewards.cancel_voucher(voucher, actor="staff:amy")
    assert await no_entry_changed() == 5
    await kit.order("1", 10000, status="cancelled")
    assert await no_entry_changed() == 6
    assert await kit.balances(customer) == (0, 0)
