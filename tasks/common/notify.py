"""Sending notifications to the configured channels (Apprise URLs)."""

from __future__ import annotations

import logging

from prefect import task

from problemflow.models.settings import get_settings
from problemflow.tasks.common.neutralise import terminal
from problemflow.tasks.common.retry import RETRIES, TransientError

logger = logging.getLogger("problemflow.notify")

# what one notification carries at most; channels cut or split longer ones their own way
TITLE_MAX, BODY_MAX = 250, 4000


class NotificationFailed(TransientError):
    """Every configured channel refused the message (worth a retry)."""


def send(title: str, body: str, *, tag: str = "problemflow", urls: list[str] | None = None) -> int:
    """Send to every configured channel; returns how many took it.

    With no channel configured the message is only logged. Raises
    :class:`NotificationFailed` when channels exist and none took it.
    """
    import apprise

    urls = get_settings().notify_urls if urls is None else urls
    # titles and bodies quote what outside senders wrote (incident titles, workarounds):
    # control characters are shown, never sent; lengths are bounded; and the text is sent
    # as plain text, so each channel escapes it for its own format (Markdown, HTML)
    title, body = _plain(title, TITLE_MAX), _plain(body, BODY_MAX)
    logger.info("notification [%s] %s: %s", tag, title, body)
    if not urls:
        return 0
    client = apprise.Apprise()
    for url in urls:
        client.add(url)
    delivered = sum(
        1 for server in client if server.notify(title=title, body=body, body_format=apprise.NotifyFormat.TEXT)
    )
    if delivered == 0:
        raise NotificationFailed(f"no channel accepted the notification {title!r}")
    return delivered


def _plain(text: str, limit: int) -> str:
    text = terminal(text)
    return text if len(text) <= limit else text[:limit - 1] + "…"


@task(name="notify", **RETRIES)
def notify(title: str, body: str, tag: str = "problemflow") -> int:
    """Notify the configured channels."""
    return send(title, body, tag=tag)
