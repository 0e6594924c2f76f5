"""Consent over GraphQL: shopper's own, merchant's view and history, guards and tenancy."""

from __future__ import annotations

from loyalty.consent.models import ConsentEvent, ConsentState
from tests.consent.conftest import make_customer

MY = "{ myConsents { channel purpose status lawfulBasis updatedAt } }"
UPDATE = """mutation($input: UpdateConsentInput!) { updateConsent(input: $input) {
  consent { channel purpose status lawfulBasis } userErrors { field message code } } }"""
MERCHANT_UPDATE = """mutation($input: UpdateCustomerConsentInput!) {
  updateCustomerConsent(input: $input) {
    consent { channel purpose status lawfulBasis } userErrors { field message code } } }"""
CUSTOMER_CONSENT = """query($id: ID!, $first: Int, $after: String) {
  customerConsent(customerId: $id) {
    customerId
    consents { channel purpose status lawfulBasis }
    history(first: $first, after: $after) {
      edges { cursor node { id channel purpose fromStatus toStatus lawfulBasis source
                            evidence actor occurredAt } }
      pageInfo { hasNextPage endCursor }
    }
  } }"""


def gid(customer) -> str:
    from strawberry.relay import to_base64

    return to_base64("Customer", customer.id)


def status_of(consents, channel, purpose="MARKETING"):
    (found,) = [c for c in consents if (c["channel"], c["purpose"]) == (channel, purpose)]
    return found["status"], found["lawfulBasis"]


async def test_shopper_updates_and_reads_own_consent(gql, shop_a, now):
    customer = await make_customer(shop_a, "a-1")
    as_shopper = shop_a.shopper("a-1")

    mine = (await gql.run(MY, **as_shopper))["myConsents"]
    assert len(mine) == 6
    assert {c["status"] for c in mine} == {"NEVER_SUBSCRIBED"}

    email = await gql.run(
        UPDATE,
        {"input": {"channel": "EMAIL", "subscribed": True, "formId": "f1", "wordingVersion": "v2"}},
        **as_shopper,
    )
    assert email["updateConsent"] == {
        "consent": {
            "channel": "EMAIL",
            "purpose": "MARKETING",
            "status": "PENDING",
            "lawfulBasis": None,
        },
        "userErrors": [],
    }
    sms = await gql.run(UPDATE, {"input": {"channel": "SMS", "subscribed": True}}, **as_shopper)
    assert sms["updateConsent"]["consent"]["status"] == "SUBSCRIBED"
    off = await gql.run(
        UPDATE,
        {"input": {"channel": "SMS", "purpose": "TRANSACTIONAL", "subscribed": False}},
        **as_shopper,
    )
    assert off["updateConsent"]["consent"]["status"] == "UNSUBSCRIBED"

    mine = (await gql.run(MY, **as_shopper))["myConsents"]
    assert status_of(mine, "EMAIL") == ("PENDING", None)
    assert status_of(mine, "SMS") == ("SUBSCRIBED", "CONSENT")
    assert status_of(mine, "SMS", "TRANSACTIONAL") == ("UNSUBSCRIBED", None)
    assert status_of(mine, "WHATSAPP") == ("NEVER_SUBSCRIBED", None)

    event = await ConsentEvent.filter(customer_id=customer.id, channel="email").get()
    assert event.source == "storefront_form"
    assert event.evidence["form_id"] == "f1" and event.evidence["wording_version"] == "v2"
    assert event.evidence["ip"] == "203.0.113.7" and event.evidence["user_agent"] == "pytest-ua"
    assert "nonce" in event.evidence["confirmation"]


async def test_the_confirmation_token_never_leaves_over_the_api(gql, shop_a, now):
    await make_customer(shop_a, "a-1")
    response = await gql.post(
        UPDATE, {"input": {"channel": "EMAIL", "subscribed": True}}, **shop_a.shopper("a-1")
    )
    state = await ConsentState.get(channel="email")
    assert state.confirmation_nonce and state.confirmation_nonce not in response.text


