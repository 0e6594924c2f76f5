"""Push a redeemed voucher's code into the shop (Shopify or WooCommerce) as a discount.

`push_voucher` takes a PENDING voucher to LIVE when the shop accepts the code, raises
`RetryablePushError` when the shop may accept it later (429, 5xx, Shopify throttling,
no answer), and takes it to FAILED with its points given back when the shop never
will (other 4xx, Shopify `userErrors`, a customer the platform cannot be told about).
A voucher that is not PENDING is left alone, so a redelivered task does nothing.
The platform's id for the discount is kept on the voucher (`platform_discount_id`).

`withdraw_voucher` deletes that discount from the shop once the voucher is CANCELLED,
because its points are back and the code must stop working. A push that completes
after the voucher was cancelled stores the id and answers `WITHDRAW`, so its caller
sends the withdrawal. A discount the shop no longer has (404) counts as withdrawn.

Codes are random and unique per voucher, so a shop saying "that code exists" means an
earlier attempt got through (and we lost its answer): the voucher is LIVE, not FAILED.
The shopper learns of a failure from the voucher's FAILED status over GraphQL.
"""

from __future__ import annotations

import logging
from datetime import UTC, timedelta
from enum import StrEnum
from typing import Any, Final, Literal

import httpx
from tortoise.transactions import in_transaction

from loyalty import clock
from loyalty.channels._http import parse_retry_after
from loyalty.customers.models import Customer
from loyalty.integrations import shopify_admin, woocommerce_api
from loyalty.integrations.models import Integration, Platform
from loyalty.money import to_decimal_string
from loyalty.programme import rewards
from loyalty.programme.models import Reward, RewardKind, Voucher, VoucherStatus
from loyalty.shops.models import Shop

log = logging.getLogger(__name__)

#: Platforms that receive pushed codes, in the order they are preferred.
PUSH_PLATFORMS = (Platform.SHOPIFY, Platform.WOOCOMMERCE)
TIMEOUT = httpx.Timeout(15.0, connect=5.0)
ACTOR = "system:voucher_push"


class RetryablePushError(Exception):
    """The shop may accept the code later; `retry_after` is in seconds when it said."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentPushError(Exception):
    """The shop will never accept this code as asked; the message says why (no secrets)."""


#: `push_voucher`'s answer when it created the code of a voucher cancelled meanwhile:
#: the voucher is CANCELLED and its code must now be withdrawn from the shop.
WITHDRAW: Final = "withdraw"
PushResult = VoucherStatus | Literal["withdraw"]


async def push_voucher(voucher_id: int, *, http: httpx.AsyncClient | None = None) -> PushResult:
    """Create the voucher's code in its shop; the voucher's status afterwards, or `WITHDRAW`.

    `http` is a caller-owned client; without one a short-lived client is used.
    """
    voucher = await Voucher.get(id=voucher_id)  # DoesNotExist: nothing to push, ever
    if voucher.status != VoucherStatus.PENDING:
        return voucher.status
    integration = (
        await Integration.filter(shop_id=voucher.shop_id, platform__in=PUSH_PLATFORMS)
        .order_by("platform")  # "shopify" < "woocommerce"
        .first()
    )
    try:
        if integration is None:
            raise PermanentPushError("the shop has no Shopify or WooCommerce integration")
        if http is None:
            async with httpx.AsyncClient(timeout=TIMEOUT) as client:
                discount_id = await _push(client, integration, voucher)
        else:
            discount_id = await _push(http, integration, voucher)
    except PermanentPushError as exc:
        return await fail_voucher(voucher_id, str(exc))
    except httpx.TransportError as exc:
        kind = "timeout" if isinstance(exc, httpx.TimeoutException) else "connection error"
        raise RetryablePushError(f"{integration.platform}: {kind}") from exc
    return await _mark_live(voucher, discount_id)


async def fail_voucher(voucher_id: int, reason: str) -> VoucherStatus:
    """PENDING -> FAILED and the points given back, once; any other voucher is left alone."""
    async with in_transaction():
        moved = await Voucher.filter(id=voucher_id, status=VoucherStatus.PENDING).update(
            status=VoucherStatus.FAILED
        )
        if moved:
            voucher = await Voucher.get(id=voucher_id)
            await rewards.return_points(
                voucher,
                "failed",
                actor=ACTOR,
                reason=reason[:500],
                description=f"Voucher {voucher.code} could not be issued",
            )
    if moved:
        log.warning("voucher %s failed, points returned: %s", voucher_id, reason)
    voucher = await Voucher.get_or_none(id=voucher_id)
    return voucher.status if voucher else VoucherStatus.FAILED


async def _mark_live(voucher: Voucher, discount_id: str | None) -> PushResult:
    """PENDING -> LIVE with the platform's id, or, for a voucher cancelled while the
    request was in flight, the id stored and `WITHDRAW`: its code exists in the shop."""
    moved = await Voucher.filter(id=voucher.id, status=VoucherStatus.PENDING).update(
        status=VoucherStatus.LIVE, platform_discount_id=discount_id
    )
    if not moved and discount_id is not None:
        await Voucher.filter(id=voucher.id).update(platform_discount_id=discount_id)
    await voucher.refresh_from_db()
    if not moved:
        log.warning(
            "voucher %s pushed but now %s, its code is live in the shop", voucher.id, voucher.status
        )
        if needs_withdrawal(voucher):
            return WITHDRAW
    return voucher.status


async def _push(http: httpx.AsyncClient, integration: Integration, voucher: Voucher) -> str | None:
    """The platform's id for the created discount, None when the code existed already."""
    reward = await Reward.get(id=voucher.reward_id)
    customer = await Customer.get(id=voucher.customer_id)
    shop = await Shop.get(id=voucher.shop_id)
    if integration.platform == Platform.SHOPIFY:
        discount_id = await _push_shopify(
            http, integration, voucher, reward, customer, shop.currency
        )
    else:
        discount_id = await _push_woocommerce(
            http, integration, voucher, reward, customer, shop.currency
        )
    log.info("voucher %s pushed to %s", voucher.id, integration.platform)
    return discount_id


