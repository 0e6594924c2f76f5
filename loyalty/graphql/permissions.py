"""Field guards: merchants by API key scope, shoppers by customer token."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError
from strawberry.permission import BasePermission
from strawberry.types import Info


class PublicError(GraphQLError):
    """An error whose message is safe to show callers (never masked)."""


def _auth_failure(info: Info) -> str | None:
    return info.context.auth_error


class _Guard(BasePermission):
    error_class = PublicError
    error_extensions = {"code": "FORBIDDEN"}

    def deny(self, info: Info, message: str) -> bool:
        self.message = _auth_failure(info) or message
        return False


class MerchantRead(_Guard):
    message = "Requires a merchant API key with the read scope"

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        ctx = info.context
        if ctx.is_merchant and "read" in ctx.scopes:
            return True
        return self.deny(info, self.message)


class MerchantWrite(_Guard):
    message = "Requires a merchant API key with the write scope"

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        ctx = info.context
        if ctx.is_merchant and "write" in ctx.scopes:
            return True
        return self.deny(info, self.message)


class Shopper(_Guard):
    message = "Requires a customer token"

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        if info.context.is_shopper:
            return True
        return self.deny(info, self.message)


class Authenticated(_Guard):
    message = "Requires a merchant API key or a customer token"

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        ctx = info.context
        if ctx.is_shopper or (ctx.is_merchant and "read" in ctx.scopes):
            return True
        return self.deny(info, self.message)