async def test_shopper_without_a_profile_gets_a_user_error(gql, shop_a, now):
    as_stranger = shop_a.shopper("not-synced")
    assert (await gql.run(MY, **as_stranger))["myConsents"] == []
    data = await gql.run(UPDATE, {"input": {"channel": "SMS", "subscribed": True}}, **as_stranger)
    assert data["updateConsent"]["userErrors"][0]["code"] == "NOT_FOUND"


async def test_merchant_records_consent_and_reads_paginated_history(gql, shop_a, now):
    customer = await make_customer(shop_a, "a-1", bought=True)
    base = {"customerId": gid(customer), "note": "ticked the box at checkout, order 1001"}
    steps = [
        {"channel": "SMS", "subscribed": True, "lawfulBasis": "CONSENT", "source": "CHECKOUT"},
        {"channel": "EMAIL", "subscribed": True, "lawfulBasis": "SOFT_OPT_IN"},
        {"channel": "SMS", "subscribed": False, "source": "MERCHANT"},
    ]
    for step in steps:
        data = await gql.run(MERCHANT_UPDATE, {"input": {**base, **step}}, **shop_a.merchant)
        assert data["updateCustomerConsent"]["userErrors"] == [], data

    first = await gql.run(CUSTOMER_CONSENT, {"id": gid(customer), "first": 2}, **shop_a.reader)
    consent = first["customerConsent"]
    assert consent["customerId"] == gid(customer)
    assert status_of(consent["consents"], "EMAIL") == ("SUBSCRIBED", "SOFT_OPT_IN")
    assert status_of(consent["consents"], "SMS") == ("UNSUBSCRIBED", None)
    page = consent["history"]
    assert page["pageInfo"]["hasNextPage"] is True
    newest = [e["node"] for e in page["edges"]]
    assert [(n["channel"], n["toStatus"], n["source"]) for n in newest] == [
        ("SMS", "UNSUBSCRIBED", "MERCHANT"),
        ("EMAIL", "SUBSCRIBED", "API"),
    ]
    assert newest[0]["evidence"] == {"note": base["note"]}
    assert newest[0]["actor"].startswith("api_key:")
    assert newest[1]["lawfulBasis"] == "SOFT_OPT_IN"

    rest = await gql.run(
        CUSTOMER_CONSENT,
        {"id": gid(customer), "first": 2, "after": page["pageInfo"]["endCursor"]},
        **shop_a.reader,
    )
    older = [e["node"] for e in rest["customerConsent"]["history"]["edges"]]
    assert [(n["fromStatus"], n["toStatus"], n["source"]) for n in older] == [
        ("NEVER_SUBSCRIBED", "SUBSCRIBED", "CHECKOUT")
    ]
    assert rest["customerConsent"]["history"]["pageInfo"]["hasNextPage"] is False


async def test_merchant_update_refusals_are_user_errors(gql, shop_a, now):
    prospect = await make_customer(shop_a, "a-1")
    base = {"customerId": gid(prospect), "channel": "EMAIL", "note": "phone call"}
    cases = [
        ({"subscribed": True}, "INVALID", "lawfulBasis"),
        ({"subscribed": True, "lawfulBasis": "SOFT_OPT_IN"}, "SOFT_OPT_IN_NOT_ALLOWED", None),
        ({"subscribed": False, "note": "  "}, "INVALID", "note"),
        ({"subscribed": False, "source": "UNSUBSCRIBE_LINK"}, "INVALID", "source"),
        ({"subscribed": False, "customerId": "UmV3YXJkOjE="}, "INVALID_ID", "customerId"),
    ]
    for extra, code, field in cases:
        data = await gql.run(MERCHANT_UPDATE, {"input": {**base, **extra}}, **shop_a.merchant)
        (error,) = data["updateCustomerConsent"]["userErrors"]
        assert error["code"] == code, (extra, error)
        if field:
            assert error["field"] == ["input", field]
    assert await ConsentEvent.all().count() == 0


