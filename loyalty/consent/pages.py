"""The HTTP edge of email consent: the confirmation link and the unsubscribe link.

Mounted by `loyalty.web`; the consent services never import this module.

- GET /consent/confirm?token=...   confirms a double opt-in, shows a small page
- GET /unsubscribe?token=...       shows a page with an unsubscribe button
- POST /unsubscribe?token=...      unsubscribes at once: RFC 8058 one-click (body
                                   `List-Unsubscribe=One-Click`) or the page's button

A bad, tampered, expired or superseded token gets a 400 page that says which.
"""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from loyalty.config import Settings
from loyalty.consent import links, service
from loyalty.errors import DomainError

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{title}</title>
<style>body {{ font-family: system-ui, sans-serif; max-width: 32rem; margin: 3rem auto }}</style>
</head><body>
<h1>{title}</h1>
{body}
</body></html>
"""


def _page(title: str, body: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(
        _PAGE.format(title=escape(title), body=body),
        status_code=status_code,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


def _refused(exc: DomainError) -> HTMLResponse:
    return _page("Link not valid", f"<p>{escape(exc.message)}</p>", 400)


def _evidence(request: Request, **extra: Any) -> dict[str, Any]:
    return {
        "ip": request.client.host if request.client else None,
        "user_agent": request.headers.get("user-agent"),
        **extra,
    }


def consent_routes(settings: Settings) -> list[Route]:
    secret = settings.secret_key

    async def confirm(request: Request) -> HTMLResponse:
        try:
            await service.confirm(
                request.query_params.get("token", ""),
                secret_key=secret,
                evidence=_evidence(request),
            )
        except DomainError as exc:
            return _refused(exc)
        return _page("Subscription confirmed", "<p>Thank you: you are now subscribed.</p>")

    async def unsubscribe_page(request: Request) -> HTMLResponse:
        token = request.query_params.get("token", "")
        try:
            claims = links.read_unsubscribe(secret, token)
        except DomainError as exc:
            return _refused(exc)
        what = "marketing" if claims.purpose.value == "marketing" else "transactional"
        action = escape(links.unsubscribe_url("", token), quote=True)
        return _page(
            "Unsubscribe",
            f"<p>Stop receiving {what} messages by {escape(claims.channel.value)}?</p>"
            f'<form method="post" action="{action}">'
            '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
            '<button type="submit">Unsubscribe</button></form>',
        )

    async def unsubscribe(request: Request) -> HTMLResponse:
        body = parse_qs((await request.body()).decode("utf-8", "replace"))
        token = request.query_params.get("token") or (body.get("token") or [""])[0]
        one_click = (body.get("List-Unsubscribe") or [""])[0] == "One-Click"
        try:
            await service.unsubscribe_by_token(
                token, secret_key=secret, evidence=_evidence(request, one_click=one_click)
            )
        except DomainError as exc:
            return _refused(exc)
        return _page("Unsubscribed", "<p>You have been unsubscribed. It takes effect at once.</p>")

    return [
        Route(links.CONFIRM_PATH, confirm, methods=["GET"]),
        Route(links.UNSUBSCRIBE_PATH, unsubscribe_page, methods=["GET"]),
        Route(links.UNSUBSCRIBE_PATH, unsubscribe, methods=["POST"]),
    ]
