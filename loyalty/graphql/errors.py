"""Turning domain refusals into `userErrors`, and global IDs into row ids."""

from __future__ import annotations

from strawberry import relay

from loyalty.errors import DomainError
from loyalty.graphql.types import UserError


def user_errors(exc: DomainError) -> list[UserError]:
    return [
        UserError(
            field=["input", exc.field] if exc.field else None, message=exc.message, code=exc.code
        )
    ]


def decode_id(gid: relay.GlobalID, type_name: str, field: str) -> int:
    """The row id inside a global ID, refusing IDs of another type."""
    if gid.type_name != type_name:
        raise DomainError("INVALID_ID", f"expected a {type_name} ID", field)
    try:
        return int(gid.node_id)
    except ValueError as exc:
        raise DomainError("INVALID_ID", f"malformed {type_name} ID", field) from exc
