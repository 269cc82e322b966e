"""Incidents carry their message template (the title with its variable parts masked)

Revision ID: 0009_template
Revises: 0008_people
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0009_template"
down_revision: Union[str, Sequence[str], None] = "0008_people"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("incident") as batch:
        batch.add_column(sa.Column("template", sa.String(500), nullable=True))
        batch.create_index("ix_incident_template", ["template", "id"])
    # incidents stored before templates existed get theirs from the same function new ones use
    from problemflow.models.text import template_of

    connection = op.get_bind()
    incident = sa.table("incident", sa.column("id", sa.Integer), sa.column("title", sa.String),
                        sa.column("source", sa.String), sa.column("template", sa.String))
    rows = connection.execute(sa.select(incident.c.id, incident.c.title).where(incident.c.source != "servicenow"))
    batch_rows = []
    update = sa.update(incident).where(incident.c.id == sa.bindparam("row_id")).values(template=sa.bindparam("t"))
    for row_id, title in rows:
        batch_rows.append({"row_id": row_id, "t": template_of(title)})
        if len(batch_rows) == 5000:
            connection.execute(update, batch_rows)
            batch_rows = []
    if batch_rows:
        connection.execute(update, batch_rows)


def downgrade() -> None:
    with op.batch_alter_table("incident") as batch:
        batch.drop_index("ix_incident_template")
        batch.drop_column("template")
