"""A page of customers costs the same number of SQL queries whatever its size (no N+1)."""

from contextlib import contextmanager

import pytest
from tortoise import connections

from loyalty import clock
from loyalty.customers.models import Customer
from loyalty.graphql.dataloaders import Loaders
from loyalty.graphql.pagination import PageRequest, encode_cursor, paginate
from loyalty.graphql.permissions import PublicError
from loyalty.programme import tiers
from loyalty.programme.models import LedgerEntry, Order, Programme, TierBasis
from tests.graphql.helpers import (
    RECORD_ORDER,
    REDEEM,
    create_customer_with_points,
    create_reward,
    order_input,
    setup_programme,
)

PAGE = """query($first: Int!) { customers(first: $first) { edges { node {
  id email pointsBalance tier { name }
  vouchers { code reward { name } }
  affordableRewards { name }
  subscriptions { status }
} } } }"""


@contextmanager
def counting(monkeypatch: pytest.MonkeyPatch):
    """Every query sent through the default connection's client (SQLite or asyncpg)."""
    client = type(connections.get("default"))
    seen: list[str] = []
    for name in ("execute_query", "execute_query_dict"):
        original = getattr(client, name)

        async def counted(self, query, *args, _original=original, **kwargs):
            seen.append(query)
            return await _original(self, query, *args, **kwargs)

        monkeypatch.setattr(client, name, counted)
    yield seen
    monkeypatch.undo()


@pytest.mark.both_dbs
async def test_customer_page_query_count_does_not_grow(gql, shop_a, monkeypatch):
    await setup_programme(gql, shop_a)
    reward = await create_reward(gql, shop_a, 10)
    await gql.run(
        'mutation { createTier(input: {name: "Gold", threshold: 0}) { tier { id } } }',
        **shop_a.merchant,
    )
    for n in range(12):
        await create_customer_with_points(gql, shop_a, f"c-{n}", 50)
        await gql.run(REDEEM, {"input": {"rewardId": reward}}, **shop_a.shopper(f"c-{n}"))

    async def queries_for(first: int) -> int:
        with counting(monkeypatch) as seen:
            data = await gql.run(PAGE, {"first": first}, **shop_a.merchant)
        assert len(data["customers"]["edges"]) == first
        assert all(e["node"]["vouchers"][0]["reward"] for e in data["customers"]["edges"])
        return len(seen)

    small, large = await queries_for(2), await queries_for(12)
    assert 0 < small == large, (small, large)


CONNECTIONS = """
  ledger(first: 3) { edges { node { points } } pageInfo { hasNextPage } }
  orders(first: 2) { edges { node { externalId } } }
  tierProgress { remaining nextTier { name } }
"""
CONNECTIONS_PAGE = (
    "query($first: Int!) { customers(first: $first) { edges { node { id " + CONNECTIONS + "} } } }"
)
ONE_CUSTOMER = "query($id: ID!) { customer(id: $id) { id " + CONNECTIONS + "} }"


async def _customers_with_history(gql, auth, count: int) -> None:
    """`count` customers; the even ones have four orders (and so more ledger entries)."""
    await setup_programme(gql, auth)
    for name, threshold in (("Silver", 3000), ("Gold", 20000)):
        await gql.run(
            "mutation($input: TierInput!) { createTier(input: $input) { tier { id } } }",
            {"input": {"name": name, "threshold": threshold}},
            **auth.merchant,
        )
    for n in range(count):
        await create_customer_with_points(gql, auth, f"c-{n}", 10 + n)
        if n % 2 == 0:
            for k in range(3):
                await gql.run(
                    RECORD_ORDER,
                    {"input": order_input(f"more-{n}-{k}", f"c-{n}", 1500)},
                    **auth.merchant,
                )


