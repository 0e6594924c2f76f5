"""Relay connections over Tortoise querysets, with keyset cursors on the primary key.

Fetching and building are split so that a DataLoader can fetch the pages of many
parents in one query (`fetch_pages`) and still build each Connection here
(`build_connection`), exactly as `paginate` does for a single queryset.
"""

from __future__ import annotations

import base64
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from strawberry import relay
from tortoise.models import Model
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
        pk = int(value)
        if not 0 < pk < 2**63:
            raise ValueError(value)
        return pk
    except (ValueError, UnicodeDecodeError) as exc:
        raise PublicError("Invalid cursor", extensions={"code": "INVALID_CURSOR"}) from exc


@dataclass(frozen=True)
class PageRequest:
    """A validated `first`/`after`: the page size and the primary key to start after."""

    size: int
    after: str | None
    after_pk: int | None

    @classmethod
    def of(cls, first: int | None, after: str | None) -> PageRequest:
        size = DEFAULT_PAGE_SIZE if first is None else first
        if not 0 < size <= MAX_PAGE_SIZE:
            raise PublicError(
                f"first must be between 1 and {MAX_PAGE_SIZE}",
                extensions={"code": "PAGE_SIZE"},
            )
        return cls(size=size, after=after, after_pk=None if after is None else decode_cursor(after))


def build_connection(
    rows: Sequence[Any], page: PageRequest, to_node: Callable[[Any], N]
) -> relay.Connection[N]:
    """The Connection for `rows`: at most `page.size + 1` rows, in page order."""
    edges = [
        relay.Edge(node=to_node(row), cursor=encode_cursor(row.id)) for row in rows[: page.size]
    ]
    return relay.Connection(
        edges=edges,
        page_info=relay.PageInfo(
            has_next_page=len(rows) > page.size,
            has_previous_page=page.after is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
    )


async def paginate(
    queryset: QuerySet[Any],
    *,
    first: int | None,
    after: str | None,
    to_node: Callable[[Any], N],
    newest_first: bool = False,
) -> relay.Connection[N]:
    """One page (at most MAX_PAGE_SIZE) plus whether another follows; one query."""
    page = PageRequest.of(first, after)
    if page.after_pk is not None:
        pk = page.after_pk
        queryset = queryset.filter(id__lt=pk) if newest_first else queryset.filter(id__gt=pk)
    rows = await queryset.order_by("-id" if newest_first else "id").limit(page.size + 1)
    return build_connection(rows, page, to_node)


async def fetch_pages(
    model: type[Model], key: str, parents: Iterable[int], page: PageRequest
) -> dict[int, list[Any]]:
    """The rows of `page` (plus one, to tell whether more follow) for each parent, newest first.

    One query for all parents: rows are numbered per parent with a window function
    (SQLite >= 3.25, PostgreSQL) and only the first `page.size + 1` are kept. Every
    value written into the SQL is an int, so nothing user-supplied reaches it as text.
    """
    ids = sorted({int(p) for p in parents})
    grouped: dict[int, list[Any]] = defaultdict(list)
    if not ids:
        return grouped
    table = model._meta.db_table
    column = model._meta.fields_db_projection[key]
    where = f'"{column}" IN ({", ".join(str(i) for i in ids)})'
    if page.after_pk is not None:
        where += f' AND "id" < {int(page.after_pk)}'
    sql = (
        f'SELECT * FROM (SELECT "{table}".*, ROW_NUMBER() OVER '
        f'(PARTITION BY "{column}" ORDER BY "id" DESC) AS "page_row" '
        f'FROM "{table}" WHERE {where}) AS "ranked" '
        f'WHERE "page_row" <= {int(page.size) + 1} ORDER BY "{column}", "id" DESC'
    )
    for row in await model.raw(sql):
        grouped[getattr(row, key)].append(row)
    return grouped
