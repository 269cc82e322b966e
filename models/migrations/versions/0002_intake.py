"""intake: alert events and one open incident per source fingerprint

Revision ID: 0002_intake
Revises: 0001
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

import problemflow.models.base

revision: str = "0002_intake"
down_revision: Union[str, Sequence[str], None] = "0001"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

OPEN_WHERE = sa.text("fingerprint IS NOT NULL AND state IN ('new', 'in_progress', 'on_hold')")


def upgrade() -> None:
    op.create_table(
        "alert_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("received_at", problemflow.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("fingerprint", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incident.id"],
            name=op.f("fk_alert_event_incident_id_incident"), ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_event")),
    )
    op.create_index("ix_alert_event_source_fingerprint", "alert_event", ["source", "fingerprint"])
    op.create_index("ix_alert_event_incident_id", "alert_event", ["incident_id"])
    op.create_index(
        "uq_incident_open_fingerprint",
        "incident",
        ["source", "fingerprint"],
        unique=True,
        sqlite_where=OPEN_WHERE,
        postgresql_where=OPEN_WHERE,
    )


def downgrade() -> None:
    op.drop_index("uq_incident_open_fingerprint", table_name="incident")
    op.drop_index("ix_alert_event_incident_id", table_name="alert_event")
    op.drop_index("ix_alert_event_source_fingerprint", table_name="alert_event")
    op.drop_table("alert_event")