@pytest.mark.both_dbs
async def test_ledger_orders_and_tier_progress_batch_across_a_page(gql, shop_a, monkeypatch):
    await _customers_with_history(gql, shop_a, 12)

    async def page(first: int) -> tuple[list[dict], int]:
        with counting(monkeypatch) as seen:
            data = await gql.run(CONNECTIONS_PAGE, {"first": first}, **shop_a.merchant)
        nodes = [e["node"] for e in data["customers"]["edges"]]
        assert len(nodes) == first
        return nodes, len(seen)

    (_, small), (nodes, large) = await page(2), await page(12)
    assert 0 < small == large, (small, large)

    # Each customer's slice of the batch is what a query for that customer alone gives.
    for n in (0, 1, 6, 11):
        single = await gql.run(ONE_CUSTOMER, {"id": nodes[n]["id"]}, **shop_a.merchant)
        assert nodes[n] == single["customer"], n
    even, odd = nodes[0], nodes[1]
    assert len(even["ledger"]["edges"]) == 3
    assert even["ledger"]["pageInfo"]["hasNextPage"] is True
    assert [e["node"]["externalId"] for e in even["orders"]["edges"]] == ["more-0-2", "more-0-1"]
    assert odd["ledger"]["pageInfo"]["hasNextPage"] is False
    assert [e["node"]["externalId"] for e in odd["orders"]["edges"]] == ["seed-c-1"]
    # c-0 spent £10 + 3 x £15 = £55: past Silver (£30), £145 short of Gold.
    assert even["tierProgress"] == {"remaining": 14500, "nextTier": {"name": "Gold"}}
    # c-1 spent £11: £19 short of Silver.
    assert odd["tierProgress"] == {"remaining": 1900, "nextTier": {"name": "Silver"}}


@pytest.mark.both_dbs
async def test_page_loaders_match_paginate_and_tier_rules(gql, shop_a):
    """The raw window-function SQL and the grouped sums, checked on each backend."""
    await _customers_with_history(gql, shop_a, 4)
    programme = await Programme.get(shop_id=shop_a.shop.id)
    customers = await Customer.filter(shop_id=shop_a.shop.id).order_by("id")
    ids = [c.id for c in customers]
    loaders = Loaders()
    newest = await LedgerEntry.filter(customer_id=ids[0]).order_by("-id")
    cursors = [None, encode_cursor(newest[0].id), encode_cursor(newest[-1].id)]
    for model, loader in ((LedgerEntry, loaders.ledger_page), (Order, loaders.orders_page)):
        for first in (1, 2, 3, 50):
            for after in cursors:
                keys = [(i, first, after) for i in ids]
                batched = await loader.load_many(keys)
                for i, rows in zip(ids, batched, strict=True):
                    alone = await paginate(
                        model.filter(customer_id=i),
                        first=first,
                        after=after,
                        to_node=lambda r: r.id,
                        newest_first=True,
                    )
                    page = PageRequest.of(first, after)
                    assert [r.id for r in rows[:first]] == [e.node for e in alone.edges]
                    assert (len(rows) > page.size) == alone.page_info.has_next_page
    with pytest.raises(PublicError, match="first must be between"):
        await loaders.ledger_page.load((ids[0], 0, None))
    with pytest.raises(PublicError, match="Invalid cursor"):
        await loaders.orders_page.load((ids[0], 2, "nope"))

    for basis in (TierBasis.SPEND, TierBasis.POINTS):
        programme.tier_basis = basis
        await programme.save()
        amounts = await tiers.qualifying_amounts(customers, programme, clock.now())
        for customer in customers:
            assert amounts[customer.id] == await tiers.qualifying_amount(
                customer, programme, clock.now()
            )
        # c-0: £10 + 3 x £15 of paid orders, 55 points; c-1: £11, 11 points.
        expected = [5500, 1100] if basis == TierBasis.SPEND else [55, 11]
        assert [amounts[i] for i in ids[:2]] == expected
    # On points, c-0 keeps the Silver won on spend: 55 of Gold's 20000; c-1 has 11.
    standing = await Loaders().tier_progress.load_many(ids[:2])
    assert [(s.next_tier.name, s.remaining) for s in standing] == [
        ("Gold", 19945),
        ("Silver", 2989),
    ]
    assert all(s.programme.tier_basis == TierBasis.POINTS for s in standing)
