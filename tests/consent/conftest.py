"""Consent tests: shops with real credentials, customers, and the app over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from loyalty import clock
from loyalty.config import Settings
from loyalty.customers.models import Customer
from loyalty.customers.service import upsert_customer
from loyalty.programme.inputs import CustomerInput
from loyalty.web import create_app
from tests.graphql.conftest import GraphQLClient, ShopAuth, make_shop

T0 = datetime(2025, 3, 10, 9, 30, tzinfo=UTC)
SECRET = "test-consent-secret"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, secret_key=SECRET)


@pytest.fixture
async def http(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, manage_db=False)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 51000))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers={"user-agent": "pytest-ua"}
    ) as client:
        yield client


@pytest.fixture
def gql(http: httpx.AsyncClient) -> GraphQLClient:
    return GraphQLClient(http)


@pytest.fixture
async def shop_a(database_url: str) -> ShopAuth:
    return await make_shop("Shop A")


@pytest.fixture
async def shop_b(database_url: str) -> ShopAuth:
    return await make_shop("Shop B")


@pytest.fixture
def now(database_url: str) -> datetime:
    clock.set_now(T0)
    return T0


async def make_customer(
    auth: ShopAuth, external_id: str = "c1", *, bought: bool = False
) -> Customer:
    customer, _ = await upsert_customer(
        auth.shop.id,
        CustomerInput(
            external_id=external_id, email=f"{external_id}@example.com", phone="07911 123456"
        ),
    )
    if bought:
        await Customer.filter(id=customer.id).update(last_order_at=T0)
        await customer.refresh_from_db()
    return customer
