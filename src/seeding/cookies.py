"""The `Cookie` request header read as browsers send it (RFC 6265 §5.4): pairs
separated by ";", each `name=value`, with no quoting or escaping rules. The server-side
grammar (`http.cookies.SimpleCookie`) is stricter: one pair it cannot read (a JSON
value, a non-ASCII byte) makes it drop every cookie of the header without a word, so a
session cookie next to it would go unseen. Here every pair is read on its own, and a
pair with no "=" is a cookie with an empty name, as RFC 6265 §5.2 reads it.

`cookie_names` answers the names, or None for a header that cannot be read at all (not
a string, or one with a NUL or a lone surrogate, which no browser sends); the caller
treats that as carrying credentials.
"""

from __future__ import annotations


def cookie_names(header: object) -> frozenset[str] | None:
    """The cookie names in a `Cookie` header value (trimmed, case kept), or None when
    the value cannot be read as a header at all."""
    if not isinstance(header, str) or "\x00" in header:
        return None
    try:
        header.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: the bytes were not text
        return None
    names = set()
    for pair in header.split(";"):
        name, has_value, _ = pair.partition("=")
        if has_value:
            names.add(name.strip(" \t"))
        elif pair.strip(" \t"):
            names.add("")  # RFC 6265 §5.2 step 2: a value alone has an empty name
    return frozenset(names)
