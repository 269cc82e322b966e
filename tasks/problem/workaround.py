"""Step 4, workaround: record it and tell every linked open incident."""

from __future__ import annotations

from prefect import task
from sqlalchemy.orm import Session

from problemflow.models.kedb import WorkaroundRead
from problemflow.models.services import audit, incidents, problems
from problemflow.models.services.kedb import upsert_workaround
from problemflow.tasks.problem.common import ACTOR, STEP_OPTIONS, run_step


def apply_workaround(
    *, db_session: Session, problem_id: int, description: str, actor: str = ACTOR
) -> tuple[WorkaroundRead, list[str]]:
    """Store the problem's workaround and attach it to its open incidents; returns
    the workaround and the incidents newly given it."""
    problem = problems.get_or_raise(db_session=db_session, problem_id=problem_id)
    workaround = upsert_workaround(
        db_session=db_session, problem_id=problem.id, description=description, actor=actor
    )
    attached = []
    for incident in problems.linked_incidents(db_session=db_session, problem=problem):
        if incident.state in incidents.OPEN_STATES and incident.workaround_id != workaround.id:
            incident.workaround_id = workaround.id
            attached.append(incident.number)
            audit.record(
                db_session=db_session, actor=actor, action="workaround", record_type=incidents.RECORD,
                record_id=incident.id, detail={"workaround_id": workaround.id, "problem": problem.number},
            )
    db_session.flush()
    return WorkaroundRead.model_validate(workaround), attached


@task(name="workaround", **STEP_OPTIONS)
def workaround_task(problem_id: int, description: str) -> WorkaroundRead:
    """Step 4: record the workaround and attach it to the open incidents."""
    workaround, _ = run_step(apply_workaround, problem_id=problem_id, description=description)
    return workaround
