"""Shopify Admin GraphQL API: the requests that create and delete a shopper's discount code.

Plain values in, an `httpx.Response` out; deciding what an answer means (retry,
give up, done) is the caller's job. The access token goes only into the
`X-Shopify-Access-Token` header, never into a repr, an error or a log line.
"""

from __future__ import annotations

from typing import Any

import httpx

#: The one Admin API version every call uses (stable releases are supported for a year).
API_VERSION = "2026-10"

BASIC_CREATE = "discountCodeBasicCreate"
FREE_SHIPPING_CREATE = "discountCodeFreeShippingCreate"

_RESULT = "codeDiscountNode { id } userErrors { field code message }"

MUTATIONS = {
    BASIC_CREATE: (
        "mutation discountCodeBasicCreate($basicCodeDiscount: DiscountCodeBasicInput!) "
        "{ discountCodeBasicCreate(basicCodeDiscount: $basicCodeDiscount) { " + _RESULT + " } }"
    ),
    FREE_SHIPPING_CREATE: (
        "mutation discountCodeFreeShippingCreate("
        "$freeShippingCodeDiscount: DiscountCodeFreeShippingInput!) "
        "{ discountCodeFreeShippingCreate(freeShippingCodeDiscount: $freeShippingCodeDiscount) "
        "{ " + _RESULT + " } }"
    ),
}
VARIABLE = {BASIC_CREATE: "basicCodeDiscount", FREE_SHIPPING_CREATE: "freeShippingCodeDiscount"}

DELETE = "discountCodeDelete"
DELETE_MUTATION = (
    "mutation discountCodeDelete($id: ID!) { discountCodeDelete(id: $id) "
    "{ deletedCodeDiscountId userErrors { field code message } } }"
)


def graphql_url(shop_domain: str) -> str:
    """`example.myshopify.com` (or with a scheme or trailing slash) -> the GraphQL endpoint."""
    domain = shop_domain.strip().removeprefix("https://").removeprefix("http://").strip("/")
    return f"https://{domain}/admin/api/{API_VERSION}/graphql.json"


def gid(resource: str, identifier: str) -> str:
    """A Shopify global id from a numeric id; an id that is already a GID is kept."""
    identifier = identifier.strip()
    if identifier.startswith("gid://"):
        return identifier
    return f"gid://shopify/{resource}/{identifier}"


def _common(
    *, title: str, code: str, starts_at: str, customer_gid: str, minimum_subtotal: str | None
) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "title": title,
        "code": code,
        "startsAt": starts_at,
        "context": {"customers": {"add": [customer_gid]}},
        "appliesOncePerCustomer": True,
        "usageLimit": 1,
    }
    if minimum_subtotal is not None:
        fields["minimumRequirement"] = {
            "subtotal": {"greaterThanOrEqualToSubtotal": minimum_subtotal}
        }
    return fields


def basic_code_discount(
    *,
    title: str,
    code: str,
    starts_at: str,
    customer_gid: str,
    value: dict[str, Any],
    items: dict[str, Any],
    minimum_subtotal: str | None = None,
) -> dict[str, Any]:
    """`DiscountCodeBasicInput`: `value` is `{"discountAmount": {...}}` or `{"percentage": f}`."""
    fields = _common(
        title=title,
        code=code,
        starts_at=starts_at,
        customer_gid=customer_gid,
        minimum_subtotal=minimum_subtotal,
    )
    fields["customerGets"] = {"value": value, "items": items}
    return fields


def free_shipping_code_discount(
    *,
    title: str,
    code: str,
    starts_at: str,
    customer_gid: str,
    minimum_subtotal: str | None = None,
) -> dict[str, Any]:
    """`DiscountCodeFreeShippingInput` for every destination."""
    fields = _common(
        title=title,
        code=code,
        starts_at=starts_at,
        customer_gid=customer_gid,
        minimum_subtotal=minimum_subtotal,
    )
    fields["destination"] = {"all": True}
    return fields


async def create_code_discount(
    http: httpx.AsyncClient,
    *,
    shop_domain: str,
    access_token: str,
    mutation: str,
    discount: dict[str, Any],
) -> httpx.Response:
    """POST one discount-creating mutation (`BASIC_CREATE` or `FREE_SHIPPING_CREATE`)."""
    return await http.post(
        graphql_url(shop_domain),
        json={"query": MUTATIONS[mutation], "variables": {VARIABLE[mutation]: discount}},
        headers={"X-Shopify-Access-Token": access_token},
    )


async def delete_code_discount(
    http: httpx.AsyncClient, *, shop_domain: str, access_token: str, discount_id: str
) -> httpx.Response:
    """POST `discountCodeDelete` for a discount node GID (from `codeDiscountNode { id }`)."""
    return await http.post(
        graphql_url(shop_domain),
        json={"query": DELETE_MUTATION, "variables": {"id": discount_id}},
        headers={"X-Shopify-Access-Token": access_token},
    )
