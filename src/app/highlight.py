"""A tiny syntax highlighter for code blocks: Python and JSON get token classes,
other languages are printed as escaped text. Output is `Markup`, every token escaped.
"""

from __future__ import annotations

import functools
import re

from app.html import Markup, el, escape

# Fixed lists, not the `keyword` module: its lists change between Python versions
# (3.12 made `type` a soft keyword), and the build (CPython) and the Worker (Pyodide)
# may run different versions but must produce the same bytes.
_KEYWORDS = frozenset(
    {
        "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class",
        "continue", "def", "del", "elif", "else", "except", "finally", "for", "from",
        "global", "if", "import", "in", "is", "lambda", "nonlocal", "not", "or", "pass",
        "raise", "return", "try", "while", "with", "yield", "match", "case",
    }
)  # fmt: skip
_BUILTINS = frozenset(
    {
        "print", "len", "range", "sorted", "min", "max", "sum", "str", "int", "float",
        "bytes", "dict", "list", "tuple", "set", "any", "all", "next", "isinstance",
        "super", "type", "object",
    }
)  # fmt: skip


@functools.cache
def _python_tokens() -> re.Pattern[str]:
    return re.compile(
        r"(?P<comment>#[^\n]*)"
        r"|(?P<string>[rbfRBF]{0,2}(?:\"\"\"[\s\S]*?\"\"\"|'''[\s\S]*?'''"
        r"|\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'))"
        r"|(?P<decorator>@[A-Za-z_][\w.]*)"
        r"|(?P<number>\b\d+(?:\.\d+)?\b)"
        r"|(?P<name>\b[A-Za-z_]\w*\b)"
    )


@functools.cache
def _json_tokens() -> re.Pattern[str]:
    return re.compile(
        r"(?P<key>\"(?:\\.|[^\"\\\n])*\"(?=\s*:))"
        r"|(?P<string>\"(?:\\.|[^\"\\\n])*\")"
        r"|(?P<number>-?\b\d+(?:\.\d+)?(?:[eE][+-]?\d+)?\b)"
        r"|(?P<keyword>\b(?:true|false|null)\b)"
    )


def _classify_python(kind: str, text: str) -> str | None:
    if kind != "name":
        return kind
    if text in _KEYWORDS:
        return "keyword"
    if text in _BUILTINS:
        return "builtin"
    return None


def _highlight(source: str, pattern: re.Pattern[str], python: bool) -> Markup:
    out: list[str] = []
    pos = 0
    for match in pattern.finditer(source):
        if match.start() > pos:
            out.append(escape(source[pos : match.start()]))
        kind = match.lastgroup or ""
        text = match.group()
        css = _classify_python(kind, text) if python else kind
        out.append(el("span", {"class": f"tok-{css}"}, text) if css else escape(text))
        pos = match.end()
    out.append(escape(source[pos:]))
    return Markup("".join(out))


def highlight(source: str, language: str) -> Markup:
    if language == "python":
        return _highlight(source, _python_tokens(), python=True)
    if language == "json":
        return _highlight(source, _json_tokens(), python=False)
    return escape(source)
