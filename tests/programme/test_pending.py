"""Pending points: held for the shop's approval period, confirmed by a scheduled job."""

from datetime import timedelta

import pytest

from loyalty.errors import DomainError
from loyalty.programme import jobs, rewards
from loyalty.programme.models import EntryKind, LedgerEntry, OrderStatus, TierBasis


async def _try_redeem(customer, reward_id):
    with pytest.raises(DomainError) as raised:
        await rewards.redeem(customer, reward_id)
    return raised.value.code


async def test_default_approval_period_is_fourteen_days(kit, t0):
    programme = await kit.programme()
    assert programme.approval_days == 14
    customer = await kit.customer()
    await kit.order("1", 5000)
    earn = await LedgerEntry.get(customer_id=customer.id, kind=EntryKind.EARN)
    assert (earn.points, earn.pending_points) == (0, 50)
    assert earn.available_at == t0 + timedelta(days=14)


@pytest.mark.both_dbs
async def test_pending_points_become_spendable_only_after_the_approval_period(kit):
    customer = await kit.customer()
    reward = await kit.reward(points_cost=50)
    await kit.order("1", 5000)
    assert await kit.balances(customer) == (0, 50)
    assert await _try_redeem(await kit.fresh(customer), reward.id) == "INSUFFICIENT_POINTS"

    # A day short of the period: the job finds nothing due.
    kit.at(days=13, hours=23)
    report = await jobs.confirm_pending(kit.shop.id)
    assert (report.entries, report.points) == (0, 0)
    assert await kit.balances(customer) == (0, 50)
    assert await _try_redeem(await kit.fresh(customer), reward.id) == "INSUFFICIENT_POINTS"

    kit.at(days=14)
    report = await jobs.confirm_pending(kit.shop.id)
    assert (report.customers, report.entries, report.points) == (1, 1, 50)
    assert await kit.balances(customer) == (50, 0)
    confirm = await LedgerEntry.get(customer_id=customer.id, kind=EntryKind.CONFIRM)
    earn = await LedgerEntry.get(customer_id=customer.id, kind=EntryKind.EARN)
    assert confirm.parent_id == earn.id and confirm.order_id == earn.order_id
    assert (confirm.points, confirm.pending_points) == (50, -50)

    # Running the job again (a redelivered task) changes nothing.
    again = await jobs.confirm_pending(kit.shop.id)
    assert (again.entries, again.points) == (0, 0)
    assert await LedgerEntry.filter(customer_id=customer.id, kind=EntryKind.CONFIRM).count() == 1

    voucher = await rewards.redeem(await kit.fresh(customer), reward.id)
    assert voucher.points_spent == 50
    assert await kit.balances(customer) == (0, 0)


@pytest.mark.both_dbs
async def test_a_refund_before_approval_removes_the_pending_points(kit):
    customer = await kit.customer()
    await kit.order("1", 8000)
    kit.at(days=3)
    await kit.refund("1", 8000, external_id="r1")
    assert await kit.balances(customer) == (0, 0)
    reverse = await LedgerEntry.get(customer_id=customer.id, kind=EntryKind.REVERSE)
    assert (reverse.points, reverse.pending_points) == (0, -80)

    kit.at(days=30)
    report = await jobs.confirm_pending(kit.shop.id)
    assert report.points == 0
    assert await kit.balances(customer) == (0, 0)


async def test_a_partial_refund_before_approval_leaves_the_rest_to_confirm(kit):
    customer = await kit.customer()
    await kit.order("1", 10000)
    await kit.refund("1", 4000, external_id="r1")
    assert await kit.balances(customer) == (0, 60)
    kit.at(days=14)
    report = await jobs.confirm_pending(kit.shop.id)
    assert report.points == 60
    assert await kit.balances(customer) == (60, 0)


async def test_cancelling_before_approval_removes_the_pending_points(kit):
    customer = await kit.customer()
    await kit.order("1", 2500)
    await kit.order("1", 2500, status=OrderStatus.CANCELLED)
    assert await kit.balances(customer) == (0, 0)
    kit.at(days=14)
    await jobs.confirm_pending(kit.shop.id)
    assert await kit.balances(customer) == (0, 0)


async def test_each_earn_is_confirmed_on_its_own_date(kit):
    await kit.configure(approval_days=7)
    customer = await kit.customer()
    await kit.order("1", 1000)
    kit.at(days=3)
    await kit.order("2", 2000)
    kit.at(days=7)
    assert (await jobs.confirm_pending(kit.shop.id)).points == 10
    assert await kit.balances(customer) == (10, 20)
    kit.at(days=10)
    assert (await jobs.confirm_pending(kit.shop.id)).points == 20
    assert await kit.balances(customer) == (30, 0)


async def test_without_an_approval_period_points_are_spendable_at_once(kit):
    await kit.configure(approval_days=0)
    customer = await kit.customer()
    await kit.order("1", 4200)
    assert await kit.balances(customer) == (42, 0)
    assert (await jobs.confirm_pending(kit.shop.id)).entries == 0


async def test_pending_points_do_not_count_towards_a_points_tier_until_confirmed(kit):
    await kit.configure(tier_basis=TierBasis.POINTS)
    gold = await kit.tier("Gold", threshold=100)
    customer = await kit.customer()
    await kit.order("1", 15000)
    assert (await kit.fresh(customer)).tier_id is None
    await jobs.reevaluate_tiers(kit.shop.id)
    assert (await kit.fresh(customer)).tier_id is None
    kit.at(days=14)
    await jobs.confirm_pending(kit.shop.id)
    assert (await kit.fresh(customer)).tier_id == gold.id


async def test_the_job_confirms_only_its_own_shop(kit, other_kit):
    other = other_kit
    mine = await kit.customer()
    theirs = await other.customer()
    await kit.order("1", 1000)
    await other.order("1", 3000)
    kit.at(days=14)
    report = await jobs.confirm_pending(kit.shop.id)
    assert (report.customers, report.points) == (1, 10)
    assert await kit.balances(mine) == (10, 0)
    assert await other.balances(theirs) == (0, 30)
