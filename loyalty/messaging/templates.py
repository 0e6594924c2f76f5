"""Merchant-editable message templates: Jinja2 in the sandbox, with personalisation.

Rules, in one place:

- **Sandboxed.** Templates run in `jinja2.sandbox.SandboxedEnvironment`, so a template
  cannot reach Python internals (`''.__class__`, `__globals__` and the like raise
  `TemplateError` with code `TEMPLATE_UNSAFE`). HTML bodies are rendered with
  autoescape on, text bodies (email text part, SMS, WhatsApp) with it off.
- **Unknown variables are errors**, never blanks: rendering uses `StrictUndefined`, and
  `validate_template` (run when a merchant saves) names the first unknown variable
  and its line, as it names the line of a syntax error.
- **Personalisation** (`personalisation(customer)`): `first_name` ("" when unknown),
  `last_name`, `shop_name`, `points_balance` (the confirmed balance), `tier` (the tier's
  name, "" without one), `points_to_next_reward` (the cheapest active reward's cost
  minus the balance, floored at 0, None when the shop has no active reward),
  `next_reward` (that reward's name or None) and `voucher_code` (None unless given).
  None prints as nothing, so `{% if voucher_code %}` and plain use both read well.
  `unsubscribe_url` is added for email when the message is queued.
- **Unsafe access is refused at save time** (`refuse_unsafe`): an attribute or item
  name starting with an underscore (`''.__class__`, `|attr('__globals__')`...) is
  refused with its line, and so is whatever the sandbox refuses when the template is
  rendered with `sample_values`, rather than saved and refused at every send.
- **SMS length** is shown before sending with `preview_sms` (GSM-7: 160 characters in
  one segment, 153 per part; UCS-2: 70, 67 per part); `sample_sms` measures a saved
  template with `sample_values` (the real length depends on the customer).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, meta, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from loyalty.channels.segments import SmsLength, sms_length
from loyalty.customers.models import Customer
from loyalty.errors import DomainError
from loyalty.programme.models import Reward, Tier
from loyalty.shops.models import Shop

#: Every name a template may use.
VARIABLES = frozenset(
    {
        "first_name",
        "last_name",
        "shop_name",
        "points_balance",
        "tier",
        "points_to_next_reward",
        "next_reward",
        "voucher_code",
        "unsubscribe_url",
    }
)


def _blank_none(value: Any) -> Any:
    """A value that is not there (no voucher, no reward) prints as nothing, not "None"."""
    return "" if value is None else value


_TEXT = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, finalize=_blank_none)
_HTML = SandboxedEnvironment(undefined=StrictUndefined, autoescape=True, finalize=_blank_none)


class TemplateError(DomainError):
    """A template that cannot be saved or rendered; `line` is 1-based when known."""

    def __init__(self, code: str, message: str, field: str | None = None, line: int | None = None):
        super().__init__(code, message, field)
        self.line = line


def _env(html: bool) -> SandboxedEnvironment:
    return _HTML if html else _TEXT


def _unsafe_name(node: nodes.Node) -> str | None:
    if isinstance(node, nodes.Getattr):
        return node.attr
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        return node.arg.value if isinstance(node.arg.value, str) else None
    if isinstance(node, nodes.Filter) and node.name == "attr" and node.args:
        arg = node.args[0]
        return arg.value if isinstance(arg, nodes.Const) and isinstance(arg.value, str) else None
    return None


def _first_use(ast: nodes.Template, name: str) -> int | None:
    lines = [n.lineno for n in ast.find_all(nodes.Name) if n.name == name and n.ctx == "load"]
    return min(lines) if lines else None


def validate_template(
    source: str,
    *,
    field: str = "body",
    html: bool = False,
    allowed: frozenset[str] | set[str] = VARIABLES,
) -> None:
    """Refuse a template with a syntax error or an unknown variable, naming its line."""
    try:
        ast = _env(html).parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateError(
            "TEMPLATE_SYNTAX",
            f"{field}, line {exc.lineno}: {exc.message}",
            field,
            line=exc.lineno,
        ) from exc
    unknown = sorted(meta.find_undeclared_variables(ast) - set(allowed))
    if unknown:
        name = unknown[0]
        line = _first_use(ast, name)
        where = f"line {line}: " if line else ""
        raise TemplateError(
            "TEMPLATE_UNKNOWN_VARIABLE",
            f"{field}, {where}unknown variable {name!r} (known: {', '.join(sorted(allowed))})",
            field,
            line=line,
        )


def uses_variable(source: str, name: str) -> bool:
    """Whether `source` reads the variable `name` (False when it does not parse)."""
    try:
        return name in meta.find_undeclared_variables(_TEXT.parse(source))
    except TemplateSyntaxError:
        return False


def refuse_unsafe(
    source: str, *, field: str, sample: Mapping[str, Any], html: bool = False
) -> None:
    """Refuse a template that reaches for Python internals, naming its line.

    Attribute or item names starting with an underscore never render: say so now. Then
    render with `sample` values: what the sandbox refuses is refused now too. Syntax
    errors and unknown variables are left to `validate_template`.
    """
    try:
        ast = _env(html).parse(source)
    except TemplateSyntaxError:
        return  # validate_template reports it
    for node in ast.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter)):
        name = _unsafe_name(node)
        if name is not None and name.startswith("_"):
            raise TemplateError(
                "TEMPLATE_UNSAFE",
                f"{field}, line {node.lineno}: access to {name!r} is not allowed",
                field,
                line=node.lineno,
            )
    try:
        render(source, sample, html=html)
    except TemplateError as exc:
        if exc.code == "TEMPLATE_UNSAFE":
            raise TemplateError(exc.code, f"{field}: {exc.message}", field) from exc


def render(source: str, context: Mapping[str, Any], *, html: bool = False) -> str:
    """Render merchant text in the sandbox; unknown names and unsafe access are errors."""
    try:
        return _env(html).from_string(source).render(dict(context))
    except SecurityError as exc:
        raise TemplateError("TEMPLATE_UNSAFE", f"template refused: {exc}") from exc
    except UndefinedError as exc:
        raise TemplateError("TEMPLATE_UNKNOWN_VARIABLE", f"template: {exc.message}") from exc
    except TemplateSyntaxError as exc:
        raise TemplateError(
            "TEMPLATE_SYNTAX", f"line {exc.lineno}: {exc.message}", line=exc.lineno
        ) from exc
    except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
        raise TemplateError("TEMPLATE_ERROR", f"template failed: {exc}") from exc


async def shop_name_of(shop_id: int) -> str:
    """The shop's name, as `{{ shop_name }}` prints it ("" when there is no such shop)."""
    names = await Shop.filter(id=shop_id).values_list("name", flat=True)
    return names[0] if names else ""


