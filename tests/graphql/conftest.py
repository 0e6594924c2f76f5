"""Real HTTP through the Starlette app, with real credentials."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest

from loyalty.config import Settings
from loyalty.shops.models import Shop
from loyalty.shops.service import create_api_key, create_shop, mint_customer_token
from loyalty.web import create_app


class GraphQLClient:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def post(self, query: str, variables: dict[str, Any] | None = None, **headers: str):
        return await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )

    async def run(self, query: str, variables: dict[str, Any] | None = None, **headers: str):
        """Execute and return `data`, failing on any GraphQL error."""
        response = await self.post(query, variables, **headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert not body.get("errors"), body["errors"]
        return body["data"]


@dataclass
class ShopAuth:
    shop: Shop
    write_key: str
    read_key: str

    @property
    def merchant(self) -> dict[str, str]:
        return {"x-api-key": self.write_key}

    @property
    def reader(self) -> dict[str, str]:
        return {"x-api-key": self.read_key}

    def shopper(self, customer_external_id: str) -> dict[str, str]:
        token = mint_customer_token(self.shop, customer_external_id, timedelta(minutes=15))
        return {"authorization": f"Bearer {token}"}


async def make_shop(name: str) -> ShopAuth:
    shop = await create_shop(name)
    write = await create_api_key(shop, "plugin", ["read", "write"])
    read = await create_api_key(shop, "reports", ["read"])
    return ShopAuth(shop=shop, write_key=write.secret, read_key=read.secret)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url)


@pytest.fixture
async def gql(settings: Settings) -> AsyncIterator[GraphQLClient]:
    app = create_app(settings, manage_db=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield GraphQLClient(http)


@pytest.fixture
async def shop_a(database_url: str) -> ShopAuth:
    return await make_shop("Shop A")


@pytest.fixture
async def shop_b(database_url: str) -> ShopAuth:
    return await make_shop("Shop B")
