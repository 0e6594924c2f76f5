"""Expected failures of domain rules, reported to callers as user errors."""

from __future__ import annotations


class DomainError(Exception):
    """A rule refused the request; `code` is stable, `message` is for people."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


class NotFound(DomainError):
    def __init__(self, what: str, field: str | None = None) -> None:
        super().__init__("NOT_FOUND", f"{what} not found", field)
