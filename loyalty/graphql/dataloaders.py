"""DataLoaders for relations a list can ask for: one query per page, not per row."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from strawberry.dataloader import DataLoader
from tortoise.models import Model

from loyalty.customers.models import Customer
from loyalty.integrations.models import Subscription
from loyalty.programme.models import Order, Reward, Tier, Voucher


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
