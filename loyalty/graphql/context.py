"""Who is calling: a merchant API key, a shopper token, or nobody."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from strawberry.dataloader import DataLoader

from loyalty.config import Settings
from loyalty.customers.models import Customer
from loyalty.graphql.dataloaders import Loaders
from loyalty.shops.models import Shop
from loyalty.shops.service import (
    KEY_PREFIX,
    AuthError,
    authenticate_api_key,
    authenticate_customer_token,
)


@dataclass
class Context:
    """Per-request state: the caller's shop and role, and one set of DataLoaders."""

    request: Request
    response: Any
    settings: Settings
    shop: Shop | None = None
    scopes: frozenset[str] = frozenset()
    api_key_id: int | None = None
    customer_external_id: str | None = None
    auth_error: str | None = None
    loaders: Loaders = field(default_factory=Loaders)
    _customer: Customer | None = None

    @property
    def shop_id(self) -> int:
        assert self.shop is not None, "resolver ran without a permission guard"
        return self.shop.id

    @property
    def is_merchant(self) -> bool:
        return self.api_key_id is not None

    @property
    def is_shopper(self) -> bool:
        return self.customer_external_id is not None

    @property
    def actor(self) -> str:
        return f"api_key:{self.api_key_id}" if self.is_merchant else "shopper"

    async def shopper(self) -> Customer | None:
        """The shopper's profile, or None if the shop has not synced them yet."""
        if self._customer is None and self.customer_external_id is not None:
            self._customer = await Customer.get_or_none(
                shop_id=self.shop_id, external_id=self.customer_external_id
            )
        return self._customer


def _credential(request: Request) -> tuple[str, str] | None:
    api_key = request.headers.get("x-api-key")
    if api_key:
        return "key", api_key.strip()
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    value = value.strip()
    return ("key", value) if value.startswith(KEY_PREFIX) else ("token", value)


async def build_context(request: Request, response: Any, settings: Settings) -> Context:
    ctx = Context(request=request, response=response, settings=settings)
    credential = _credential(request)
    if credential is None:
        return ctx
    kind, value = credential
    try:
        if kind == "key":
            key = await authenticate_api_key(value)
            ctx.shop, ctx.scopes, ctx.api_key_id = key.shop, frozenset(key.scopes), key.id
        else:
            ctx.shop, ctx.customer_external_id = await authenticate_customer_token(value)
    except AuthError as exc:
        ctx.auth_error = str(exc)
    return ctx


__all__ = ["Context", "build_context", "DataLoader"]
