"""HTML escaping and an element builder that escapes by default.

`Markup` is a `str` that is already safe HTML. Only `el`, `raw` and `escape` make
one; any other `str` handed to `el` (as a child or an attribute value) is escaped.
So content can never inject markup unless code explicitly calls `raw`, which the
views use only for fixed literals.
"""

from __future__ import annotations

import functools
import html as _stdlib_html
import re
from collections.abc import Iterable, Mapping

# Elements with no content and no end tag.
VOID_ELEMENTS = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
)

AttrValue = str | int | bool | None


class Markup(str):
    """A string of trusted HTML."""

    __slots__ = ()

    def __html__(self) -> str:
        return self


def escape(value: object) -> Markup:
    """Escape text for use between tags or inside a quoted attribute value."""
    if isinstance(value, Markup):
        return value
    return Markup(_stdlib_html.escape(str(value), quote=True))


def raw(trusted: str) -> Markup:
    """Mark a literal as safe HTML. Never call this on content."""
    return Markup(trusted)


@functools.cache
def _name_pattern() -> re.Pattern[str]:
    return re.compile(r"[a-z][a-z0-9-]*\Z")


def _check_name(name: str) -> str:
    if not _name_pattern().match(name):
        raise ValueError(f"not a valid tag or attribute name: {name!r}")
    return name


def attrs(attributes: Mapping[str, AttrValue] | None) -> Markup:
    """Render attributes: True -> bare name, None/False -> omitted, else quoted+escaped."""
    if not attributes:
        return Markup()
    parts: list[str] = []
    for name, value in attributes.items():
        if value is None or value is False:
            continue
        _check_name(name)
        if value is True:
            parts.append(f" {name}")
        else:
            parts.append(f' {name}="{escape(value)}"')
    return Markup("".join(parts))


def _render_children(children: Iterable[object], out: list[str]) -> None:
    for child in children:
        if child is None or child is False:
            continue
        if isinstance(child, str):  # Markup is a str: escape() passes it through
            out.append(escape(child))
        elif isinstance(child, int | float):
            out.append(str(child))
        elif isinstance(child, Iterable):
            _render_children(child, out)
        else:
            raise TypeError(f"cannot render {type(child).__name__} as HTML")


def el(tag: str, attributes: Mapping[str, AttrValue] | None = None, *children: object) -> Markup:
    """`<tag attrs>children</tag>`; children are escaped unless they are `Markup`."""
    _check_name(tag)
    out = [f"<{tag}{attrs(attributes)}>"]
    if tag in VOID_ELEMENTS:
        if any(child is not None for child in children):
            raise ValueError(f"<{tag}> cannot have children")
        return Markup(out[0])
    _render_children(children, out)
    out.append(f"</{tag}>")
    return Markup("".join(out))


def join(parts: Iterable[object], separator: str = "") -> Markup:
    """Concatenate children (escaping plain strings) into one `Markup`."""
    out: list[str] = []
    first = True
    for part in parts:
        if not first and separator:
            out.append(escape(separator))
        first = False
        _render_children((part,), out)
    return Markup("".join(out))
