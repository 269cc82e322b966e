"""People enrolled for one-time codes in a test database, and their codes, as an
authenticator app shows them."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Optional

import pyotp

from problemflow.models.db import session_scope
from problemflow.models.services import people

STEP = people.STEP_SECONDS


class Approvers:
    """Enrols everyone in ``roles`` (``PROBLEMFLOW_ROLES`` shape) and hands out fresh codes.

    A code counts once per person and never an older one, so each code handed out
    here is of a later time step than the person's last: the current step, else the
    next (accepted as clock drift), else it waits for time to pass.
    """

    def __init__(self, db_url: str, roles: dict[str, list[str]]):
        self.secrets: dict[str, str] = {}
        self.last: dict[str, int] = {}
        with session_scope(db_url) as db_session:
            people.seed(db_session=db_session, roles=roles)
            for name in sorted({n for names in roles.values() for n in names}):
                person = people.get_or_raise(db_session=db_session, name=name)
                self.secrets[name] = pyotp.parse_uri(people.enroll(db_session=db_session, person=person)).secret

    def code(self, name: str, at: Optional[float] = None) -> str:
        while True:
            now = int(at if at is not None else time.time()) // STEP
            for step in (now, now + 1):
                if step > self.last.get(name, -1):
                    self.last[name] = step
                    return pyotp.TOTP(self.secrets[name], interval=STEP).at(step * STEP)
            time.sleep(max(0.1, (now + 1) * STEP - time.time()))

    def stale(self, name: str) -> str:
        """A code this person used before (what an attacker copies from a stored answer)."""
        step = self.last[name]
        return pyotp.TOTP(self.secrets[name], interval=STEP).at(step * STEP)

    @staticmethod
    def now_step() -> int:
        return int(datetime.now(timezone.utc).timestamp()) // STEP
