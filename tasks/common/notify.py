"""Sending notifications to the configured channels (Apprise URLs)."""

from __future__ import annotations

import logging

from prefect import task

from problemflow.models.settings import get_settings
from problemflow.tasks.common.retry import RETRIES, TransientError

logger = logging.getLogger("problemflow.notify")


class NotificationFailed(TransientError):
    """Every configured channel refused the message (worth a retry)."""


def send(title: str, body: str, *, tag: str = "problemflow", urls: list[str] | None = None) -> int:
    """Send to every configured channel; returns how many took it.

    With no channel configured the message is only logged. Raises
    :class:`NotificationFailed` when channels exist and none took it.
    """
    import apprise

    urls = get_settings().notify_urls if urls is None else urls
    logger.info("notification [%s] %s: %s", tag, title, body)
    if not urls:
        return 0
    client = apprise.Apprise()
    for url in urls:
        client.add(url)
    delivered = sum(
        1 for server in client if server.notify(title=title, body=body)
    )
    if delivered == 0:
        raise NotificationFailed(f"no channel accepted the notification {title!r}")
    return delivered


@task(name="notify", **RETRIES)
def notify(title: str, body: str, tag: str = "problemflow") -> int:
    """Notify the configured channels."""
    return send(title, body, tag=tag)
