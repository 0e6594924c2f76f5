"""Tiers: upgrade at once, downgrade only on scheduled re-evaluation, never by spending."""

import pytest

from loyalty.programme import jobs, rewards, tiers
from loyalty.programme.models import OrderStatus, TierBasis, TierWindow


async def _tier_id(kit, customer):
    return (await kit.fresh(customer)).tier_id


@pytest.mark.both_dbs
async def test_a_qualifying_order_upgrades_the_tier_at_once(kit, t0):
    await kit.tier("Silver", threshold=10000)
    gold = await kit.tier("Gold", threshold=25000)
    customer = await kit.customer()
    await kit.order("1", 9999)
    assert await _tier_id(kit, customer) is None
    kit.at(days=2)
    # One order crossing both thresholds lands straight in the highest one reached.
    await kit.order("2", 20000, discounts=4000)
    fresh = await kit.fresh(customer)
    assert fresh.tier_id == gold.id
    assert fresh.tier_achieved_at == kit.at(days=2)


async def test_spend_counts_paid_orders_net_of_discounts_and_refunds(kit):
    silver = await kit.tier("Silver", threshold=10000)
    customer = await kit.customer()
    await kit.order("unpaid", 50000, status=OrderStatus.PENDING)
    await kit.order("1", 12000, discounts=2500)
    programme = await kit.programme()
    assert await tiers.qualifying_amount(customer, programme, kit.at()) == 9500
    assert await _tier_id(kit, customer) is None
    await kit.order("2", 1000)
    assert await _tier_id(kit, customer) == silver.id
    await kit.refund("2", 600, external_id="r1")
    assert await tiers.qualifying_amount(customer, programme, kit.at()) == 9900


@pytest.mark.both_dbs
async def test_a_redemption_never_downgrades_the_tier(kit):
    await kit.configure(tier_basis=TierBasis.POINTS, approval_days=0)
    gold = await kit.tier("Gold", threshold=100)
    reward = await kit.reward(points_cost=100)
    customer = await kit.customer()
    await kit.order("1", 10000)
    assert await _tier_id(kit, customer) == gold.id
    await rewards.redeem(await kit.fresh(customer), reward.id)
    assert await kit.balances(customer) == (0, 0)
    assert await _tier_id(kit, customer) == gold.id
    # Not even the scheduled re-evaluation, the one place a tier may go down.
    await jobs.reevaluate_tiers(kit.shop.id)
    assert await _tier_id(kit, customer) == gold.id


async def test_spend_basis_tier_survives_redemption_and_reevaluation(kit):
    await kit.configure(approval_days=0)
    gold = await kit.tier("Gold", threshold=5000)
    reward = await kit.reward(points_cost=50)
    customer = await kit.customer()
    await kit.order("1", 5000)
    await rewards.redeem(await kit.fresh(customer), reward.id)
    await jobs.reevaluate_tiers(kit.shop.id)
    assert await _tier_id(kit, customer) == gold.id


async def test_a_refund_lowers_the_tier_only_on_reevaluation(kit):
    silver = await kit.tier("Silver", threshold=5000)
    gold = await kit.tier("Gold", threshold=10000)
    customer = await kit.customer()
    await kit.order("1", 12000)
    assert await _tier_id(kit, customer) == gold.id
    await kit.refund("1", 6000, external_id="r1")
    assert await _tier_id(kit, customer) == gold.id
    report = await jobs.reevaluate_tiers(kit.shop.id)
    assert (report.customers, report.entries) == (1, 1)
    assert await _tier_id(kit, customer) == silver.id
    # Nothing more to do on a second run.
    assert (await jobs.reevaluate_tiers(kit.shop.id)).entries == 0


async def test_a_grace_period_delays_the_downgrade(kit):
    await kit.configure(tier_grace_days=30)
    gold = await kit.tier("Gold", threshold=10000)
    customer = await kit.customer()
    await kit.order("1", 10000)
    await kit.order("1", 10000, status=OrderStatus.CANCELLED)
    await jobs.reevaluate_tiers(kit.shop.id)
    fresh = await kit.fresh(customer)
    assert fresh.tier_id == gold.id
    assert fresh.tier_below_since == kit.at()
    kit.at(days=29)
    await jobs.reevaluate_tiers(kit.shop.id)
    assert await _tier_id(kit, customer) == gold.id
    kit.at(days=30)
    await jobs.reevaluate_tiers(kit.shop.id)
    fresh = await kit.fresh(customer)
    assert fresh.tier_id is None and fresh.tier_below_since is None


