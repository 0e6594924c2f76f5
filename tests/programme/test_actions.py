"""One-off actions (sign-up, birthday, review, custom, referral) and their per-customer limits."""

import pytest

from loyalty.customers.service import upsert_customer
from loyalty.errors import DomainError
from loyalty.programme import earning, jobs
from loyalty.programme.inputs import CustomerInput
from loyalty.programme.models import (
    ActionKind,
    ActionLimit,
    EarningRule,
    EntryKind,
    LedgerEntry,
    OrderStatus,
)


async def _rule(kit, kind, points, limit=ActionLimit.ONCE, key=None, active=True):
    return await EarningRule.create(
        shop_id=kit.shop.id,
        kind=kind,
        key=key or kind.value,
        name=f"{kind.value} bonus",
        points=points,
        limit=limit,
        active=active,
    )


async def _complete(kit, customer, rule, **kwargs):
    return await earning.complete_action(
        await kit.fresh(customer), await kit.programme(), rule, **kwargs
    )


async def _refused(kit, customer, rule):
    with pytest.raises(DomainError) as raised:
        await _complete(kit, customer, rule)
    return raised.value.code


@pytest.mark.parametrize("kind", [ActionKind.SIGNUP, ActionKind.REVIEW, ActionKind.CUSTOM])
async def test_once_actions_award_their_points_a_single_time(kit, kind):
    rule = await _rule(kit, kind, 200)
    customer = await kit.customer()
    entry = await _complete(kit, customer, rule)
    assert (entry.kind, entry.points, entry.rule_id) == (EntryKind.EARN, 200, rule.id)
    assert entry.description == rule.name
    kit.at(days=400)
    assert await _refused(kit, customer, rule) == "LIMIT_REACHED"
    assert await kit.balances(customer) == (200, 0)


async def test_action_points_are_spendable_at_once(kit):
    rule = await _rule(kit, ActionKind.SIGNUP, 100)
    customer = await kit.customer()
    assert (await kit.programme()).approval_days == 14
    await _complete(kit, customer, rule)
    assert await kit.balances(customer) == (100, 0)


async def test_limits_are_per_customer(kit):
    rule = await _rule(kit, ActionKind.SIGNUP, 100)
    a = await kit.customer("a")
    b = await kit.customer("b")
    await _complete(kit, a, rule)
    await _complete(kit, b, rule)
    assert await kit.balances(a) == await kit.balances(b) == (100, 0)


async def test_per_day_limit(kit):
    rule = await _rule(kit, ActionKind.REVIEW, 10, ActionLimit.PER_DAY)
    customer = await kit.customer()
    kit.at(hours=1)
    await _complete(kit, customer, rule)
    kit.at(hours=14)  # later the same day (T0 is 09:30 UTC)
    assert await _refused(kit, customer, rule) == "LIMIT_REACHED"
    kit.at(hours=15)  # just after midnight
    await _complete(kit, customer, rule)
    assert await kit.balances(customer) == (20, 0)


async def test_per_month_limit(kit):
    rule = await _rule(kit, ActionKind.CUSTOM, 25, ActionLimit.PER_MONTH, key="instagram")
    customer = await kit.customer()
    await _complete(kit, customer, rule)  # 10 March
    kit.at(days=21)  # 31 March
    assert await _refused(kit, customer, rule) == "LIMIT_REACHED"
    kit.at(days=22)  # 1 April
    await _complete(kit, customer, rule)
    assert await kit.balances(customer) == (50, 0)


async def test_per_year_limit_for_birthdays(kit):
    rule = await _rule(kit, ActionKind.BIRTHDAY, 50, ActionLimit.PER_YEAR)
    customer = await kit.customer()
    await _complete(kit, customer, rule)
    kit.at(days=200)
    assert await _refused(kit, customer, rule) == "LIMIT_REACHED"
    kit.at(days=300)  # into the next calendar year
    await _complete(kit, customer, rule)
    assert await kit.balances(customer) == (100, 0)


async def test_unlimited_actions(kit):
    rule = await _rule(kit, ActionKind.REVIEW, 5, ActionLimit.UNLIMITED)
    customer = await kit.customer()
    for _ in range(4):
        await _complete(kit, customer, rule)
    assert await kit.balances(customer) == (20, 0)


async def test_inactive_and_unknown_rules_are_refused(kit):
    rule = await _rule(kit, ActionKind.REVIEW, 5, active=False)
    customer = await kit.customer()
    assert await _refused(kit, customer, rule) == "RULE_INACTIVE"
    assert await kit.balances(customer) == (0, 0)
    assert (await earning.rule_for(kit.shop.id, "review")).id == rule.id
    with pytest.raises(DomainError) as raised:
        await earning.rule_for(kit.shop.id, "nope")
    assert raised.value.code == "NOT_FOUND"


async def test_rules_of_another_shop_are_not_found(kit, other_kit):
    await _rule(other_kit, ActionKind.REVIEW, 5)
    with pytest.raises(DomainError) as raised:
        await earning.rule_for(kit.shop.id, "review")
    assert raised.value.code == "NOT_FOUND"
    assert await earning.active_rule(kit.shop.id, ActionKind.REVIEW) is None


