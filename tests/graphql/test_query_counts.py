"""A page of customers costs the same number of SQL queries whatever its size (no N+1)."""

from contextlib import contextmanager

import pytest
from tortoise.backends.sqlite.client import SqliteClient

from tests.graphql.helpers import (
    REDEEM,
    create_customer_with_points,
    create_reward,
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
    seen: list[str] = []
    for name in ("execute_query", "execute_query_dict"):
        original = getattr(SqliteClient, name)

        async def counted(self, query, *args, _original=original, **kwargs):
            seen.append(query)
            return await _original(self, query, *args, **kwargs)

        monkeypatch.setattr(SqliteClient, name, counted)
    yield seen
    monkeypatch.undo()


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
