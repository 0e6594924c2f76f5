"""Points expiry: per earned batch (oldest spent first) or the whole balance when inactive."""

from datetime import timedelta

import pytest

from loyalty.programme import jobs, ledger, rewards
from loyalty.programme.models import EntryKind, ExpiryMode, LedgerEntry


async def _expire(kit):
    report = await jobs.expire_points(kit.shop.id)
    again = await jobs.expire_points(kit.shop.id)
    assert (again.entries, again.points) == (0, 0), "a second run must find nothing"
    return report


async def test_no_expiry_by_default(kit):
    assert (await kit.programme()).expiry_mode == ExpiryMode.NONE
    await kit.configure(approval_days=0)
    customer = await kit.customer()
    await kit.order("1", 5000)
    kit.at(days=20 * 365)
    assert (await _expire(kit)).points == 0
    assert await kit.balances(customer) == (50, 0)


@pytest.mark.both_dbs
async def test_each_batch_expires_n_days_after_it_was_earned(kit, t0):
    await kit.configure(approval_days=0, expiry_mode=ExpiryMode.PER_BATCH, expiry_days=90)
    customer = await kit.customer()
    await kit.order("1", 10000)
    earn = await LedgerEntry.get(customer_id=customer.id, kind=EntryKind.EARN)
    assert earn.expires_at == t0 + timedelta(days=90)
    kit.at(days=30)
    await kit.order("2", 5000)
    kit.at(days=89)
    assert (await _expire(kit)).points == 0
    kit.at(days=90, seconds=1)
    report = await _expire(kit)
    assert (report.customers, report.entries, report.points) == (1, 1, 100)
    assert await kit.balances(customer) == (50, 0)
    expiry = await LedgerEntry.get(customer_id=customer.id, kind=EntryKind.EXPIRE)
    assert expiry.points == -100
    kit.at(days=120, seconds=1)
    assert (await _expire(kit)).points == 50
    assert await kit.balances(customer) == (0, 0)


@pytest.mark.both_dbs
async def test_oldest_points_are_spent_first(kit):
    await kit.configure(approval_days=0, expiry_mode=ExpiryMode.PER_BATCH, expiry_days=100)
    customer = await kit.customer()
    reward = await kit.reward(points_cost=30)
    await kit.order("1", 10000)  # 100, lapses at day 100
    kit.at(days=50)
    await kit.order("2", 10000)  # 100, lapses at day 150
    kit.at(days=60)
    for _ in range(4):  # 120 spent: all of the first batch and 20 of the second
        await rewards.redeem(await kit.fresh(customer), reward.id)
    assert await kit.balances(customer) == (80, 0)
    kit.at(days=101)
    assert (await _expire(kit)).points == 0
    assert await kit.balances(customer) == (80, 0)
    kit.at(days=151)
    assert (await _expire(kit)).points == 80
    assert await kit.balances(customer) == (0, 0)


async def test_only_the_unspent_part_of_an_old_batch_expires(kit):
    await kit.configure(approval_days=0, expiry_mode=ExpiryMode.PER_BATCH, expiry_days=100)
    customer = await kit.customer()
    reward = await kit.reward(points_cost=30)
    await kit.order("1", 10000)
    kit.at(days=50)
    await kit.order("2", 10000)
    await rewards.redeem(await kit.fresh(customer), reward.id)
    kit.at(days=101)
    assert (await _expire(kit)).points == 70
    assert await kit.balances(customer) == (100, 0)


async def test_confirmed_pending_points_expire_too(kit):
    await kit.configure(approval_days=14, expiry_mode=ExpiryMode.PER_BATCH, expiry_days=30)
    customer = await kit.customer()
    await kit.order("1", 4000)
    kit.at(days=14)
    await jobs.confirm_pending(kit.shop.id)
    assert await kit.balances(customer) == (40, 0)
    kit.at(days=60)
    assert (await _expire(kit)).points == 40
    assert await kit.balances(customer) == (0, 0)


async def test_expiry_never_touches_pending_points_or_negative_balances(kit):
    await kit.configure(expiry_mode=ExpiryMode.PER_BATCH, expiry_days=10)
    pending = await kit.customer("pending")
    negative = await kit.customer("negative")
    await kit.order("1", 5000, customer="pending")
    await ledger.post(negative, EntryKind.REVERSE, points=-30)
    kit.at(days=12)
    assert (await _expire(kit)).points == 0
    assert await kit.balances(pending) == (0, 50)
    assert await kit.balances(negative) == (-30, 0)


@pytest.mark.both_dbs
async def test_whole_balance_lapses_after_months_without_a_purchase(kit):
    await kit.configure(approval_days=0, expiry_mode=ExpiryMode.INACTIVITY, inactivity_months=6)
    customer = await kit.customer()
    await kit.order("1", 10000)
    kit.at(days=150)
    await kit.order("2", 2000)  # a purchase restarts the clock
    kit.at(days=150 + 179)
    assert (await _expire(kit)).points == 0
    assert await kit.balances(customer) == (120, 0)
    kit.at(days=150 + 181)
    report = await _expire(kit)
    assert (report.customers, report.points) == (1, 120)
    assert await kit.balances(customer) == (0, 0)


async def test_inactivity_expiry_only_touches_inactive_customers(kit):
    await kit.configure(approval_days=0, expiry_mode=ExpiryMode.INACTIVITY, inactivity_months=1)
    sleepy = await kit.customer("sleepy")
    busy = await kit.customer("busy")
    await kit.order("1", 3000, customer="sleepy")
    kit.at(days=25)
    await kit.order("2", 3000, customer="busy")
    kit.at(days=40)
    assert (await _expire(kit)).customers == 1
    assert await kit.balances(sleepy) == (0, 0)
    assert await kit.balances(busy) == (30, 0)


async def test_expiry_is_per_shop(kit, other_kit):
    await kit.configure(approval_days=0, expiry_mode=ExpiryMode.PER_BATCH, expiry_days=10)
    await other_kit.configure(approval_days=0, expiry_mode=ExpiryMode.PER_BATCH, expiry_days=10)
    mine = await kit.customer()
    theirs = await other_kit.customer()
    await kit.order("1", 1000)
    await other_kit.order("1", 1000)
    kit.at(days=11)
    assert (await _expire(kit)).points == 10
    assert await kit.balances(mine) == (0, 0)
    assert await other_kit.balances(theirs) == (10, 0)


async def test_points_returned_by_a_cancelled_voucher_still_expire(kit):
    await kit.configure(approval_days=0, expiry_mode=ExpiryMode.PER_BATCH, expiry_days=100)
    customer = await kit.customer()
    reward = await kit.reward(points_cost=100)
    await kit.order("1", 10000)
    kit.at(days=10)
    voucher = await rewards.redeem(await kit.fresh(customer), reward.id)
    await rewards.cancel_voucher(voucher, actor="staff")
    kit.at(days=101)
    assert (await _expire(kit)).points == 100