async def test_merchant_double_opt_in_leaves_email_pending(gql, shop_a, now):
    customer = await make_customer(shop_a, "a-1")
    data = await gql.run(
        MERCHANT_UPDATE,
        {
            "input": {
                "customerId": gid(customer),
                "channel": "EMAIL",
                "subscribed": True,
                "lawfulBasis": "CONSENT",
                "doubleOptIn": True,
                "note": "signed up in store",
            }
        },
        **shop_a.merchant,
    )
    assert data["updateCustomerConsent"]["consent"]["status"] == "PENDING"


async def test_guards(gql, shop_a, now):
    customer = await make_customer(shop_a, "a-1")
    update = {
        "input": {"customerId": gid(customer), "channel": "SMS", "subscribed": False, "note": "x"}
    }
    denied = [
        (MY, None, shop_a.merchant),
        (UPDATE, {"input": {"channel": "SMS", "subscribed": True}}, shop_a.merchant),
        (CUSTOMER_CONSENT, {"id": gid(customer)}, shop_a.shopper("a-1")),
        (MERCHANT_UPDATE, update, shop_a.reader),
        (MERCHANT_UPDATE, update, shop_a.shopper("a-1")),
        (MY, None, {}),
    ]
    for query, variables, headers in denied:
        body = (await gql.post(query, variables, **headers)).json()
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", (query, headers)
    assert await ConsentEvent.all().count() == 0


async def test_merchant_key_cannot_read_or_change_another_shops_consent(gql, shop_a, shop_b, now):
    b_customer = await make_customer(shop_b, "b-1")
    await gql.run(
        UPDATE, {"input": {"channel": "SMS", "subscribed": True}}, **shop_b.shopper("b-1")
    )

    read = await gql.run(CUSTOMER_CONSENT, {"id": gid(b_customer)}, **shop_a.merchant)
    assert read["customerConsent"] is None
    write = await gql.run(
        MERCHANT_UPDATE,
        {
            "input": {
                "customerId": gid(b_customer),
                "channel": "SMS",
                "subscribed": False,
                "note": "forged",
            }
        },
        **shop_a.merchant,
    )
    assert write["updateCustomerConsent"]["userErrors"][0]["code"] == "NOT_FOUND"
    own = await gql.run(CUSTOMER_CONSENT, {"id": gid(b_customer)}, **shop_b.reader)
    assert status_of(own["customerConsent"]["consents"], "SMS") == ("SUBSCRIBED", "CONSENT")
    assert len(own["customerConsent"]["history"]["edges"]) == 1


async def test_shopper_sees_and_changes_only_their_own_consent(gql, shop_a, shop_b, now):
    mine = await make_customer(shop_a, "a-1")
    theirs = await make_customer(shop_a, "a-2")
    same_id_other_shop = await make_customer(shop_b, "a-1")
    await gql.run(
        UPDATE, {"input": {"channel": "SMS", "subscribed": True}}, **shop_a.shopper("a-2")
    )

    await gql.run(
        UPDATE, {"input": {"channel": "SMS", "subscribed": False}}, **shop_a.shopper("a-1")
    )
    assert await ConsentEvent.filter(customer_id=mine.id).count() == 1
    assert await ConsentEvent.filter(customer_id=theirs.id).count() == 1
    assert await ConsentEvent.filter(customer_id=same_id_other_shop.id).count() == 0
    mine_view = (await gql.run(MY, **shop_a.shopper("a-1")))["myConsents"]
    assert status_of(mine_view, "SMS") == ("UNSUBSCRIBED", None)
    b_view = (await gql.run(MY, **shop_b.shopper("a-1")))["myConsents"]
    assert status_of(b_view, "SMS") == ("NEVER_SUBSCRIBED", None)
