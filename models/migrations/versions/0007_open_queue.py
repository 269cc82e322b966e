"""The recurrence scan's queue: groups ranked, and waiting for a free slot

Revision ID: 0007_open_queue
Revises: 0006_merge
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

import problemflow.models.base

revision: str = "0007_open_queue"
down_revision: Union[str, Sequence[str], None] = "0006_merge"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("recurrence_group") as batch:
        batch.add_column(sa.Column("rank", sa.Float(), server_default="0", nullable=False))
        batch.add_column(sa.Column("queued_at", problemflow.models.base.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("recurrence_group") as batch:
        batch.drop_column("queued_at")
        batch.drop_column("rank")