@pytest.mark.both_dbs
async def test_a_repeated_action_key_returns_the_first_entry(kit):
    """Idempotency: a retried completion has no second effect and returns the first result."""
    rule = await _rule(kit, ActionKind.REVIEW, 5, ActionLimit.UNLIMITED)
    once = await _rule(kit, ActionKind.SIGNUP, 100)
    customer = await kit.customer()
    first = await _complete(kit, customer, rule, idempotency_key="review:42")
    again = await _complete(kit, customer, rule, idempotency_key="review:42")
    assert again.id == first.id
    signup = await _complete(kit, customer, once, idempotency_key="signup:c1")
    assert (await _complete(kit, customer, once, idempotency_key="signup:c1")).id == signup.id
    assert await kit.balances(customer) == (105, 0)
    # The same key for another action is a different request.
    with pytest.raises(DomainError) as raised:
        await _complete(kit, customer, once, idempotency_key="review:42")
    assert raised.value.code == "IDEMPOTENCY_KEY_REUSED"
    assert await kit.balances(customer) == (105, 0)


# Referrals ------------------------------------------------------------------------------


async def _referral_rules(kit, referrer_points=500, referee_points=250, **kwargs):
    return (
        await _rule(kit, ActionKind.REFERRAL_REFERRER, referrer_points, **kwargs),
        await _rule(kit, ActionKind.REFERRAL_REFEREE, referee_points, **kwargs),
    )


async def _referred(kit, referrer, external_id="friend", email=None):
    customer, created = await upsert_customer(
        kit.shop.id,
        CustomerInput(
            external_id=external_id, email=email, referral_code=referrer.referral_code.lower()
        ),
    )
    assert created
    return customer


@pytest.mark.both_dbs
async def test_a_referral_completes_on_the_referees_first_order(kit):
    await _referral_rules(kit)
    referrer = await kit.customer("ref", email="ref@example.com")
    friend = await _referred(kit, referrer, email="friend@example.com")
    assert friend.referred_by_id == referrer.id
    assert await kit.balances(referrer) == (0, 0)
    await kit.order("1", 2000, customer="friend", status=OrderStatus.PENDING)
    assert await kit.balances(referrer) == (0, 0)  # not until the order is paid
    await kit.order("1", 2000, customer="friend")
    # Both sides are rewarded, held as pending like order points.
    assert await kit.balances(referrer) == (0, 500)
    assert await kit.balances(friend) == (0, 250 + 20)
    # Re-delivery of the order, and a second order, reward nobody again.
    await kit.order("1", 2000, customer="friend")
    await kit.order("2", 1000, customer="friend")
    assert await kit.balances(referrer) == (0, 500)
    assert await kit.balances(friend) == (0, 250 + 30)
    kit.at(days=14)
    await jobs.confirm_pending(kit.shop.id)
    assert await kit.balances(referrer) == (500, 0)


async def test_a_referral_without_rules_rewards_nobody(kit):
    referrer = await kit.customer("ref")
    friend = await _referred(kit, referrer)
    await kit.order("1", 2000, customer="friend")
    assert await kit.balances(referrer) == (0, 0)
    assert await LedgerEntry.filter(customer_id=friend.id).count() == 1


async def test_self_referral_is_refused(kit):
    await _referral_rules(kit)
    referrer = await kit.customer("ref", email="me@example.com")
    with pytest.raises(DomainError) as raised:
        await upsert_customer(
            kit.shop.id,
            CustomerInput(
                external_id="me-again",
                email=" ME@example.com",
                referral_code=referrer.referral_code,
            ),
        )
    assert raised.value.code == "SELF_REFERRAL"
    assert await kit.balances(referrer) == (0, 0)


async def test_a_customer_cannot_use_their_own_code(kit):
    await _referral_rules(kit)
    customer = await kit.customer("me")
    with pytest.raises(DomainError) as raised:
        await upsert_customer(
            kit.shop.id, CustomerInput(external_id="me", referral_code=customer.referral_code)
        )
    assert raised.value.code == "SELF_REFERRAL"
    assert (await kit.fresh(customer)).referred_by_id is None
    await kit.order("1", 1000, customer="me")
    assert await kit.balances(customer) == (0, 10)


async def test_an_unknown_or_foreign_referral_code_is_refused(kit, other_kit):
    stranger = await other_kit.customer("stranger")
    for code in ("NOPE1234", stranger.referral_code):
        with pytest.raises(DomainError) as raised:
            await upsert_customer(kit.shop.id, CustomerInput(external_id="x", referral_code=code))
        assert (raised.value.code, raised.value.field) == ("INVALID", "referralCode")


async def test_the_referrer_rule_limit_applies(kit):
    """A referrer rule limited to once rewards the first completed referral only."""
    await _referral_rules(kit, limit=ActionLimit.ONCE)
    referrer = await kit.customer("ref")
    await _referred(kit, referrer, "f1")
    await _referred(kit, referrer, "f2")
    await kit.order("1", 1000, customer="f1")
    await kit.order("2", 1000, customer="f2")
    assert await kit.balances(referrer) == (0, 500)


async def test_an_unlimited_referrer_rule_rewards_every_referral(kit):
    await _referral_rules(kit, limit=ActionLimit.UNLIMITED)
    referrer = await kit.customer("ref")
    await _referred(kit, referrer, "f1")
    await _referred(kit, referrer, "f2")
    await kit.order("1", 1000, customer="f1")
    await kit.order("2", 1000, customer="f2")
    assert await kit.balances(referrer) == (0, 1000)
