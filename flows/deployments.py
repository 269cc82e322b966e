"""Every deployment problemflow serves, in one list.

Each flow module adds a function here returning its deployment(s); ``problemflow
up`` serves :func:`all_deployments` and ``problemflow deploy`` registers them in a
work pool for workers.
"""

from __future__ import annotations

from typing import Callable

# Each entry returns the RunnerDeployment objects of one flow module.
REGISTRY: list[Callable[[], list]] = []


def register(factory: Callable[[], list]) -> Callable[[], list]:
    REGISTRY.append(factory)
    return factory


def all_deployments() -> list:
    """Import every flow module (they register themselves) and build the deployments."""
    import importlib
    import pkgutil

    from problemflow import flows

    for module in pkgutil.iter_modules(flows.__path__):
        if module.name not in {"deployments"}:
            importlib.import_module(f"problemflow.flows.{module.name}")
    return [d for factory in REGISTRY for d in factory()]
