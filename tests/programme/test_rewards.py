"""Rewards: a unique voucher and its redeem entry in one transaction; no double spend."""

import asyncio
import re

import pytest

from loyalty.customers.models import Customer
from loyalty.errors import DomainError
from loyalty.programme import ledger, rewards
from loyalty.programme.models import (
    EntryKind,
    LedgerEntry,
    Reward,
    RewardKind,
    Voucher,
    VoucherStatus,
)


@pytest.mark.both_dbs
async def test_redeeming_issues_a_voucher_and_its_redeem_entry(kit):
    customer = await kit.customer()
    await kit.credit(customer, 250)
    reward = await kit.reward(points_cost=100)
    voucher = await rewards.redeem(customer, reward.id)
    assert re.fullmatch(r"LOY-[A-HJ-NP-Z2-9]{5}-[A-HJ-NP-Z2-9]{5}", voucher.code)
    stored = await Voucher.get(id=voucher.id)
    assert (stored.shop_id, stored.customer_id, stored.reward_id) == (
        kit.shop.id,
        customer.id,
        reward.id,
    )
    assert (stored.status, stored.points_spent) == (VoucherStatus.LIVE, 100)
    entry = await LedgerEntry.get(voucher_id=voucher.id)
    assert (entry.kind, entry.points, entry.customer_id) == (EntryKind.REDEEM, -100, customer.id)
    assert await kit.balances(customer) == (150, 0)


async def test_voucher_codes_are_unique(kit):
    customer = await kit.customer()
    await kit.credit(customer, 40)
    reward = await kit.reward(points_cost=1)
    codes = [(await rewards.redeem(customer, reward.id)).code for _ in range(40)]
    assert len(set(codes)) == 40
    assert len({rewards.new_code() for _ in range(2000)}) == 2000


@pytest.mark.both_dbs
async def test_insufficient_points_writes_nothing(kit):
    customer = await kit.customer()
    await kit.credit(customer, 99)
    await ledger.post(customer, EntryKind.EARN, pending_points=1000)
    reward = await kit.reward(points_cost=100)
    with pytest.raises(DomainError) as raised:
        await rewards.redeem(customer, reward.id)
    assert raised.value.code == "INSUFFICIENT_POINTS"
    assert await Voucher.filter(shop_id=kit.shop.id).count() == 0
    assert await LedgerEntry.filter(kind=EntryKind.REDEEM).count() == 0
    assert await kit.balances(customer) == (99, 1000)


async def test_archived_and_foreign_rewards_cannot_be_redeemed(kit, other_kit):
    customer = await kit.customer()
    await kit.credit(customer, 1000)
    archived = await kit.reward(points_cost=10)
    archived.archived = True
    await archived.save()
    with pytest.raises(DomainError) as raised:
        await rewards.redeem(customer, archived.id)
    assert raised.value.code == "REWARD_INACTIVE"
    foreign = await other_kit.reward(points_cost=10)
    with pytest.raises(DomainError) as raised:
        await rewards.redeem(customer, foreign.id)
    assert raised.value.code == "NOT_FOUND"
    with pytest.raises(DomainError):
        await rewards.redeem(customer, 999_999)
    assert await Voucher.all().count() == 0
    assert await kit.balances(customer) == (1000, 0)


@pytest.mark.both_dbs
async def test_cancelling_an_unused_voucher_returns_its_points_once(kit):
    customer = await kit.customer()
    await kit.credit(customer, 300)
    reward = await kit.reward(points_cost=120)
    voucher = await rewards.redeem(customer, reward.id)
    assert await kit.balances(customer) == (180, 0)
    kit.at(hours=2)
    cancelled = await rewards.cancel_voucher(voucher, actor="staff:amy")
    assert cancelled.status == VoucherStatus.CANCELLED
    assert cancelled.cancelled_at == kit.at(hours=2)
    assert await kit.balances(customer) == (300, 0)
    back = await LedgerEntry.get(voucher_id=voucher.id, kind=EntryKind.REVERSE)
    assert (back.points, back.actor) == (120, "staff:amy")
    with pytest.raises(DomainError) as raised:
        await rewards.cancel_voucher(voucher, actor="staff:amy")
    assert raised.value.code == "VOUCHER_NOT_CANCELLABLE"
    assert await kit.balances(customer) == (300, 0)


