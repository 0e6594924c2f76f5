"""Shared set-up for import tests: a shop with its programme, at a frozen time."""

from __future__ import annotations

import pytest

from loyalty import clock
from loyalty.shops.models import Shop
from loyalty.shops.service import create_shop
from tests.imports.helpers import T0


@pytest.fixture
async def shop(database_url: str) -> Shop:
    clock.set_now(T0)
    return await create_shop("Tortoise & Hare Ltd")
