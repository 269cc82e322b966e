"""The HTTP intake: monitoring alerts in (Alertmanager, Grafana, PagerDuty, our own JSON), incidents out.

``create_app(settings)`` builds the ASGI app; ``run(host=..., port=..., workers=...)``
serves it under uvicorn (what ``problemflow intake`` and ``problemflow up`` use).
"""

from problemflow.intake.app import create_app
from problemflow.intake.server import run

__all__ = ["create_app", "run"]
