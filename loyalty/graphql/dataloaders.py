"""DataLoaders for relations a list can ask for: one query per page, not per row."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from strawberry.dataloader import DataLoader
from tortoise.models import Model

from loyalty.customers.models import Customer
from loyalty.programme.models import Order, Reward, Tier


def _by_id(model: type[Model]) -> DataLoader[int, Any]:
    async def load(ids: Sequence[int]) -> list[Any]:
        rows = {row.id: row for row in await model.filter(id__in=list(ids))}
        return [rows.get(i) for i in ids]

    return DataLoader(load_fn=load)


class Loaders:
    """One set per request, so nothing is cached across callers or shops."""

    def __init__(self) -> None:
        self.tier = _by_id(Tier)
        self.reward = _by_id(Reward)
        self.customer = _by_id(Customer)
        self.order = _by_id(Order)
