"""problem flow: each gate answer keyed so a resumed run never stores it twice

Revision ID: 0004_problem_flow
Revises: 0001
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0004_problem_flow"
down_revision: Union[str, Sequence[str], None] = "0001"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("approval") as batch:
        batch.add_column(sa.Column("answer_key", sa.String(length=200), nullable=True))
        batch.create_unique_constraint(op.f("uq_approval_answer_key"), ["answer_key"])


def downgrade() -> None:
    with op.batch_alter_table("approval") as batch:
        batch.drop_constraint(op.f("uq_approval_answer_key"), type_="unique")
        batch.drop_column("answer_key")
