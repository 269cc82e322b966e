"""WIP limits per team: the Prefect global concurrency limit ``wip-<team>`` behind each
team's limit, and the slot the analyse step holds while a problem is analysed."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Literal, Mapping, Optional

from pydantic import BaseModel

from problemflow.models.settings import get_settings


def wip_slot(team: Optional[str]):
    """A slot of the team's global concurrency limit ``wip-<team>`` when the team has
    a WIP limit configured; the limit is created (or its size updated) first."""
    limit = get_settings().wip_limits.get(team) if team else None
    if not limit:
        return nullcontext()
    from prefect.concurrency.sync import concurrency

    ensure_wip_limits(limits={team: limit})
    return concurrency(wip_limit_name(team), occupy=1, strict=True)


def wip_limit_name(team: str) -> str:
    """``wip-<team>``, the team name reduced to lowercase letters, digits and dashes."""
    slug = "".join(c if c.isalnum() else "-" for c in team.lower()).strip("-")
    return f"wip-{slug}"


class WipLimitSync(BaseModel):
    name: str
    team: str
    limit: int
    action: Literal["created", "updated", "unchanged"]


def ensure_wip_limits(client=None, limits: Optional[Mapping[str, int]] = None) -> list[WipLimitSync]:
    """Create or update the global concurrency limit ``wip-<team>`` for each team's WIP limit.

    ``client`` is a synchronous Prefect client; without one, a client for the
    configured API is opened for the call.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import (
        GlobalConcurrencyLimitCreate,
        GlobalConcurrencyLimitUpdate,
    )
    from prefect.exceptions import ObjectNotFound

    limits = dict(get_settings().wip_limits if limits is None else limits)
    if not limits:
        return []
    if client is None:
        with get_client(sync_client=True) as own_client:
            return ensure_wip_limits(own_client, limits)
    done = []
    for team, limit in sorted(limits.items()):
        name = wip_limit_name(team)
        try:
            existing = client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=limit))
            action = "created"
        else:
            if existing.limit == limit and existing.active:
                action = "unchanged"
            else:
                client.update_global_concurrency_limit(
                    name, GlobalConcurrencyLimitUpdate(limit=limit, active=True)
                )
                action = "updated"
        done.append(WipLimitSync(name=name, team=team, limit=limit, action=action))
    return done
