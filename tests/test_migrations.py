"""Migrations are the only way the schema changes, so they must match the models."""

from tortoise import Tortoise
from tortoise.migrations.autodetector import MigrationAutodetector

from loyalty import db


async def test_models_have_no_unmigrated_changes(database_url):
    config = db.tortoise_config(database_url)
    detector = MigrationAutodetector(Tortoise.apps, config["apps"])
    writers = await detector.changes()
    assert writers == [], (
        "models changed without a migration: run "
        "`DATABASE_URL=sqlite:///tmp/x.sqlite3 tortoise -c loyalty.db.TORTOISE_ORM makemigrations`"
    )


def test_model_docstrings_have_no_semicolons(database_url):
    """Tortoise writes docstrings into table comments and splits migration SQL on ';'."""
    models = list(Tortoise.apps.get_models_iterable())
    assert len(models) >= 10
    for model in models:
        assert ";" not in (model.__doc__ or ""), model.__name__
