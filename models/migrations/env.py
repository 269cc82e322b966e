"""Alembic environment: runs migrations on the configured database."""

from alembic import context

from problemflow import models  # noqa: F401  (registers every table)
from problemflow.models.base import Base
from problemflow.models.db import get_engine

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    with get_engine(url).connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
