"""Join the feature branches of the schema; index the recurrence link

Deleting or looking up incidents by the incident they recur after scanned the
whole table without it.

Revision ID: 0006_merge
Revises: 0002_intake, 0003_recurrence, 0004_problem_flow, 0005_incident_steps
"""
from typing import Sequence, Union

from alembic import op

revision: str = "0006_merge"
down_revision: Union[str, Sequence[str], None] = (
    "0002_intake",
    "0003_recurrence",
    "0004_problem_flow",
    "0005_incident_steps",
)
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_index("ix_incident_recurrence_of_id", "incident", ["recurrence_of_id"])


def downgrade() -> None:
    op.drop_index("ix_incident_recurrence_of_id", table_name="incident")
