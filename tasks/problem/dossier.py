"""Reading one problem's records for its documents, then writing and publishing them."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from problemflow.models.audit import AuditEventRead
from problemflow.models.base import utcnow
from problemflow.models.change import ApprovalRead, ChangeRequestRead
from problemflow.models.incident import IncidentRead
from problemflow.models.kedb import KnownErrorRead, Workaround, WorkaroundRead
from problemflow.models.problem import (
    Problem,
    ProblemIncidentRead,
    ProblemRead,
    ProblemTask,
    ProblemTaskRead,
    RootCauseAnalysis,
    RootCauseRead,
)
from problemflow.models.review import Review, ReviewRead
from problemflow.models.services import audit, changes, kedb, problems
from problemflow.models.settings import get_settings
from problemflow.tasks.common.documents import RENDERERS, Dossier, Rendered, publish_artifacts, write_document
from problemflow.tasks.problem.common import STEP_OPTIONS, run_step

# what a dossier reads of the problem, loaded with it rather than one lazy load at a time
_DOSSIER_LOAD = (
    selectinload(Problem.incident_links),
    selectinload(Problem.tasks).selectinload(ProblemTask.depends_on),
    selectinload(Problem.analysis).selectinload(RootCauseAnalysis.factors),
)


def gather(*, db_session: Session, problem_id: int) -> Dossier:
    """Every record of the problem, as read models."""
    problem = problems.get_or_raise(db_session=db_session, problem_id=problem_id, options=_DOSSIER_LOAD)
    known_error = kedb.get_for_problem(db_session=db_session, problem_id=problem.id)
    workaround = db_session.scalar(select(Workaround).where(Workaround.problem_id == problem.id))
    review = db_session.scalar(select(Review).where(Review.problem_id == problem.id))
    return Dossier(
        problem=ProblemRead.model_validate(problem),
        incidents=[IncidentRead.model_validate(i) for i in problems.linked_incidents(db_session=db_session, problem=problem)],
        links=[ProblemIncidentRead.model_validate(l) for l in sorted(problem.incident_links, key=lambda l: l.incident_id)],
        plan=[ProblemTaskRead.model_validate(t).model_copy(update={"depends_on_keys": [d.key for d in t.depends_on]})
              for t in problem.tasks],
        analysis=RootCauseRead.model_validate(problem.analysis) if problem.analysis else None,
        workaround=WorkaroundRead.model_validate(workaround) if workaround else None,
        known_error=KnownErrorRead.model_validate(known_error) if known_error else None,
        changes=[ChangeRequestRead.model_validate(c)
                 for c in sorted(changes.list(db_session=db_session, problem_id=problem.id), key=lambda c: c.attempt)],
        approvals=[ApprovalRead.model_validate(a) for a in changes.approvals_for(db_session=db_session, problem_id=problem.id)],
        review=ReviewRead.model_validate(review) if review else None,
        audit=[AuditEventRead.model_validate(e) for e in audit.list_for(
            db_session=db_session, record_type=problems.RECORD, record_id=problem.id)],
        roles=get_settings().roles,
        generated_at=utcnow(),
    )


def render_documents(*, db_session: Session, problem_id: int, names: list[str]) -> list[Rendered]:
    dossier = gather(db_session=db_session, problem_id=problem_id)
    return [RENDERERS[name](dossier) for name in names]


def write_and_publish(rendered: list[Rendered], output_dir: Path | None = None, publish: bool = True) -> list[str]:
    """Write each document under the output directory; publish it as an artifact
    when running inside Prefect. Returns the paths written."""
    written = [str(path) for doc in rendered for path in write_document(doc, output_dir)]
    if publish:
        publish_artifacts(rendered)
    return written


@task(name="documents", **STEP_OPTIONS)
def documents_task(problem_id: int, names: list[str], stage: str) -> list[str]:
    """Render, write and publish the named documents of the problem."""
    return write_and_publish(run_step(render_documents, problem_id=problem_id, names=names))
