"""What a gate reads back from Prefect: the answer stored for its key, and when it was stored."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from prefect import flow
from prefect.client.orchestration import get_client

from problemflow.flows import gates


@flow(name="gate-reading")
def _nothing() -> None:
    pass


def test_a_stored_answer_is_read_with_the_time_the_server_stored_it(prefect_server, monkeypatch):
    monkeypatch.setattr(gates, "_stored", ("", {}))
    with get_client(sync_client=True) as client:
        run_id = str(client.create_flow_run(_nothing).id)
        before = datetime.now(timezone.utc)
        client.create_flow_run_input(run_id, "suspended-change-1r1-1-response",
                                     json.dumps({"approver": "cab-alex", "decision": "approve"}))
        after = datetime.now(timezone.utc)
        value, stored_at = gates._read_answer(run_id, "suspended-change-1r1-1-response")
        assert value == {"approver": "cab-alex", "decision": "approve"}
        assert before - timedelta(seconds=2) <= stored_at <= after + timedelta(seconds=2)

        # read once per run, then a miss asks for its own key: an answer that came since is found,
        # and a key that only begins like it (-1- and -10-) is not taken for it
        assert gates._read_answer(run_id, "suspended-change-1r1-2-response") == (None, None)
        client.create_flow_run_input(run_id, "suspended-change-1r1-20-response", json.dumps({"decision": "reject"}))
        assert gates._read_answer(run_id, "suspended-change-1r1-2-response") == (None, None)
        client.create_flow_run_input(run_id, "suspended-change-1r1-2-response", json.dumps({"decision": "approve"}))
        value, stored_at = gates._read_answer(run_id, "suspended-change-1r1-2-response")
        assert value == {"decision": "approve"} and stored_at >= before - timedelta(seconds=2)
