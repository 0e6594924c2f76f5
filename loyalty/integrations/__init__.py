"""Shop integrations: signature checks and mappers from shop payloads to programme inputs.

Everything here is pure (no database, no HTTP) so webhook handlers, back-fill jobs and
replays of stored deliveries share one mapping.

Conventions shared by every mapper:

- Money is integer minor units of the shop's currency (`loyalty.integrations.money`).
- Amounts are taken *as the shop priced them*: when a shop's prices include tax
  (Shopify/Recharge `taxes_included`, WooCommerce `prices_include_tax`), `subtotal`,
  `discounts`, `shipping` and line prices include that tax and `tax` reports the tax
  they contain; otherwise they exclude it and `tax` is charged on top. So a shopper
  earns on the price they saw, which is how UK (VAT-inclusive) shops advertise.
- A payload we cannot map raises `PayloadError` naming the field; callers store the
  delivery for replay instead of dropping it.
"""
