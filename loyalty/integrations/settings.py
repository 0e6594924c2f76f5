"""Merchant-managed platform connections; secrets can be set or replaced, never read back."""

from __future__ import annotations

from typing import Any

from loyalty.errors import DomainError
from loyalty.integrations.models import Integration, Platform

SECRET_FIELDS = ("webhook_secret", "api_token", "api_key", "api_secret")


async def configure(shop_id: int, platform: Platform, changes: dict[str, Any]) -> Integration:
    """Create or update one platform connection; None leaves a value as it is."""
    changes = {k: v.strip() for k, v in changes.items() if v is not None}
    address = changes.get("address")
    if address is not None:
        if platform == Platform.SHOPIFY and not address.endswith(".myshopify.com"):
            raise DomainError(
                "INVALID", "a Shopify address is the shop's *.myshopify.com domain", "address"
            )
        if platform == Platform.WOOCOMMERCE and not address.startswith("https://"):
            raise DomainError("INVALID", "a WooCommerce site URL must use https://", "address")
        changes["address"] = address.removesuffix("/")
    integration, _ = await Integration.get_or_create(shop_id=shop_id, platform=platform)
    integration.update_from_dict(changes)
    await integration.save()
    return integration
