"""Relay connections over Tortoise querysets, with keyset cursors on the primary key."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any, TypeVar

from strawberry import relay
from tortoise.queryset import QuerySet

from loyalty.graphql.permissions import PublicError

N = TypeVar("N")
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20


def encode_cursor(pk: int) -> str:
    return base64.urlsafe_b64encode(f"pk:{pk}".encode()).decode()


def decode_cursor(cursor: str) -> int:
    try:
        kind, _, value = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if kind != "pk":
            raise ValueError(kind)
        return int(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PublicError("Invalid cursor", extensions={"code": "INVALID_CURSOR"}) from exc


async def paginate(
    queryset: QuerySet[Any],
    *,
    first: int | None,
    after: str | None,
    to_node: Callable[[Any], N],
    newest_first: bool = False,
) -> relay.Connection[N]:
    """One page (at most MAX_PAGE_SIZE) plus whether another follows; one query."""
    size = DEFAULT_PAGE_SIZE if first is None else first
    if not 0 < size <= MAX_PAGE_SIZE:
        raise PublicError(
            f"first must be between 1 and {MAX_PAGE_SIZE}",
            extensions={"code": "PAGE_SIZE"},
        )
    if after is not None:
        pk = decode_cursor(after)
        queryset = queryset.filter(id__lt=pk) if newest_first else queryset.filter(id__gt=pk)
    rows = await queryset.order_by("-id" if newest_first else "id").limit(size + 1)
    page = rows[:size]
    edges = [relay.Edge(node=to_node(row), cursor=encode_cursor(row.id)) for row in page]
    return relay.Connection(
        edges=edges,
        page_info=relay.PageInfo(
            has_next_page=len(rows) > size,
            has_previous_page=after is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
    )