def sample_values(shop_name: str) -> dict[str, Any]:
    """Stand-in personalisation for measuring and trying out a template."""
    return {
        "first_name": "Alex",
        "last_name": "Taylor",
        "shop_name": shop_name,
        "points_balance": 1250,
        "tier": "Gold",
        "points_to_next_reward": 250,
        "next_reward": "£5 off",
        "voucher_code": "SAVE-AB12CD",
        "unsubscribe_url": "https://example.com/unsubscribe?token=sample",
        "confirmation_url": "https://example.com/consent/confirm?token=sample",
    }


async def personalisation(customer: Customer, *, voucher_code: str | None = None) -> dict[str, Any]:
    """The values every template may use for `customer` (see the module docstring)."""
    tier_name = ""
    if customer.tier_id is not None:
        tier = await Tier.get_or_none(id=customer.tier_id, shop_id=customer.shop_id)
        tier_name = tier.name if tier else ""
    cheapest = (
        await Reward.filter(shop_id=customer.shop_id, archived=False)
        .order_by("points_cost", "id")
        .first()
    )
    balance = customer.points_balance
    return {
        "first_name": customer.first_name or "",
        "last_name": customer.last_name or "",
        "shop_name": await shop_name_of(customer.shop_id),
        "points_balance": balance,
        "tier": tier_name,
        "points_to_next_reward": max(0, cheapest.points_cost - balance) if cheapest else None,
        "next_reward": cheapest.name if cheapest else None,
        "voucher_code": voucher_code,
    }


@dataclass(frozen=True)
class SmsPreview:
    """What the editor shows under an SMS: its encoding, length and segments."""

    encoding: str
    characters: int
    units: int
    segments: int
    per_segment: int

    @classmethod
    def of(cls, length: SmsLength) -> SmsPreview:
        single, multi = (160, 153) if length.encoding == "GSM-7" else (70, 67)
        return cls(
            encoding=length.encoding,
            characters=length.characters,
            units=length.units,
            segments=length.segments,
            per_segment=single if length.segments == 1 else multi,
        )


def preview_sms(text: str) -> SmsPreview:
    """Segments of an SMS text as it will be sent (render the template first)."""
    return SmsPreview.of(sms_length(text))


def sample_sms(body: str, shop_name: str) -> SmsPreview:
    """An SMS template's length, rendered with `sample_values`; a template that uses a
    flow's own fields is measured on its source."""
    try:
        text = render(body, sample_values(shop_name))
    except TemplateError:
        text = body
    return preview_sms(text)
