"""DataLoaders for relations a list can ask for: one query per page, not per row."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from strawberry.dataloader import DataLoader
from tortoise.models import Model

from loyalty import clock
from loyalty.customers.models import Customer
from loyalty.graphql.pagination import PageRequest, fetch_pages
from loyalty.graphql.permissions import PublicError
from loyalty.integrations.models import Subscription
from loyalty.programme import tiers as tier_rules
from loyalty.programme.models import LedgerEntry, Order, Programme, Reward, Tier, Voucher

PageKey = tuple[int, int | None, str | None]
"""(parent id, first, after) of one connection."""


def _by_id(model: type[Model]) -> DataLoader[int, Any]:
    async def load(ids: Sequence[int]) -> list[Any]:
        rows = {row.id: row for row in await model.filter(id__in=list(ids))}
        return [rows.get(i) for i in ids]

    return DataLoader(load_fn=load)


def _many_by(model: type[Model], key: str, *ordering: str) -> DataLoader[int, list[Any]]:
    """All rows whose `key` is each given id, in `ordering`."""

    async def load(ids: Sequence[int]) -> list[list[Any]]:
        grouped: dict[int, list[Any]] = defaultdict(list)
        for row in await model.filter(**{f"{key}__in": list(ids)}).order_by(*ordering):
            grouped[getattr(row, key)].append(row)
        return [grouped[i] for i in ids]

    return DataLoader(load_fn=load)


def _pages_of(model: type[Model], key: str) -> DataLoader[PageKey, list[Any]]:
    """The rows of one page of each parent's connection, newest first, plus one more.

    Keys are (parent id, first, after); one query per distinct (first, after). Build
    the Connection with `pagination.build_connection`.
    """

    async def load(keys: Sequence[PageKey]) -> list[list[Any] | BaseException]:
        by_request: dict[tuple[int | None, str | None], list[int]] = defaultdict(list)
        for parent, first, after in keys:
            by_request[(first, after)].append(parent)
        results: dict[tuple[int | None, str | None], dict[int, list[Any]] | BaseException] = {}
        for (first, after), parents in by_request.items():
            try:
                page = PageRequest.of(first, after)
            except PublicError as exc:  # a bad first/after fails only the keys that sent it
                results[(first, after)] = exc
                continue
            results[(first, after)] = await fetch_pages(model, key, parents, page)
        out: list[list[Any] | BaseException] = []
        for parent, first, after in keys:
            found = results[(first, after)]
            out.append(found if isinstance(found, BaseException) else found.get(parent, []))
        return out

    return DataLoader(load_fn=load)


@dataclass(frozen=True)
class TierStanding:
    """What `tierProgress` shows: the next tier up and what is still needed for it."""

    next_tier: Tier | None
    remaining: int
    programme: Programme


def _tier_progress() -> DataLoader[int, TierStanding]:
    """Each customer's next tier: per page one query for the customers, the programmes
    and the tiers, and one per shop for the qualifying amounts."""

    async def load(ids: Sequence[int]) -> list[TierStanding | None]:
        now = clock.now()
        customers = await Customer.filter(id__in=list(ids))
        shop_ids = sorted({c.shop_id for c in customers})
        programmes = {p.shop_id: p for p in await Programme.filter(shop_id__in=shop_ids)}
        tiers_of: dict[int, list[Tier]] = defaultdict(list)
        for tier in await tier_rules.active_tiers_of_shops(shop_ids):
            tiers_of[tier.shop_id].append(tier)
        by_shop: dict[int, list[Customer]] = defaultdict(list)
        for customer in customers:
            by_shop[customer.shop_id].append(customer)
        standing: dict[int, TierStanding] = {}
        for shop_id, members in by_shop.items():
            programme = programmes[shop_id]
            amounts = await tier_rules.qualifying_amounts(members, programme, now)
            for customer in members:
                nxt, remaining = tier_rules.next_tier_from(
                    tiers_of[shop_id], customer, amounts[customer.id]
                )
                standing[customer.id] = TierStanding(nxt, remaining, programme)
        return [standing.get(i) for i in ids]

    return DataLoader(load_fn=load)


class Loaders:
    """One set per request, so nothing is cached across callers or shops."""

    def __init__(self) -> None:
        self.tier = _by_id(Tier)
        self.reward = _by_id(Reward)
        self.customer = _by_id(Customer)
        self.order = _by_id(Order)
        self.vouchers_of_customer = _many_by(Voucher, "customer_id", "-id")
        self.subscriptions_of_customer = _many_by(Subscription, "customer_id", "id")
        self.active_rewards_of_shop = _many_by(Reward, "shop_id", "points_cost", "id")
        self.ledger_page = _pages_of(LedgerEntry, "customer_id")
        self.orders_page = _pages_of(Order, "customer_id")
        self.tier_progress = _tier_progress()
