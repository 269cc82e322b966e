"""The naive design for comparison: one Prefect flow run per alert.

``python prefect_naive.py`` serves a deployment whose flow stores one
Alertmanager webhook through the same code as the intake (parse, triage, store,
commit). ``run.py`` creates flow runs of it and times them to completion.
"""

from __future__ import annotations

from prefect import flow

DEPLOYMENT = "store-alert/naive"


@flow(name="store-alert", log_prints=False)
def store_alert(webhook: dict) -> list:
    from problemflow.intake.alertmanager import AlertmanagerWebhook, to_alerts
    from problemflow.intake.store import store_batch
    from problemflow.models.db import session_scope

    alerts = to_alerts(AlertmanagerWebhook.model_validate(webhook))
    with session_scope() as session:
        batch = store_batch(db_session=session, alerts=alerts)
    return [outcome.value for outcome, _ in batch.results]


if __name__ == "__main__":
    store_alert.serve(name="naive", limit=10, print_starting_message=False)
