"""Problem runs waiting at a gate, read from the Prefect API, and answering them."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any, Optional
from uuid import UUID

from pydantic import BaseModel

from problemflow.models.settings import get_settings

FLOW_NAME = "problem-management"
GATES = ("root-cause", "change", "closure")
GATE_ROLES = {"root-cause": "problem_manager", "change": "change_approver", "closure": "problem_manager"}


class WaitingRun(BaseModel):
    """One problem run suspended or paused at a gate."""

    flow_run_id: str
    name: str
    problem_id: Optional[int] = None
    gate: Optional[str] = None
    pause_key: str
    waiting_since: datetime
    waiting_hours: float
    role: Optional[str] = None
    can_answer: list[str] = []


def gate_of(pause_key: str) -> Optional[str]:
    """The gate a pause key belongs to (keys are ``<gate>-<round>-<try>``)."""
    return next((g for g in GATES if pause_key == g or pause_key.startswith(g + "-")), None)


def _waiting(run: Any, now: datetime) -> WaitingRun:
    key = run.state.state_details.pause_key or ""
    gate = gate_of(key)
    params = (run.parameters or {}).get("params") or {}
    since = run.state.timestamp
    role = GATE_ROLES.get(gate) if gate else None
    return WaitingRun(
        flow_run_id=str(run.id), name=run.name, problem_id=params.get("problem_id"), gate=gate, pause_key=key,
        waiting_since=since, waiting_hours=(now - since).total_seconds() / 3600, role=role,
        can_answer=people_who_may_answer(role) if role else [],
    )


def people_who_may_answer(role: str) -> list[str]:
    """The enabled, enrolled people holding ``role`` (``PROBLEMFLOW_ROLES`` seeds names and roles)."""
    from problemflow.models.db import session_scope
    from problemflow.models.services import people

    with session_scope() as db_session:
        people.seed(db_session=db_session, roles=get_settings().roles)
        return people.holding(db_session=db_session, role=role)


def waiting_runs(limit: int = 200) -> list[WaitingRun]:
    """Problem-management runs waiting at a gate, oldest first."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=[FLOW_NAME])),
            flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED]))),
            limit=limit,
        )
    now = datetime.now(timezone.utc)
    found = [_waiting(run, now) for run in runs if run.state is not None]
    return sorted(found, key=lambda w: w.waiting_since)


def pause_key_of(flow_run_id: str | UUID) -> str:
    """The pause key of a run waiting at a gate; raises ValueError when it is not waiting."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            run = client.read_flow_run(UUID(str(flow_run_id)))
        except (ObjectNotFound, ValueError):
            raise ValueError(f"flow run {flow_run_id} not found") from None
    if run.state is None or not run.state.is_paused() or not run.state.state_details.pause_key:
        state = run.state.name if run.state else "unknown"
        raise ValueError(f"flow run {flow_run_id} is not waiting at a gate (state: {state})")
    return run.state.state_details.pause_key


FORM_WAIT_SECONDS = 10.0


def _form_stored(client, run_id: UUID) -> bool:
    """The gate's form (its input schema) is stored, or the run does not wait for one. Prefect
    sets the Suspended state a moment before it stores the form, and refuses an answer in
    between ("Run input schema not found")."""
    import httpx

    run = client.read_flow_run(run_id)
    keyset = run.state.state_details.run_input_keyset if run.state is not None else None
    if not keyset or "schema" not in keyset:
        return True
    try:
        client.read_flow_run_input(run_id, keyset["schema"])
    except httpx.HTTPStatusError as error:
        if error.response.status_code == 404:
            return False
        raise
    return True


def resume(flow_run_id: str | UUID, run_input: dict, *, form_wait: float = FORM_WAIT_SECONDS) -> None:
    """Answer a gate: resume the run with the form's fields, as the UI does. An answer given in
    the moment between the run stopping and its form being stored waits for the form (the UI's
    dialog cannot open before it either), up to ``form_wait`` seconds."""
    from prefect.client.orchestration import get_client
    from prefect.flow_runs import resume_flow_run

    run_id = UUID(str(flow_run_id))
    deadline = time.monotonic() + form_wait
    with get_client(sync_client=True) as client:
        while not _form_stored(client, run_id) and time.monotonic() < deadline:
            time.sleep(0.2)
    resume_flow_run(run_id, run_input=run_input)