async def test_qualifying_again_within_the_grace_period_keeps_the_tier(kit):
    await kit.configure(tier_grace_days=30)
    gold = await kit.tier("Gold", threshold=10000)
    customer = await kit.customer()
    await kit.order("1", 10000)
    await kit.refund("1", 5000, external_id="r1")
    await jobs.reevaluate_tiers(kit.shop.id)
    assert (await kit.fresh(customer)).tier_below_since is not None
    kit.at(days=10)
    await kit.order("2", 5000)
    kit.at(days=40)
    await jobs.reevaluate_tiers(kit.shop.id)
    fresh = await kit.fresh(customer)
    assert (fresh.tier_id, fresh.tier_below_since) == (gold.id, None)


async def test_without_grace_the_reevaluation_downgrades_at_once(kit):
    silver = await kit.tier("Silver", threshold=1000)
    await kit.tier("Gold", threshold=10000)
    customer = await kit.customer()
    await kit.order("1", 10000)
    await kit.refund("1", 8000, external_id="r1")
    await jobs.reevaluate_tiers(kit.shop.id)
    assert await _tier_id(kit, customer) == silver.id


async def test_rolling_window_drops_orders_older_than_twelve_months(kit):
    gold = await kit.tier("Gold", threshold=10000)
    customer = await kit.customer()
    await kit.order("1", 10000)
    kit.at(days=364)
    await jobs.reevaluate_tiers(kit.shop.id)
    assert await _tier_id(kit, customer) == gold.id
    kit.at(days=366)
    await jobs.reevaluate_tiers(kit.shop.id)
    assert await _tier_id(kit, customer) is None


async def test_lifetime_window_keeps_old_orders(kit):
    await kit.configure(tier_window=TierWindow.LIFETIME)
    gold = await kit.tier("Gold", threshold=10000)
    customer = await kit.customer()
    await kit.order("1", 10000)
    kit.at(days=3 * 365)
    await jobs.reevaluate_tiers(kit.shop.id)
    assert await _tier_id(kit, customer) == gold.id


async def test_points_basis_counts_points_earned_in_the_window(kit):
    await kit.configure(tier_basis=TierBasis.POINTS, approval_days=0)
    gold = await kit.tier("Gold", threshold=150)
    customer = await kit.customer()
    await kit.order("1", 10000)
    await kit.credit(customer, 500)  # adjustments are not activity
    assert await _tier_id(kit, customer) is None
    kit.at(days=200)
    await kit.order("2", 5000)
    assert await _tier_id(kit, customer) == gold.id
    kit.at(days=370)  # the first order's points left the window
    await jobs.reevaluate_tiers(kit.shop.id)
    assert await _tier_id(kit, customer) is None


async def test_points_basis_refund_reverses_earned_points(kit):
    await kit.configure(tier_basis=TierBasis.POINTS, approval_days=0)
    await kit.tier("Gold", threshold=100)
    customer = await kit.customer()
    await kit.order("1", 10000)
    await kit.refund("1", 5000, external_id="r1")
    programme = await kit.programme()
    assert await tiers.qualifying_amount(customer, programme, kit.at()) == 50
    await jobs.reevaluate_tiers(kit.shop.id)
    assert await _tier_id(kit, customer) is None


async def test_archived_tiers_are_ignored(kit):
    gold = await kit.tier("Gold", threshold=1000)
    gold.archived = True
    await gold.save()
    customer = await kit.customer()
    await kit.order("1", 5000)
    assert await _tier_id(kit, customer) is None


async def test_next_tier_reports_the_amount_still_needed(kit):
    silver = await kit.tier("Silver", threshold=5000)
    gold = await kit.tier("Gold", threshold=20000)
    customer = await kit.customer()
    programme = await kit.programme()
    assert await tiers.next_tier(customer, programme) == (silver, 5000)
    await kit.order("1", 6000)
    assert await tiers.next_tier(await kit.fresh(customer), programme) == (gold, 14000)
    await kit.order("2", 20000)
    assert await tiers.next_tier(await kit.fresh(customer), programme) == (None, 0)


async def test_tiers_belong_to_their_shop(kit, other_kit):
    await other_kit.tier("Their Gold", threshold=0)
    customer = await kit.customer()
    await kit.order("1", 5000)
    assert await _tier_id(kit, customer) is None
