"""recurrence scans, groups and members

Revision ID: 0003_recurrence
Revises: 0001
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

import problemflow.models.base

revision: str = "0003_recurrence"
down_revision: Union[str, Sequence[str], None] = "0001"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

UTC = problemflow.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "scan_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("algorithm_version", sa.String(length=64), nullable=False),
        sa.Column("started_at", UTC, nullable=False),
        sa.Column("finished_at", UTC, nullable=True),
        sa.Column("watermark", sa.Integer(), nullable=True),
        sa.Column("incidents_new", sa.Integer(), nullable=False),
        sa.Column("incidents_considered", sa.Integer(), nullable=False),
        sa.Column("links", sa.Integer(), nullable=False),
        sa.Column("groups_touched", sa.Integer(), nullable=False),
        sa.Column("problems_opened", sa.Integer(), nullable=False),
        sa.Column("problems_linked", sa.Integer(), nullable=False),
        sa.Column("duration_seconds", sa.Float(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scan_run")),
    )
    op.create_table(
        "recurrence_group",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("first_seen", UTC, nullable=False),
        sa.Column("last_seen", UTC, nullable=False),
        sa.Column("summary", sa.String(length=500), nullable=False),
        sa.Column("problem_id", sa.Integer(), nullable=True),
        sa.Column("known_error_id", sa.Integer(), nullable=True),
        sa.Column("algorithm_version", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["known_error_id"], ["known_error.id"],
            name=op.f("fk_recurrence_group_known_error_id_known_error"), ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["problem_id"], ["problem.id"],
            name=op.f("fk_recurrence_group_problem_id_problem"), ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recurrence_group")),
        sa.UniqueConstraint("key", name=op.f("uq_recurrence_group_key")),
    )
    op.create_table(
        "recurrence_member",
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("linked_to_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("algorithm_version", sa.String(length=64), nullable=False),
        sa.Column("scan_run_id", sa.Integer(), nullable=True),
        sa.Column("linked_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"], ["recurrence_group.id"],
            name=op.f("fk_recurrence_member_group_id_recurrence_group"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incident.id"],
            name=op.f("fk_recurrence_member_incident_id_incident"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["scan_run_id"], ["scan_run.id"],
            name=op.f("fk_recurrence_member_scan_run_id_scan_run"), ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("incident_id", name=op.f("pk_recurrence_member")),
    )
    op.create_index("ix_recurrence_member_group_id", "recurrence_member", ["group_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_recurrence_member_group_id", table_name="recurrence_member")
    op.drop_table("recurrence_member")
    op.drop_table("recurrence_group")
    op.drop_table("scan_run")
