"""Rows of a CSV or JSON-lines file, each with the file line it starts on."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

FORMATS = ("csv", "jsonl")
_EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}


class ImportFileError(Exception):
    """The file as a whole cannot be read (missing, unknown format, no header, bad bytes)."""


@dataclass(frozen=True)
class Row:
    """One record: `data` with lower-cased, trimmed keys, or `error` when it is unreadable."""

    line: int
    data: dict[str, Any]
    error: str | None = None


def detect_format(path: Path, fmt: str | None = None) -> str:
    if fmt is not None:
        if fmt not in FORMATS:
            raise ImportFileError(f"unknown format {fmt!r} (use one of: {', '.join(FORMATS)})")
        return fmt
    found = _EXTENSIONS.get(path.suffix.lower())
    if found is None:
        raise ImportFileError(
            f"cannot tell the format of {path.name} from its extension "
            "(.csv, .jsonl, .ndjson or .json); pass --format"
        )
    return found


def header_key(name: str) -> str:
    """'Points Balance' / 'points-balance' / ' points_balance ' -> 'points_balance'."""
    return "_".join(name.strip().lower().replace("-", " ").replace("_", " ").split())


def read_rows(path: Path, fmt: str | None = None) -> Iterator[Row]:
    """Every record of the file in order. CSV: the header is line 1, a row's line is the
    physical line it starts on (quoted fields may span lines); blank lines are skipped."""
    kind = detect_format(path, fmt)
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            if kind == "csv":
                yield from _csv_rows(handle)
            else:
                yield from _jsonl_rows(handle)
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"{path.name} is not UTF-8 text ({exc.reason})") from exc
    except OSError as exc:
        raise ImportFileError(f"cannot read {path}: {exc.strerror or exc}") from exc


def count_rows(path: Path, fmt: str | None = None) -> int:
    """How many records a full read yields (a fast first pass for the progress bar)."""
    return sum(1 for _ in read_rows(path, fmt))


def _csv_rows(handle: Any) -> Iterator[Row]:
    reader = csv.reader(handle)
    try:
        header = next(reader)
    except StopIteration:
        raise ImportFileError("the file is empty (a CSV needs a header line)") from None
    except csv.Error as exc:
        raise ImportFileError(f"line 1: {exc}") from exc
    keys = [header_key(name) for name in header]
    if not any(keys):
        raise ImportFileError("line 1: the header names no columns")
    while True:
        start = reader.line_num + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            # The csv module cannot resynchronise after a broken record: stop here, loudly.
            raise ImportFileError(f"line {start}: {exc}") from exc
        if not values or all(not v.strip() for v in values):
            continue
        if len(values) > len(keys):
            yield Row(start, {}, f"{len(values)} fields but the header has {len(keys)}")
            continue
        data = {k: v.strip() for k, v in zip(keys, values, strict=False) if k}
        yield Row(start, data)


def _jsonl_rows(handle: Any) -> Iterator[Row]:
    for number, text in enumerate(handle, start=1):
        if not text.strip():
            continue
        try:
            value = json.loads(text, parse_float=Decimal)
        except json.JSONDecodeError as exc:
            yield Row(number, {}, f"not valid JSON ({exc.msg})")
            continue
        if not isinstance(value, dict):
            hint = " (JSON lines: one object per line, not an array)" if number == 1 else ""
            yield Row(number, {}, f"expected a JSON object{hint}")
            continue
        data = {
            header_key(str(k)): v.strip() if isinstance(v, str) else v for k, v in value.items()
        }
        yield Row(number, data)
