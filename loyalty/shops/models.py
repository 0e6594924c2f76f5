"""Tenants and their credentials."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class Shop(Model):
    """The tenant: every other row belongs to exactly one shop."""

    id = fields.IntField(primary_key=True)
    public_id = fields.CharField(max_length=32, unique=True)
    name = fields.CharField(max_length=200)
    currency = fields.CharField(max_length=3, default="GBP")
    storefront_secret = fields.CharField(max_length=128)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "shops"


class ApiKey(Model):
    """A merchant credential: only its SHA-256 is stored, the key is shown once."""

    id = fields.IntField(primary_key=True)
    shop = fields.ForeignKeyField("models.Shop", related_name="api_keys")
    name = fields.CharField(max_length=100)
    prefix = fields.CharField(max_length=16, db_index=True)
    key_hash = fields.CharField(max_length=64, unique=True)
    scopes = fields.JSONField(default=list)
    created_at = fields.DatetimeField(auto_now_add=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "api_keys"


class IdempotencyRecord(Model):
    """The first result of a retried write, keyed per shop and operation."""

    id = fields.IntField(primary_key=True)
    shop = fields.ForeignKeyField("models.Shop", related_name="idempotency_records")
    operation = fields.CharField(max_length=64)
    key = fields.CharField(max_length=255)
    request_hash = fields.CharField(max_length=64)
    result = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "idempotency_records"
        unique_together = (("shop", "operation", "key"),)
