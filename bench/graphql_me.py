"""How much the GraphQL layer costs on the hottest shopper query, against a baseline.

Runs `{ me { pointsBalance tier { name } } }` through the real ASGI app (auth, context,
strawberry with parser and validation caches) and, side by side in the same process,
a plain Starlette route that does the same look-ups and returns the same JSON. Prints
requests per second for each and their ratio. Not a test: nothing is asserted.

    .venv/bin/python bench/graphql_me.py [--requests 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from loyalty import db
from loyalty.config import Settings
from loyalty.customers.models import Customer
from loyalty.programme.inputs import CustomerInput
from loyalty.programme.members import sync_customer
from loyalty.programme.models import Tier
from loyalty.shops.service import authenticate_customer_token, create_shop, mint_customer_token
from loyalty.web import create_app

QUERY = "{ me { pointsBalance tier { name } } }"


async def baseline(request: Request) -> JSONResponse:
    """The same work without GraphQL: verify the token, load the customer and tier."""
    token = request.headers["authorization"].removeprefix("Bearer ")
    shop, external_id = await authenticate_customer_token(token)
    customer = await Customer.get(shop_id=shop.id, external_id=external_id)
    tier = await Tier.get_or_none(id=customer.tier_id) if customer.tier_id else None
    me = {"pointsBalance": customer.points_balance, "tier": {"name": tier.name} if tier else None}
    return JSONResponse({"data": {"me": me}})


async def rate(client: httpx.AsyncClient, send, requests: int) -> float:
    for _ in range(50):  # warm caches and connections
        await send(client)
    started = time.perf_counter()
    for _ in range(requests):
        await send(client)
    return requests / (time.perf_counter() - started)


async def main(requests: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite://{Path(folder) / 'bench.sqlite3'}"
        await db.init(url, run_migrations=True)
        shop = await create_shop("Bench")
        tier = await Tier.create(shop=shop, name="Gold", threshold=0)
        customer, _ = await sync_customer(shop.id, CustomerInput(external_id="c1", email="b@x.io"))
        await Customer.filter(id=customer.id).update(tier_id=tier.id, points_balance=1234)
        headers = {"authorization": f"Bearer {mint_customer_token(shop, 'c1', timedelta(hours=1))}"}
        settings = Settings(database_url=url, production=True, secret_key="bench-" * 8)
        app = create_app(settings, manage_db=False)
        plain = Starlette(routes=[Route("/me", baseline)])

        async def via_graphql(client: httpx.AsyncClient) -> None:
            response = await client.post("/graphql", json={"query": QUERY}, headers=headers)
            assert response.json()["data"]["me"]["pointsBalance"] == 1234

        async def via_plain(client: httpx.AsyncClient) -> None:
            response = await client.get("/me", headers=headers)
            assert response.json()["data"]["me"]["pointsBalance"] == 1234

        transport = httpx.ASGITransport
        async with (
            httpx.AsyncClient(transport=transport(app=app), base_url="http://b") as gql,
            httpx.AsyncClient(transport=transport(app=plain), base_url="http://b") as raw,
        ):
            base = await rate(raw, via_plain, requests)
            ours = await rate(gql, via_graphql, requests)
        await db.close()
    print(f"plain Starlette route : {base:8.0f} req/s")
    print(f"GraphQL me            : {ours:8.0f} req/s")
    print(f"ratio GraphQL/plain   : {ours / base:8.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    asyncio.run(main(parser.parse_args().requests))
