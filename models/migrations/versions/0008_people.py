"""People who answer gates, with their roles and sealed one-time-code secrets; why an answer was refused

Revision ID: 0008_people
Revises: 0007_open_queue
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

import problemflow.models.base

revision: str = "0008_people"
down_revision: Union[str, Sequence[str], None] = "0007_open_queue"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

UTC = problemflow.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "person",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("notify_urls", sa.JSON(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=True),
        sa.Column("enrolled_at", UTC, nullable=True),
        sa.Column("last_step", sa.Integer(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person")),
        sa.UniqueConstraint("name", name=op.f("uq_person_name")),
    )
    with op.batch_alter_table("approval") as batch:
        batch.add_column(sa.Column("reason", sa.String(200), nullable=True))
        batch.add_column(sa.Column("method", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("approval") as batch:
        batch.drop_column("method")
        batch.drop_column("reason")
    op.drop_table("person")
