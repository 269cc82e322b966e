"""Step 5, known error: the KEDB record and the signature that recognises the next occurrence."""

from __future__ import annotations

import re
from collections import Counter
from typing import Optional, Sequence

from prefect import task
from sqlalchemy.orm import Session

from problemflow.models.enums import KnownErrorState
from problemflow.models.incident import Incident
from problemflow.models.kedb import KnownErrorCreate, KnownErrorRead, Signature
from problemflow.models.services import kedb, problems
from problemflow.tasks.problem.common import ACTOR, STEP_OPTIONS, run_step

MAX_KEYWORDS = 8
# labels that differ on every alert and say nothing about the cause
VOLATILE_LABELS = {"instance", "pod", "host", "hostname", "ip", "container_id", "id", "timestamp"}
STOPWORDS = frozenset(
    "a an and are as at be but by for from has have in into is it its no not of on or "
    "over than that the then this to too under was were when with without".split()
)
_WORD = re.compile(r"[a-z][a-z0-9_\-]{2,}")


def _most_common(values: Sequence[Optional[str]]) -> Optional[str]:
    counted = Counter(v for v in values if v)
    return counted.most_common(1)[0][0] if counted else None


def _keywords(incidents: Sequence[Incident]) -> list[str]:
    """Words found in at least half of the incidents' titles and symptoms."""
    seen: Counter[str] = Counter()
    for incident in incidents:
        text = f"{incident.title} {incident.symptom or ''}".lower()
        seen.update({w for w in _WORD.findall(text) if w not in STOPWORDS})
    needed = max(1, (len(incidents) + 1) // 2)
    common = [(w, n) for w, n in seen.items() if n >= needed]
    return [w for w, _ in sorted(common, key=lambda wn: (-wn[1], wn[0]))[:MAX_KEYWORDS]]


def _shared_labels(incidents: Sequence[Incident]) -> dict[str, str]:
    """Labels with the same value on every incident, volatile ones left out."""
    if not incidents:
        return {}
    shared = {k: str(v) for k, v in (incidents[0].labels or {}).items() if k not in VOLATILE_LABELS}
    for incident in incidents[1:]:
        labels = incident.labels or {}
        shared = {k: v for k, v in shared.items() if str(labels.get(k)) == v}
    return dict(sorted(shared.items()))


def signature_for(incidents: Sequence[Incident]) -> Signature:
    """The signature that recognises the next incident with the same cause."""
    return Signature(
        fingerprints=sorted({i.fingerprint for i in incidents if i.fingerprint}),
        labels=_shared_labels(incidents),
        services=sorted({i.service for i in incidents if i.service}),
        category=_most_common([i.category for i in incidents]),
        subcategory=_most_common([i.subcategory for i in incidents]),
        symptom=_most_common([i.symptom for i in incidents]),
        keywords=_keywords(incidents),
    )


def record_known_error(
    *, db_session: Session, problem_id: int, workaround: str = "", actor: str = ACTOR
) -> KnownErrorRead:
    """Create or update the problem's known error and publish it."""
    problem = problems.get_or_raise(db_session=db_session, problem_id=problem_id)
    linked = problems.linked_incidents(db_session=db_session, problem=problem)
    symptoms = sorted({i.symptom or i.title for i in linked})
    known_error_in = KnownErrorCreate(
        title=problem.statement,
        symptoms="\n".join(symptoms),
        root_cause=problem.root_cause_summary or "",
        workaround=workaround,
        signature=signature_for(linked),
        problem_id=problem.id,
    )
    existing = kedb.get_for_problem(db_session=db_session, problem_id=problem.id)
    unchanged = existing is not None and (
        KnownErrorCreate.model_validate(
            {**{f: getattr(existing, f) for f in ("title", "symptoms", "root_cause", "workaround",
                                                  "problem_id", "valid_until")},
             "signature": existing.signature}
        ) == known_error_in
    )
    known_error = existing if unchanged else kedb.upsert_for_problem(
        db_session=db_session, known_error_in=known_error_in, actor=actor
    )
    if KnownErrorState(known_error.state) in (KnownErrorState.draft, KnownErrorState.fixed):
        kedb.transition(db_session=db_session, known_error=known_error, to_state=KnownErrorState.published,
                        actor=actor, reason=f"root cause of {problem.number} known")
    db_session.flush()
    return KnownErrorRead.model_validate(known_error)


@task(name="known-error", **STEP_OPTIONS)
def known_error_task(problem_id: int, workaround: str = "", attempt: int = 1) -> KnownErrorRead:
    """Step 5: record and publish the known error with its signature."""
    return run_step(record_known_error, problem_id=problem_id, workaround=workaround)
