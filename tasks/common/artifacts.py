"""Publishing several Markdown artifacts of a run at once.

A Prefect server stores an artifact in tens of milliseconds, more while it is
busy with the run's own events; a step that publishes its documents one after
the other waits that long for each. Here the requests are built in the calling
task (so each artifact belongs to its task run and flow run), sent together
through the run's own client (an httpx client, which threads may share), and the
call returns once the server has stored every one of them: a step that returns
has published its documents.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple, Optional

_lock = threading.Lock()
_pool: Optional[ThreadPoolExecutor] = None
_WORKERS = 4


class Markdown(NamedTuple):
    markdown: str
    key: str
    description: str


def publish_markdown(documents: list[Markdown]) -> None:
    """Publish the documents as Markdown artifacts of the current run, concurrently;
    returns when all are stored and raises the first failure."""
    from prefect.artifacts import create_markdown_artifact
    from prefect.context import SyncClientContext

    client_context = SyncClientContext.get()
    if len(documents) < 2 or client_context is None:
        for doc in documents:
            create_markdown_artifact(markdown=doc.markdown, key=doc.key, description=doc.description)
        return
    from prefect.client.schemas.actions import ArtifactCreate
    from prefect.utilities.context import get_task_and_flow_run_ids

    task_run_id, flow_run_id = get_task_and_flow_run_ids()
    requests = [ArtifactCreate(type="markdown", key=doc.key, description=doc.description, data=doc.markdown,
                               task_run_id=task_run_id, flow_run_id=flow_run_id) for doc in documents]
    futures = [_executor().submit(client_context.client.create_artifact, artifact=r) for r in requests]
    failures = [error for error in (future.exception() for future in futures) if error is not None]
    if failures:
        raise failures[0]


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="artifacts")
        return _pool
