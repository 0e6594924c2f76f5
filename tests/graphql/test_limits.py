"""Production hardening: no introspection or suggestions, masked internals, request limits."""

from collections.abc import AsyncIterator

import httpx
import pytest

from loyalty.config import Settings
from loyalty.web import create_app
from tests.graphql.conftest import GraphQLClient


@pytest.fixture
async def prod(database_url: str) -> AsyncIterator[GraphQLClient]:
    settings = Settings(database_url=database_url, production=True, secret_key="s" * 32)
    app = create_app(settings, manage_db=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield GraphQLClient(http)


async def test_production_disables_introspection_and_suggestions(prod, gql, shop_a):
    body = (await prod.post("{ __schema { types { name } } }", **shop_a.merchant)).json()
    assert body["errors"] and "introspection" in body["errors"][0]["message"].lower()
    body = (await prod.post("{ programm { approvalDays } }", **shop_a.merchant)).json()
    assert "Did you mean" not in body["errors"][0]["message"]
    dev = (await gql.post("{ programm { approvalDays } }", **shop_a.merchant)).json()
    assert "Did you mean" in dev["errors"][0]["message"]


async def test_graphiql_only_in_development(prod, gql):
    page = await gql.http.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()
    hidden = await prod.http.get("/graphql", headers={"accept": "text/html"})
    assert hidden.status_code == 404


async def test_internal_errors_are_masked(prod, shop_a, monkeypatch):
    from loyalty.graphql import queries

    async def boom(*args, **kwargs):
        raise RuntimeError("database password is hunter2")

    monkeypatch.setattr(queries.m.Programme, "get", boom)
    body = (await prod.post("{ programme { approvalDays } }", **shop_a.merchant)).json()
    assert body["errors"][0]["message"] == "Unexpected error."
    assert "hunter2" not in str(body)


async def test_alias_and_page_size_limits(gql, shop_a):
    aliases = "{ " + " ".join(f"a{n}: programme {{ approvalDays }}" for n in range(40)) + " }"
    body = (await gql.post(aliases, **shop_a.merchant)).json()
    assert "aliases" in body["errors"][0]["message"].lower()
    query = "{ customers(first: 101) { edges { cursor } } }"
    body = (await gql.post(query, **shop_a.merchant)).json()
    assert body["errors"][0]["message"] == "first must be between 1 and 100"


async def test_depth_limit(database_url, shop_a):
    app = create_app(Settings(database_url=database_url, max_query_depth=4), manage_db=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        client = GraphQLClient(http)
        shallow = "{ customers { edges { node { id } } } }"
        assert "errors" not in (await client.post(shallow, **shop_a.merchant)).json()
        deep = "{ customers { edges { node { ledger { edges { node { id } } } } } } }"
        body = (await client.post(deep, **shop_a.merchant)).json()
        assert "exceeds maximum operation depth" in body["errors"][0]["message"]


def test_production_refuses_the_public_development_secret(database_url):
    with pytest.raises(ValueError, match="LOYALTY_SECRET_KEY"):
        create_app(Settings(database_url=database_url, production=True), manage_db=False)


async def test_an_absurd_cursor_is_a_clear_error(gql, shop_a):
    import base64

    cursor = base64.urlsafe_b64encode(b"pk:" + b"9" * 40).decode()
    body = (
        await gql.post(
            "query($c: String!) { customers(after: $c) { edges { cursor } } }",
            {"c": cursor},
            **shop_a.merchant,
        )
    ).json()
    assert body["errors"][0]["message"] == "Invalid cursor"