@pytest.mark.both_dbs
async def test_concurrent_cancellations_return_the_points_once(kit):
    customer = await kit.customer()
    await kit.credit(customer, 100)
    reward = await kit.reward(points_cost=100)
    voucher = await rewards.redeem(customer, reward.id)
    copies = [await Voucher.get(id=voucher.id) for _ in range(10)]
    results = await asyncio.gather(
        *(rewards.cancel_voucher(copy, actor="staff") for copy in copies),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, DomainError)]
    assert len(refused) == 9, results
    assert {r.code for r in refused} == {"VOUCHER_NOT_CANCELLABLE"}
    assert await kit.balances(customer) == (100, 0)


async def test_a_used_voucher_cannot_be_cancelled(kit):
    customer = await kit.customer()
    await kit.credit(customer, 100)
    reward = await kit.reward(points_cost=100)
    voucher = await rewards.redeem(customer, reward.id)
    await Voucher.filter(id=voucher.id).update(status=VoucherStatus.USED)
    with pytest.raises(DomainError) as raised:
        await rewards.cancel_voucher(voucher, actor="staff")
    assert raised.value.code == "VOUCHER_NOT_CANCELLABLE"
    assert await kit.balances(customer) == (0, 0)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((RewardKind.FIXED_AMOUNT, 0, 500, None, None), "pointsCost"),
        ((RewardKind.FIXED_AMOUNT, 100, None, None, None), "amount"),
        ((RewardKind.FIXED_AMOUNT, 100, 0, None, None), "amount"),
        ((RewardKind.PERCENTAGE, 100, None, 0, None), "percentage"),
        ((RewardKind.PERCENTAGE, 100, None, 101, None), "percentage"),
        ((RewardKind.FREE_PRODUCT, 100, None, None, ""), "productId"),
    ],
)
def test_invalid_rewards_name_the_field_at_fault(args, field):
    with pytest.raises(DomainError) as raised:
        rewards.validate_reward(*args)
    assert (raised.value.code, raised.value.field) == ("INVALID", field)


def test_valid_rewards_pass_validation():
    rewards.validate_reward(RewardKind.FIXED_AMOUNT, 100, 500, None, None)
    rewards.validate_reward(RewardKind.PERCENTAGE, 100, None, 100, None)
    rewards.validate_reward(RewardKind.FREE_SHIPPING, 100, None, None, None)
    rewards.validate_reward(RewardKind.FREE_PRODUCT, 100, None, None, "sku-1")


@pytest.mark.both_dbs
async def test_concurrent_redemptions_never_overspend(kit):
    """50 redemptions at once of a balance B at cost C: exactly floor(B/C) succeed."""
    balance, cost, attempts = 1000, 70, 50
    customer = await kit.customer()
    await kit.credit(customer, balance)
    reward = await Reward.create(
        shop_id=kit.shop.id,
        name="Tote bag",
        kind=RewardKind.FREE_PRODUCT,
        points_cost=cost,
        product_id="tote",
    )

    async def attempt():
        # A fresh instance each time, as separate requests would load it.
        return await rewards.redeem(await Customer.get(id=customer.id), reward.id)

    results = await asyncio.gather(*(attempt() for _ in range(attempts)), return_exceptions=True)
    won = [r for r in results if isinstance(r, Voucher)]
    lost = [r for r in results if not isinstance(r, Voucher)]
    assert len(won) == balance // cost
    assert all(isinstance(r, DomainError) and r.code == "INSUFFICIENT_POINTS" for r in lost), lost
    assert len({v.code for v in won}) == len(won)
    assert await Voucher.filter(customer_id=customer.id).count() == len(won)
    check = await ledger.check_balance(customer.id)
    assert check.ok, check
    assert check.cached_points == balance - cost * len(won) == balance % cost