# --- Shopify -------------------------------------------------------------------------


def shopify_discount(
    voucher: Voucher, reward: Reward, customer_external_id: str, currency: str
) -> tuple[str, dict[str, Any]]:
    """(mutation name, its input) for the reward, limited to one use by this customer."""
    common: dict[str, Any] = {
        "title": f"Loyalty reward: {reward.name}",
        "code": voucher.code,
        "starts_at": clock.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "customer_gid": shopify_admin.gid("Customer", customer_external_id),
        "minimum_subtotal": (
            to_decimal_string(reward.minimum_spend, currency) if reward.minimum_spend else None
        ),
    }
    if reward.kind == RewardKind.FREE_SHIPPING:
        return shopify_admin.FREE_SHIPPING_CREATE, shopify_admin.free_shipping_code_discount(
            **common
        )
    items: dict[str, Any] = {"all": True}
    if reward.kind == RewardKind.FIXED_AMOUNT:
        amount = to_decimal_string(reward.amount or 0, currency)
        value: dict[str, Any] = {"discountAmount": {"amount": amount, "appliesOnEachItem": False}}
    elif reward.kind == RewardKind.PERCENTAGE:
        value = {"percentage": (reward.percentage or 0) / 100}
    else:  # FREE_PRODUCT
        value = {"percentage": 1.0}
        product = shopify_admin.gid("Product", reward.product_id or "")
        items = {"products": {"productsToAdd": [product]}}
    return shopify_admin.BASIC_CREATE, shopify_admin.basic_code_discount(
        value=value, items=items, **common
    )


async def _push_shopify(
    http: httpx.AsyncClient,
    integration: Integration,
    voucher: Voucher,
    reward: Reward,
    customer: Customer,
    currency: str,
) -> str | None:
    if not customer.external_id:
        raise PermanentPushError("shopify: the customer has no Shopify customer id")
    if reward.kind == RewardKind.FREE_PRODUCT and not reward.product_id:
        raise PermanentPushError("shopify: the reward has no product id")
    if not (integration.address and integration.api_token):
        raise PermanentPushError("shopify: the integration has no shop domain or access token")
    mutation, discount = shopify_discount(voucher, reward, customer.external_id, currency)
    response = await shopify_admin.create_code_discount(
        http,
        shop_domain=integration.address,
        access_token=integration.api_token,
        mutation=mutation,
        discount=discount,
    )
    _raise_for_status("shopify", response)
    body = _json(response)
    errors = body.get("errors") or []
    if errors:
        codes = {(e.get("extensions") or {}).get("code") for e in errors if isinstance(e, dict)}
        if codes & {"THROTTLED", "INTERNAL_SERVER_ERROR"}:
            raise RetryablePushError("shopify: throttled", _shopify_throttle_wait(body))
        raise PermanentPushError("shopify: " + "; ".join(_messages(errors)))
    payload = ((body.get("data") or {}).get(mutation)) or {}
    user_errors = payload.get("userErrors") or []
    if any(e.get("code") == "TAKEN" and "code" in (e.get("field") or []) for e in user_errors):
        log.info("voucher %s: code already in Shopify, an earlier push got through", voucher.id)
        return None
    if user_errors:
        raise PermanentPushError("shopify: " + "; ".join(_messages(user_errors)))
    node = payload.get("codeDiscountNode") or {}
    if not node.get("id"):
        raise PermanentPushError("shopify: no discount in the answer")
    log.info("voucher %s is Shopify discount %s", voucher.id, node["id"])
    return str(node["id"])


