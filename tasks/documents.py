"""Rendering documents from ``templates/``: one Jinja environment, configured once.

Templates named ``*.html.j2`` are autoescaped; ``*.md.j2`` are not. Values are
formatted in Python before rendering; what users typed is passed as data and
never compiled as template code.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"


@lru_cache
def environment() -> Environment:
    """The one Jinja environment of the project."""
    return Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html.j2", "html"), default=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(template_name: str, **context: Any) -> str:
    """Render one template with already-formatted values."""
    return environment().get_template(template_name).render(**context)
