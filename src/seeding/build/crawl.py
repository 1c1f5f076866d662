"""Link discovery for the build: the route keys a rendered HTML page links to on its
own site, so the prerender step can follow them from the declared routes (within a
bound on routes and depth) and prerender what the app did not list.

Only same-origin links count: relative URLs, and absolute ones whose host is the site's
origin host. Their path goes through the Worker's own resolution
(`seeding.routes.resolve_request_path`), so a link outside basePath, a private path or
a malformed one is never a route, and a link to a data form counts as its page.
"""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from seeding.config import SiteConfig
from seeding.routes import Variant, canonical_path, is_private_path, resolve_request_path

# Pages over this size are not scanned for links (the asset limit is far above it).
MAX_SCANNED_BYTES = 5 * 1024 * 1024


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            for name, value in attrs:
                if name == "href" and value:
                    self.hrefs.append(value)


def linked_routes(
    html: bytes, route: str, config: SiteConfig, origin_host: str = "localhost"
) -> list[str]:
    """Route keys of the same-origin links in `html`, the page of `route`, in order
    of first appearance, without duplicates."""
    if len(html) > MAX_SCANNED_BYTES:
        return []
    parser = _Links()
    parser.feed(html.decode("utf-8", "replace"))
    parser.close()
    base = (
        "https://"
        + origin_host
        + canonical_path(
            route, Variant.HTML, base_path=config.base_path, trailing_slash=config.trailing_slash
        )
    )
    found: dict[str, None] = {}
    for href in parser.hrefs:
        try:
            url = urlsplit(urljoin(base, href.strip()))
        except ValueError:
            continue
        if url.scheme not in ("http", "https") or url.hostname != origin_host.split(":")[0]:
            continue
        if is_private_path(url.path):
            continue
        target = resolve_request_path(
            url.path or "/",
            base_path=config.base_path,
            trailing_slash=config.trailing_slash,
            data_variant=config.data_variant,
        )
        if target is not None:
            found.setdefault(target.route, None)
    return list(found)
