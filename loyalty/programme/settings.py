"""Merchant edits to the programme: settings, tiers, rewards and earning rules."""

from __future__ import annotations

from typing import Any

from loyalty.customers.models import Customer
from loyalty.errors import DomainError, NotFound
from loyalty.programme import ledger
from loyalty.programme.models import (
    ActionKind,
    EarningRule,
    EntryKind,
    LedgerEntry,
    Programme,
    Reward,
    Tier,
)
from loyalty.programme.rewards import validate_reward

_NON_NEGATIVE = (
    "points_per_pound",
    "approval_days",
    "expiry_days",
    "inactivity_months",
    "tier_grace_days",
)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


async def update_programme(shop_id: int, changes: dict[str, Any]) -> Programme:
    """Apply the given settings (None values are left unchanged)."""
    changes = {k: v for k, v in changes.items() if v is not None}
    for name in _NON_NEGATIVE:
        if name in changes and changes[name] < 0:
            raise DomainError("INVALID", f"{_camel(name)} must not be negative", _camel(name))
    if changes.get("expiry_days") == 0 or changes.get("inactivity_months") == 0:
        raise DomainError("INVALID", "an expiry period must be at least 1", "expiryDays")
    programme = await Programme.get(shop_id=shop_id)
    programme.update_from_dict(changes)
    await programme.save()
    return programme


async def save_tier(shop_id: int, tier_id: int | None, changes: dict[str, Any]) -> Tier:
    changes = {k: v for k, v in changes.items() if v is not None}
    if changes.get("threshold", 0) < 0:
        raise DomainError("INVALID", "threshold must not be negative", "threshold")
    if changes.get("multiplier_percent", 100) < 0:
        raise DomainError("INVALID", "multiplier must not be negative", "multiplierPercent")
    if tier_id is None:
        if not changes.get("name") or "threshold" not in changes:
            raise DomainError("INVALID", "a tier needs a name and a threshold", "name")
        return await Tier.create(shop_id=shop_id, **changes)
    tier = await Tier.get_or_none(id=tier_id, shop_id=shop_id)
    if tier is None:
        raise NotFound("tier", "id")
    tier.update_from_dict(changes)
    await tier.save()
    return tier


async def save_reward(shop_id: int, reward_id: int | None, changes: dict[str, Any]) -> Reward:
    changes = {k: v for k, v in changes.items() if v is not None}
    if reward_id is None:
        reward = Reward(shop_id=shop_id)
        if not changes.get("name") or "kind" not in changes or "points_cost" not in changes:
            raise DomainError("INVALID", "a reward needs a name, kind and points cost", "name")
    else:
        found = await Reward.get_or_none(id=reward_id, shop_id=shop_id)
        if found is None:
            raise NotFound("reward", "id")
        reward = found
    reward.update_from_dict(changes)
    validate_reward(
        reward.kind, reward.points_cost, reward.amount, reward.percentage, reward.product_id
    )
    await reward.save()
    return reward


async def save_earning_rule(
    shop_id: int, rule_id: int | None, changes: dict[str, Any]
) -> EarningRule:
    changes = {k: v for k, v in changes.items() if v is not None}
    if changes.get("points", 1) <= 0:
        raise DomainError("INVALID", "points must be positive", "points")
    if rule_id is None:
        kind = changes.get("kind")
        if kind is None or not changes.get("name") or "points" not in changes:
            raise DomainError("INVALID", "a rule needs a kind, a name and points", "kind")
        changes.setdefault("key", kind.value if kind != ActionKind.CUSTOM else None)
        if not changes["key"]:
            raise DomainError("INVALID", "a custom action needs a key", "key")
        if await EarningRule.filter(shop_id=shop_id, key=changes["key"]).exists():
            raise DomainError("DUPLICATE", f"a rule with key {changes['key']!r} exists", "key")
        return await EarningRule.create(shop_id=shop_id, **changes)
    rule = await EarningRule.get_or_none(id=rule_id, shop_id=shop_id)
    if rule is None:
        raise NotFound("earning rule", "id")
    changes.pop("key", None)
    changes.pop("kind", None)
    rule.update_from_dict(changes)
    await rule.save()
    return rule


async def adjust_points(customer: Customer, points: int, *, actor: str, reason: str) -> LedgerEntry:
    """A merchant correction; it may not take the balance below zero."""
    if points == 0:
        raise DomainError("INVALID", "an adjustment must not be zero", "points")
    if not reason.strip():
        raise DomainError("INVALID", "an adjustment needs a reason", "reason")
    return await ledger.post(
        customer,
        EntryKind.ADJUST,
        points=points,
        require_funds=points < 0,
        actor=actor,
        reason=reason.strip(),
        description="Adjustment",
    )