def _shopify_throttle_wait(body: dict[str, Any]) -> float | None:
    """Seconds until the leaky bucket holds the query's cost, from the cost extension."""
    cost = (body.get("extensions") or {}).get("cost") or {}
    status = cost.get("throttleStatus") or {}
    try:
        missing = float(cost["requestedQueryCost"]) - float(status["currentlyAvailable"])
        return max(1.0, missing / float(status["restoreRate"]))
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None


# --- WooCommerce ---------------------------------------------------------------------


def woocommerce_coupon(
    voucher: Voucher, reward: Reward, email: str, currency: str
) -> dict[str, Any]:
    """The coupon JSON for the reward: one use, by this customer's email only."""
    coupon: dict[str, Any] = {
        "code": voucher.code,
        "description": f"Loyalty reward: {reward.name}",
        "individual_use": True,
        "usage_limit": 1,
        "usage_limit_per_user": 1,
        "email_restrictions": [email],
    }
    if reward.kind == RewardKind.FIXED_AMOUNT:
        coupon |= {
            "discount_type": "fixed_cart",
            "amount": to_decimal_string(reward.amount or 0, currency),
        }
    elif reward.kind == RewardKind.PERCENTAGE:
        coupon |= {"discount_type": "percent", "amount": str(reward.percentage or 0)}
    elif reward.kind == RewardKind.FREE_SHIPPING:
        coupon |= {"discount_type": "fixed_cart", "amount": "0", "free_shipping": True}
    else:  # FREE_PRODUCT: 100% off one unit of that product
        coupon |= {
            "discount_type": "percent",
            "amount": "100",
            "product_ids": [int(reward.product_id or "")],
            "limit_usage_to_x_items": 1,
        }
    if reward.minimum_spend:
        coupon["minimum_amount"] = to_decimal_string(reward.minimum_spend, currency)
    return coupon


async def _push_woocommerce(
    http: httpx.AsyncClient,
    integration: Integration,
    voucher: Voucher,
    reward: Reward,
    customer: Customer,
    currency: str,
) -> str | None:
    if not customer.email:
        raise PermanentPushError("woocommerce: the customer has no email address")
    if reward.kind == RewardKind.FREE_PRODUCT and not (reward.product_id or "").isdigit():
        raise PermanentPushError("woocommerce: the reward's product id is not a WooCommerce id")
    if not (integration.address and integration.api_key and integration.api_secret):
        raise PermanentPushError("woocommerce: the integration has no site URL or API key")
    response = await woocommerce_api.create_coupon(
        http,
        site_url=integration.address,
        consumer_key=integration.api_key,
        consumer_secret=integration.api_secret,
        coupon=woocommerce_coupon(voucher, reward, customer.email, currency),
    )
    if response.status_code == 400 and _json(response).get("code") == woocommerce_api.CODE_EXISTS:
        log.info("voucher %s: code already in WooCommerce, an earlier push got through", voucher.id)
        return None
    _raise_for_status("woocommerce", response)
    coupon_id = _json(response).get("id")
    if isinstance(coupon_id, bool) or not isinstance(coupon_id, int):
        # Created all the same (a 2xx): live, but nothing to withdraw it by later.
        log.warning("voucher %s: WooCommerce answered without a coupon id", voucher.id)
        return None
    log.info("voucher %s is WooCommerce coupon %s", voucher.id, coupon_id)
    return str(coupon_id)


# --- withdrawal ----------------------------------------------------------------------


class Withdrawal(StrEnum):
    """What `withdraw_voucher` did."""

    DELETED = "deleted"  # the shop deleted the discount
    ALREADY_GONE = "already_gone"  # the shop no longer had it (404): done all the same
    NOT_NEEDED = "not_needed"  # not cancelled, or no discount of it in the shop
    REFUSED = "refused"  # the shop will not delete it: the code may still work


def needs_withdrawal(voucher: Voucher) -> bool:
    """A cancelled voucher (its points are back) whose code is still a discount in the shop."""
    return voucher.status == VoucherStatus.CANCELLED and bool(voucher.platform_discount_id)


