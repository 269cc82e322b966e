"""incident steps: index the known errors' last change, for the KEDB index's freshness check

Revision ID: 0005_incident_steps
Revises: 0001
"""
from typing import Sequence, Union

from alembic import op

revision: str = "0005_incident_steps"
down_revision: Union[str, Sequence[str], None] = "0001"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_index("ix_known_error_updated_at", "known_error", ["updated_at"])


def downgrade() -> None:
    op.drop_index("ix_known_error_updated_at", table_name="known_error")
