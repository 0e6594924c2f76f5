"""WooCommerce REST API v3: creating and deleting a coupon.

Plain values in, an `httpx.Response` out; the caller decides what the answer means.
The consumer key and secret go only into HTTP basic auth (WooCommerce accepts it
over HTTPS), never into a repr, an error or a log line.
"""

from __future__ import annotations

from typing import Any

import httpx

#: WooCommerce's answer when a coupon with that code exists already.
CODE_EXISTS = "woocommerce_rest_coupon_code_already_exists"


def coupons_url(site_url: str) -> str:
    """`https://shop.example` -> its coupons endpoint."""
    return site_url.strip().rstrip("/") + "/wp-json/wc/v3/coupons"


async def create_coupon(
    http: httpx.AsyncClient,
    *,
    site_url: str,
    consumer_key: str,
    consumer_secret: str,
    coupon: dict[str, Any],
) -> httpx.Response:
    """POST /wp-json/wc/v3/coupons with `coupon` as the JSON body."""
    return await http.post(
        coupons_url(site_url), json=coupon, auth=httpx.BasicAuth(consumer_key, consumer_secret)
    )


async def delete_coupon(
    http: httpx.AsyncClient,
    *,
    site_url: str,
    consumer_key: str,
    consumer_secret: str,
    coupon_id: str,
) -> httpx.Response:
    """DELETE /wp-json/wc/v3/coupons/{id}?force=true (deleted for good, not trashed)."""
    return await http.delete(
        f"{coupons_url(site_url)}/{coupon_id}",
        params={"force": "true"},
        auth=httpx.BasicAuth(consumer_key, consumer_secret),
    )
