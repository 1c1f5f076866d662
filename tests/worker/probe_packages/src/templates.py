"""Jinja2 with autoescape, over MarkupSafe's pure-Python fallback."""

import markupsafe
from jinja2 import Environment

TEMPLATE = Environment(autoescape=True).from_string("<p>Hello {{ name }}</p>")


def greeting_page(name: str) -> tuple[str, str]:
    """The page, and the module MarkupSafe escapes with (`markupsafe._native` when pure)."""
    return TEMPLATE.render(name=name), markupsafe._escape_inner.__module__
