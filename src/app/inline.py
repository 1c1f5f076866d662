"""The two inline forms allowed in paragraph text: `code` and [label](href).

`parse_inline` splits raw text into tokens (still raw text: escaping is the views'
job); `plain_text` drops the markup, for excerpts, word counts and JSON-free uses.
A link whose href is not a safe URL (e.g. `javascript:`) stays plain text, as written.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Literal

SAFE_URL_PREFIXES = ("/", "#", "https://", "http://", "mailto:")


@dataclass(frozen=True)
class Token:
    kind: Literal["text", "code", "link"]
    text: str
    href: str = ""


@functools.cache
def _pattern() -> re.Pattern[str]:
    # A link's href may contain one level of balanced parentheses.
    return re.compile(
        r"`(?P<code>[^`]+)`"
        r"|\[(?P<label>[^\]]+)\]\((?P<href>[^()\s]*(?:\([^()\s]*\)[^()\s]*)*)\)"
    )


def is_safe_url(href: str) -> bool:
    if href.startswith("//"):  # protocol-relative: another host
        return False
    return href.startswith(SAFE_URL_PREFIXES)


def parse_inline(text: str) -> tuple[Token, ...]:
    tokens: list[Token] = []
    pos = 0
    for match in _pattern().finditer(text):
        if match.start() > pos:
            tokens.append(Token("text", text[pos : match.start()]))
        code = match.group("code")
        if code is not None:
            tokens.append(Token("code", code))
        else:
            label, href = match.group("label"), match.group("href")
            if is_safe_url(href):
                tokens.append(Token("link", label, href))
            else:  # not a link: show the source, hostile href included, as text
                tokens.append(Token("text", match.group()))
        pos = match.end()
    if pos < len(text):
        tokens.append(Token("text", text[pos:]))
    return tuple(tokens)


def plain_text(text: str) -> str:
    return "".join(token.text for token in parse_inline(text))
