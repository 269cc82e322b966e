"""Sealing secrets at rest: people's one-time-code secrets are stored encrypted (Fernet,
AES-128-CBC with HMAC-SHA256), with a key that lives outside the database."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from problemflow.models.errors import ProblemflowError
from problemflow.models.settings import get_settings

KEY_FILE = "secret.key"


class SecretKeyMismatch(ProblemflowError):
    """A sealed secret cannot be opened with this installation's key."""


def _key() -> bytes:
    settings = get_settings()
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value().encode()
    path = Path(settings.home) / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            pass
        else:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(Fernet.generate_key())
    return path.read_bytes().strip()


def seal(secret: str) -> str:
    return Fernet(_key()).encrypt(secret.encode()).decode()


def unseal(token: str) -> str:
    try:
        return Fernet(_key()).decrypt(token.encode()).decode()
    except (InvalidToken, ValueError) as error:
        raise SecretKeyMismatch(
            "a stored one-time-code secret cannot be read with this key: set the same "
            "PROBLEMFLOW_SECRET_KEY on every machine, or enrol the person again"
        ) from error
