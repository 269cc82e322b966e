"""Migrations build the schema from empty and match the models exactly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from problemflow import models  # noqa: F401
from problemflow.models.base import Base
from problemflow.models.db import alembic_config, current_revisions, get_engine


def test_schema_is_at_every_head(db_url):
    heads = set(ScriptDirectory.from_config(alembic_config(db_url)).get_heads())
    assert current_revisions(db_url) == heads


def test_every_model_table_exists(db_url):
    tables = set(inspect(get_engine(db_url)).get_table_names())
    assert set(Base.metadata.tables) <= tables


def test_migrations_match_the_models(db_url):
    with get_engine(db_url).connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        diff = compare_metadata(context, Base.metadata)
    assert diff == [], f"models and migrations differ: {diff}"


def test_upgrade_is_repeatable(db_url):
    from problemflow.models.db import upgrade

    upgrade(db_url)
    upgrade(db_url)
