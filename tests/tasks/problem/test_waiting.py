"""Answering a gate through the Prefect API, as ``problemflow approve`` does."""

from __future__ import annotations

import json
import threading

from prefect import flow
from prefect.client.orchestration import get_client
from prefect.input import keyset_from_paused_state
from prefect.states import Paused

from problemflow.tasks.problem.waiting import resume

SCHEMA = {"title": "Answer", "type": "object", "properties": {"approver": {"type": "string"}},
          "required": ["approver"]}


@flow(name="gate-waiting")
def _nothing() -> None:
    pass


def test_an_answer_given_before_the_form_is_stored_waits_for_it(prefect_server):
    """The run stops at the gate and its form lands a second later, as Prefect stores it after the
    state: the answer is taken once the form is there, instead of 'Run input schema not found'."""
    with get_client(sync_client=True) as client:
        run_id = client.create_flow_run(_nothing).id
        state = Paused(timeout_seconds=3600, pause_key="closure-1-1")  # a run with no deployment pauses
        keyset = keyset_from_paused_state(state)
        state.state_details.run_input_keyset = keyset
        client.set_flow_run_state(run_id, state, force=True)
        timer = threading.Timer(1.0, lambda: client.create_flow_run_input(run_id, keyset["schema"], json.dumps(SCHEMA)))
        timer.start()
        try:
            resume(run_id, {"approver": "pat"})
        finally:
            timer.join()
        assert json.loads(client.read_flow_run_input(run_id, keyset["response"])) == {"approver": "pat"}
        assert not client.read_flow_run(run_id).state.is_paused()