async def withdraw_voucher(voucher_id: int, *, http: httpx.AsyncClient | None = None) -> Withdrawal:
    """Delete a cancelled voucher's discount from its shop, then forget the platform's id.

    Raises `RetryablePushError` when the shop may delete it later (429, 5xx, Shopify
    throttling, no answer). Repeats are harmless: a withdrawn voucher has no id left,
    and a discount the shop no longer has counts as withdrawn.
    """
    voucher = await Voucher.get_or_none(id=voucher_id)
    if voucher is None or not needs_withdrawal(voucher):
        return Withdrawal.NOT_NEEDED
    discount_id = voucher.platform_discount_id or ""
    platform = Platform.SHOPIFY if discount_id.startswith("gid://") else Platform.WOOCOMMERCE
    integration = await Integration.filter(shop_id=voucher.shop_id, platform=platform).first()
    try:
        if integration is None:
            raise PermanentPushError(f"{platform}: the shop no longer has this integration")
        if http is None:
            async with httpx.AsyncClient(timeout=TIMEOUT) as client:
                outcome = await _withdraw(client, integration, discount_id)
        else:
            outcome = await _withdraw(http, integration, discount_id)
    except PermanentPushError as exc:
        log.error(
            "voucher %s: discount %s not withdrawn, its code may still work: %s",
            voucher_id,
            discount_id,
            exc,
        )
        return Withdrawal.REFUSED
    except httpx.TransportError as exc:
        kind = "timeout" if isinstance(exc, httpx.TimeoutException) else "connection error"
        raise RetryablePushError(f"{platform}: {kind}") from exc
    await Voucher.filter(id=voucher_id, platform_discount_id=discount_id).update(
        platform_discount_id=None
    )
    log.info("voucher %s: %s discount %s %s", voucher_id, platform, discount_id, outcome)
    return outcome


async def _withdraw(
    http: httpx.AsyncClient, integration: Integration, discount_id: str
) -> Withdrawal:
    if integration.platform == Platform.SHOPIFY:
        if not (integration.address and integration.api_token):
            raise PermanentPushError("shopify: the integration has no shop domain or access token")
        response = await shopify_admin.delete_code_discount(
            http,
            shop_domain=integration.address,
            access_token=integration.api_token,
            discount_id=discount_id,
        )
        return _shopify_deleted(response)
    if not discount_id.isdigit():
        raise PermanentPushError("woocommerce: the coupon id is not a WooCommerce id")
    if not (integration.address and integration.api_key and integration.api_secret):
        raise PermanentPushError("woocommerce: the integration has no site URL or API key")
    response = await woocommerce_api.delete_coupon(
        http,
        site_url=integration.address,
        consumer_key=integration.api_key,
        consumer_secret=integration.api_secret,
        coupon_id=discount_id,
    )
    if response.status_code == 404:
        return Withdrawal.ALREADY_GONE
    _raise_for_status("woocommerce", response)
    return Withdrawal.DELETED


def _shopify_deleted(response: httpx.Response) -> Withdrawal:
    if response.status_code == 404:
        return Withdrawal.ALREADY_GONE
    _raise_for_status("shopify", response)
    body = _json(response)
    errors = body.get("errors") or []
    if errors:
        codes = {(e.get("extensions") or {}).get("code") for e in errors if isinstance(e, dict)}
        if codes & {"THROTTLED", "INTERNAL_SERVER_ERROR"}:
            raise RetryablePushError("shopify: throttled", _shopify_throttle_wait(body))
        raise PermanentPushError("shopify: " + "; ".join(_messages(errors)))
    payload = ((body.get("data") or {}).get(shopify_admin.DELETE)) or {}
    user_errors = payload.get("userErrors") or []
    # The id is the only input: Shopify objecting to it means it has no such discount.
    if user_errors and all("id" in (e.get("field") or []) for e in user_errors):
        return Withdrawal.ALREADY_GONE
    if user_errors:
        raise PermanentPushError("shopify: " + "; ".join(_messages(user_errors)))
    if not payload.get("deletedCodeDiscountId"):
        raise PermanentPushError("shopify: no deleted discount in the answer")
    return Withdrawal.DELETED


# --- shared --------------------------------------------------------------------------


def _raise_for_status(platform: str, response: httpx.Response) -> None:
    if response.is_success:
        return
    status = response.status_code
    if status in (408, 429) or status >= 500:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        raise RetryablePushError(f"{platform}: HTTP {status}", retry_after)
    detail = _json(response).get("message") or response.reason_phrase
    raise PermanentPushError(f"{platform}: HTTP {status} {detail}".strip())


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _messages(errors: list[Any]) -> list[str]:
    return [str(e.get("message")) for e in errors if isinstance(e, dict) and e.get("message")]


async def stalled(older_than: timedelta) -> list[int]:
    """Vouchers still PENDING long after every retry would have ended: push them again."""
    cutoff = clock.now() - older_than
    return await Voucher.filter(status=VoucherStatus.PENDING, created_at__lt=cutoff).values_list(
        "id", flat=True
    )
