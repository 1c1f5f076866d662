"""The example site (`app.SITE`) against the renderer contract."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

import app.routing
from app import SITE, SITE_CONFIG
from app.content import POSTS
from app.html import el, escape, raw
from app.inline import parse_inline
from seeding.config import SiteConfig
from seeding.rendering import Renderer, RenderMode, RenderRequest, RenderResult
from seeding.routes import Variant, resolve_request_path, validate_route_key

BUILD_TIME = 1_764_000_000.0  # 2025-11-24T16:00:00Z
REQUEST_TIME = 1_764_003_723.456  # 2025-11-24T17:02:03.456Z
ON_DEMAND_POST = "/blog/single-flight-rendering"
PULSE = "/pulse"
HOSTILE_POST = "/blog/escaping-untrusted-text"


async def render(
    route: str, variant: Variant = Variant.HTML, *, now: float = BUILD_TIME, phase: str = "build"
) -> RenderResult:
    return await SITE.render(RenderRequest(route=route, variant=variant, now=now, phase=phase))


def routes_by_mode(mode: RenderMode) -> list[str]:
    return [r.path for r in app.routing.site_routes() if r.mode is mode]


def text_of(result: RenderResult) -> str:
    return result.body.decode("utf-8")


class _Checker(HTMLParser):
    """Collects tags and text; checks that elements are properly nested."""

    VOID = frozenset(
        {
            "area",
            "base",
            "br",
            "col",
            "embed",
            "hr",
            "img",
            "input",
            "link",
            "meta",
            "source",
            "wbr",
        }
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> with open {self.stack[-3:]}")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(result: RenderResult) -> _Checker:
    checker = _Checker()
    checker.feed(text_of(result))
    checker.close()
    assert checker.errors == []
    assert checker.stack == []
    return checker


# Routes ------------------------------------------------------------------------------


def test_site_is_a_renderer() -> None:
    renderer: Renderer = SITE  # checked statically; at run time, check the methods
    assert callable(renderer.site_routes) and callable(renderer.render)


def test_site_routes_lists_the_expected_modes() -> None:
    routes = {r.path: r for r in app.routing.site_routes()}
    assert len(routes) == len(app.routing.site_routes()), "route keys are unique"
    for path in ("/", "/about", "/blog"):
        assert routes[path].mode is RenderMode.PRERENDER
        assert routes[path].pattern == path

    posts = [r for r in routes.values() if r.pattern == "/blog/[slug]"]
    assert len(posts) == len(POSTS) >= 12
    on_demand = [r for r in posts if r.mode is RenderMode.ON_DEMAND]
    assert [r.path for r in on_demand] == [ON_DEMAND_POST]
    assert "rendered on first request" in on_demand[0].reason
    assert all(r.mode is RenderMode.PRERENDER for r in posts if r.path != ON_DEMAND_POST)

    assert routes[PULSE].mode is RenderMode.ON_DEMAND
    assert routes[PULSE].pattern == PULSE
    assert routes[PULSE].reason == "regenerated every 2 seconds: the ISR demo"
    assert routes_by_mode(RenderMode.ON_DEMAND) == [ON_DEMAND_POST, PULSE]

    assert routes["/now"].mode is RenderMode.DYNAMIC
    assert routes["/now"].reason == "shows the request time"
    assert routes_by_mode(RenderMode.DYNAMIC) == ["/now"]
    assert all(r.pattern == "/tags/[tag]" for r in routes.values() if r.path.startswith("/tags/"))


def test_every_route_key_satisfies_the_path_contract() -> None:
    for site_route in app.routing.site_routes():
        validate_route_key(site_route.path, data_variant=True)
        target = resolve_request_path(site_route.path, data_variant=True)
        assert target is not None and target.canonical and target.route == site_route.path


def test_site_routes_is_deterministic() -> None:
    assert app.routing.site_routes() == app.routing.site_routes()


async def test_the_site_lists_its_routes_with_both_variants() -> None:
    listed = await SITE.site_routes()
    assert tuple(listed) == app.routing.site_routes()
    assert all(r.variants == (Variant.HTML, Variant.DATA) for r in listed)


def test_site_config_is_exported_with_root_canonical_paths_and_the_data_variant() -> None:
    assert isinstance(SITE_CONFIG, SiteConfig) and SITE.config is SITE_CONFIG
    assert SITE_CONFIG.base_path == "" and SITE_CONFIG.trailing_slash is False
    assert SITE_CONFIG.data_variant is True


async def test_pages_are_tagged_with_what_they_show() -> None:
    post = (await render("/blog/single-flight-rendering")).tags
    assert post == ("post:single-flight-rendering", "posts")
    assert (await render("/")).tags == ("posts",)
    assert (await render("/tags/python")).tags[0] == "tag:python"
    assert (await render("/about")).tags == ()


async def test_the_site_answers_only_get() -> None:
    result = await SITE.render(
        RenderRequest(route="/about", variant=Variant.HTML, now=BUILD_TIME, method="POST")
    )
    assert result.status == 405 and result.dynamic


async def test_links_follow_base_path_and_trailing_slash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        app.routing, "SITE_CONFIG", SiteConfig(base_path="/docs", trailing_slash=True)
    )
    result = await render("/")
    hrefs = [attrs["href"] for tag, attrs in parse(result).tags if attrs.get("href")]
    site_links = [
        h for h in hrefs if h.startswith("/") and h not in ("/styles.css", "/favicon.svg")
    ]
    assert site_links and all(h.startswith("/docs/") or h == "/docs" for h in site_links)
    assert "/docs" in hrefs  # the home page
    assert "/docs/blog/" in hrefs and "/docs/now/" in hrefs  # nav and an inline content link
    assert "/docs/index.json" in hrefs
    document = json.loads((await render("/blog", Variant.DATA)).body)
    assert document["page"]["posts"][0]["href"] == f"/docs/blog/{POSTS[0].slug}/"


# Rendering ---------------------------------------------------------------------------


@pytest.mark.parametrize("route", routes_by_mode(RenderMode.PRERENDER))
async def test_every_prerender_route_renders_both_variants(route: str) -> None:
    html = await render(route, Variant.HTML)
    assert html.status == 200
    assert html.headers["content-type"] == "text/html; charset=utf-8"
    assert html.body.startswith(b"<!doctype html>\n")
    assert not html.dynamic and html.cacheable
    page = parse(html)
    assert ("link", {"rel": "stylesheet", "href": "/styles.css"}) in page.tags

    data = await render(route, Variant.DATA)
    assert data.status == 200
    assert data.headers["content-type"] == "application/json"
    assert data.revalidate == html.revalidate
    document = json.loads(data.body)
    assert document["route"] == route
    assert document["status"] == 200
    assert "notFound" not in document
    assert document["generated"] == {"at": "2025-11-24T16:00:00.000Z", "phase": "build"}


async def test_revalidate_policy() -> None:
    assert (await render("/")).revalidate is None
    assert (await render("/about")).revalidate is None
    assert (await render("/blog")).revalidate == 60
    assert (await render("/blog/hello-world")).revalidate == 60
    assert (await render(ON_DEMAND_POST, phase="request")).revalidate == 60
    assert app.routing.PULSE_REVALIDATE == 2
    assert (await render(PULSE, phase="request")).revalidate == 2


async def test_html_links_its_data_variant_and_marks_the_current_nav_entry() -> None:
    page = parse(await render("/about"))
    assert ("link", {"rel": "alternate", "type": "application/json", "href": "/about.json"}) in (
        page.tags
    )
    nav_links = [attrs for tag, attrs in page.tags if tag == "a" and "aria-current" in attrs]
    assert {"href": "/about", "aria-current": "page"} in nav_links

    home = parse(await render("/"))
    assert ("link", {"rel": "alternate", "type": "application/json", "href": "/index.json"}) in (
        home.tags
    )


async def test_links_use_canonical_paths_and_point_at_known_routes() -> None:
    known = {r.path for r in app.routing.site_routes()}
    for route in ("/", "/blog", "/blog/hello-world", "/tags/python", "/about", PULSE):
        for tag, attrs in parse(await render(route)).tags:
            href = attrs.get("href")
            if tag != "a" or not href or not href.startswith("/"):
                continue
            path = href.split("#", 1)[0]
            if path.endswith(".json"):
                continue
            assert path in known, f"{route} links to unknown {href}"
            assert path == "/" or not path.endswith("/")


async def test_post_page_renders_structured_content() -> None:
    result = await render("/blog/lazy-seeding")
    html = text_of(result)
    page = parse(result)
    tags = [tag for tag, _ in page.tags]
    assert "<h1>Lazy seeding: a warm cache without a warm-up</h1>" in html
    assert tags.count("p") >= 4
    assert "ul" in tags and "pre" in tags
    assert '<code class="language-python">' in html
    assert '<span class="tok-keyword">async</span>' in html
    assert re.search(r"\d+ min read", html)
    assert 'href="/tags/caching"' in html
    assert 'class="related"' in html and "Related posts" in html
    assert 'rel="prev"' in html and 'rel="next"' in html


async def test_post_data_variant_carries_the_page_data() -> None:
    document = json.loads((await render("/blog/lazy-seeding", Variant.DATA)).body)
    page = document["page"]
    assert document["kind"] == "post"
    assert document["revalidate"] == 60
    assert page["meta"]["title"] == "Lazy seeding: a warm cache without a warm-up"
    assert page["readingMinutes"] >= 1
    assert {block["type"] for block in page["body"]} >= {"paragraph", "list", "code"}
    assert [t["name"] for t in page["tags"]] == ["caching", "edge"]
    assert page["related"] and all("/blog/" in r["href"] for r in page["related"])
    assert page["older"]["href"].startswith("/blog/")


async def test_blog_index_lists_every_post_with_an_excerpt() -> None:
    html = text_of(await render("/blog"))
    for post in POSTS:
        assert f'href="/blog/{post.slug}"' in html
    assert html.count('class="excerpt"') == len(POSTS)
    document = json.loads((await render("/blog", Variant.DATA)).body)
    assert len(document["page"]["posts"]) == len(POSTS)
    assert all(p["excerpt"] for p in document["page"]["posts"])


async def test_related_posts_share_a_tag() -> None:
    document = json.loads((await render("/blog/byte-budget-lru", Variant.DATA)).body)
    own = {t["name"] for t in document["page"]["tags"]}
    for other in document["page"]["related"]:
        assert own & {t["name"] for t in other["tags"]}


# Escaping ----------------------------------------------------------------------------


async def test_html_escapes_hostile_content() -> None:
    result = await render(HOSTILE_POST)
    html = text_of(result)
    # The raw markup from the content never reaches the HTML...
    assert '<script>alert("owned")</script>' not in html
    assert "<script" not in html
    assert "<img" not in html
    assert "<b>" not in html
    assert 'href="javascript:' not in html
    # ...it is there, escaped, as visible text.
    assert "&lt;script&gt;alert(&quot;owned&quot;)&lt;/script&gt;" in html
    assert "<title>Escaping &lt;script&gt; &amp; &quot;quotes&quot;" in html
    assert "Tom &amp; Jerry&#x27;s &quot;best&quot; &lt;b&gt;episodes&lt;/b&gt;" in html
    text = "".join(parse(result).text)
    assert 'Escaping <script> & "quotes": what templates owe you' in text
    assert "[this link](javascript:alert(1))" in text


async def test_hostile_title_is_escaped_wherever_it_is_listed() -> None:
    for route in ("/blog", "/tags/security", "/"):
        html = text_of(await render(route))
        assert "Escaping &lt;script&gt; &amp; &quot;quotes&quot;" in html, route
        assert "<script" not in html


async def test_data_variant_keeps_hostile_content_as_raw_text() -> None:
    document = json.loads((await render(HOSTILE_POST, Variant.DATA)).body)
    assert (
        document["page"]["meta"]["title"] == 'Escaping <script> & "quotes": what templates owe you'
    )


async def test_404_page_escapes_the_requested_path() -> None:
    result = await render('/"><script>alert(1)</script>')
    assert result.status == 404
    html = text_of(result)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    parse(result)


def test_element_builder_escapes_children_and_attributes() -> None:
    assert el("p", {"title": '"x" & <y>'}, "<b>", raw("<i>ok</i>")) == (
        '<p title="&quot;x&quot; &amp; &lt;y&gt;">&lt;b&gt;<i>ok</i></p>'
    )
    assert el("input", {"disabled": True, "value": None}) == "<input disabled>"
    assert escape(escape("<")) == "&lt;"  # no double escaping of Markup
    with pytest.raises(ValueError):
        el("p", {'onclick="x"': "y"})


def test_inline_parser_refuses_unsafe_links() -> None:
    tokens = parse_inline("see [a](/about), [b](javascript:alert(1)) and `c`")
    assert [(t.kind, t.text, t.href) for t in tokens] == [
        ("text", "see ", ""),
        ("link", "a", "/about"),
        ("text", ", ", ""),
        ("text", "[b](javascript:alert(1))", ""),
        ("text", " and ", ""),
        ("code", "c", ""),
    ]
    assert parse_inline("[x](//evil.example)")[0].kind == "text"


# Generation stamp, /now, on-demand -----------------------------------------------------


async def test_generation_stamp_tells_build_from_request() -> None:
    built = await render("/about", now=BUILD_TIME, phase="build")
    served = await render("/about", now=REQUEST_TIME, phase="request")
    assert 'data-phase="build"' in text_of(built)
    assert "Prerendered at build time" in text_of(built)
    assert '<time datetime="2025-11-24T16:00:00.000Z">' in text_of(built)
    assert 'data-phase="request"' in text_of(served)
    assert "Rendered on request" in text_of(served)
    assert "November 24, 2025 at 17:02:03 UTC" in text_of(served)

    data = json.loads(
        (await render("/about", Variant.DATA, now=REQUEST_TIME, phase="request")).body
    )
    assert data["generated"] == {"at": "2025-11-24T17:02:03.456Z", "phase": "request"}


async def test_only_the_stamp_differs_between_build_and_request() -> None:
    stamp = re.compile(rb'<p class="generated".*?</p>|<meta name="generated-phase"[^>]*>')
    for route in ("/", "/blog", "/blog/hello-world"):
        built = await render(route, now=BUILD_TIME, phase="build")
        served = await render(route, now=REQUEST_TIME, phase="request")
        assert built.body != served.body
        assert stamp.sub(b"", built.body) == stamp.sub(b"", served.body)

        built_data = json.loads((await render(route, Variant.DATA)).body)
        served_data = json.loads(
            (await render(route, Variant.DATA, now=REQUEST_TIME, phase="request")).body
        )
        del built_data["generated"], served_data["generated"]
        assert built_data == served_data


async def test_now_is_dynamic_and_shows_the_request_time() -> None:
    html = await render("/now", now=REQUEST_TIME, phase="request")
    assert html.status == 200
    assert html.dynamic and not html.cacheable
    text = text_of(html)
    assert (
        '<p class="now-time"><time datetime="2025-11-24T17:02:03.456Z">17:02:03 UTC</time>' in text
    )
    assert "1764003723.456" in text
    assert 'aria-current="page"' in text

    data = await render("/now", Variant.DATA, now=REQUEST_TIME, phase="request")
    assert data.dynamic
    document = json.loads(data.body)
    assert document["kind"] == "now"
    assert document["page"]["at"] == "2025-11-24T17:02:03.456Z"
    assert document["page"]["epoch"] == REQUEST_TIME

    later = await render("/now", now=REQUEST_TIME + 61, phase="request")
    assert "17:03:04 UTC" in text_of(later)


async def test_on_demand_post_renders() -> None:
    for variant in Variant:
        result = await render(ON_DEMAND_POST, variant, now=REQUEST_TIME, phase="request")
        assert result.status == 200
        assert result.cacheable and result.revalidate == 60
    html = text_of(await render(ON_DEMAND_POST, now=REQUEST_TIME, phase="request"))
    assert "Single-flight: one render for a hundred requests" in html
    assert "Rendered on request" in html


# Not found ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "route",
    ["/missing", "/blog/no-such-post", "/tags/no-such-tag", "/blog/hello-world/extra", "/BLOG",
     "", "relative", "/" + "x" * 5000, "/caf\u00e9", "/\ud800"],
)  # fmt: skip
async def test_unknown_routes_are_404_in_both_variants(route: str) -> None:
    html = await render(route)
    assert html.status == 404
    assert html.headers["content-type"] == "text/html; charset=utf-8"
    assert not html.cacheable
    assert "Page not found" in text_of(html)
    assert html.body.decode("utf-8")  # valid UTF-8 whatever the route

    data = await render(route, Variant.DATA)
    assert data.status == 404
    assert data.headers["content-type"] == "application/json"
    document = json.loads(data.body)
    assert document["notFound"] is True
    assert document["status"] == 404
    assert document["generated"]["phase"] == "build"


async def test_404_suggests_a_close_post() -> None:
    html = text_of(await render("/blog/lazy-seed"))
    assert 'href="/blog/lazy-seeding"' in html


async def test_odd_request_times_do_not_break_rendering() -> None:
    for now in (float("nan"), float("inf"), -1.0, 1e20):
        for variant in Variant:
            for route in ("/now", PULSE):
                result = await render(route, variant, now=now, phase="request")
                assert result.status == 200
                assert result.body
    document = json.loads((await render(PULSE, Variant.DATA, now=float("nan"))).body)
    assert document["page"]["at"] is None and document["page"]["epoch"] is None


# Determinism -------------------------------------------------------------------------


async def test_identical_input_gives_identical_output() -> None:
    routes = [r.path for r in app.routing.site_routes()] + ["/missing"]
    for route in routes:
        for variant in Variant:
            first = await render(route, variant, now=REQUEST_TIME, phase="request")
            second = await render(route, variant, now=REQUEST_TIME, phase="request")
            assert first == second, route


# /pulse: the ISR demo ------------------------------------------------------------------


async def test_pulse_renders_both_variants_with_the_request_time() -> None:
    html = await render(PULSE, now=REQUEST_TIME, phase="request")
    assert html.status == 200
    assert html.headers["content-type"] == "text/html; charset=utf-8"
    assert html.revalidate == 2 and not html.dynamic and html.cacheable
    text = text_of(html)
    page = parse(html)
    # The shared layout: stylesheet, data link, footer stamp of the request.
    assert ("link", {"rel": "stylesheet", "href": "/styles.css"}) in page.tags
    assert ("link", {"rel": "alternate", "type": "application/json", "href": "/pulse.json"}) in (
        page.tags
    )
    assert 'data-phase="request"' in text and "Rendered on request" in text
    assert 'class="page-pulse"' in text
    assert "<title>Pulse · " in text
    # The generation time, prominent, as an ISO UTC time with milliseconds.
    assert (
        '<p class="now-time pulse-time"><time datetime="2025-11-24T17:02:03.456Z">'
        "2025-11-24T<wbr>17:02:03.456Z</time></p>"
    ) in text
    assert "2025-11-24T17:02:03.456Z" in "".join(page.text)
    assert "1764003723.456" in text
    assert "stale-while-revalidate" in text
    # Derived from the site: the number of posts and the newest post.
    newest = max(POSTS, key=lambda p: p.published)
    assert f'<a href="/blog">{len(POSTS)}</a>' in text

    data = await render(PULSE, Variant.DATA, now=REQUEST_TIME, phase="request")
    assert data.status == 200
    assert data.headers["content-type"] == "application/json"
    assert data.revalidate == 2 and not data.dynamic and data.cacheable
    document = json.loads(data.body)
    assert document["route"] == PULSE and document["status"] == 200
    assert document["kind"] == "pulse" and document["revalidate"] == 2
    assert "notFound" not in document
    assert document["generated"] == {"at": "2025-11-24T17:02:03.456Z", "phase": "request"}
    pulse = document["page"]
    assert pulse["meta"]["title"] == "Pulse" and pulse["meta"]["path"] == PULSE
    assert pulse["at"] == "2025-11-24T17:02:03.456Z"
    assert pulse["epoch"] == REQUEST_TIME
    assert pulse["revalidate"] == 2
    assert "stale-while-revalidate" in pulse["explanation"]
    assert pulse["postCount"] == len(POSTS)
    slug = pulse["newest"]["href"].removeprefix("/blog/")
    assert next(p for p in POSTS if p.slug == slug).published == newest.published
    assert f'href="{pulse["newest"]["href"]}"' in text


async def test_pulse_differs_between_times_and_is_identical_for_identical_input() -> None:
    for variant in Variant:
        first = await render(PULSE, variant, now=REQUEST_TIME, phase="request")
        later = await render(PULSE, variant, now=REQUEST_TIME + 2.5, phase="request")
        again = await render(PULSE, variant, now=REQUEST_TIME, phase="request")
        assert first == again
        assert first.body != later.body
        assert b"2025-11-24T17:02:03.456Z" in first.body
        assert b"2025-11-24T17:02:05.956Z" in later.body
        assert b"2025-11-24T17:02:03.456Z" not in later.body


async def test_about_page_lists_pulse_with_its_mode_and_revalidate() -> None:
    about = await render("/about")
    page = parse(about)
    assert ("a", {"href": PULSE}) in page.tags
    row = re.search(r'<tr class="mode-on-demand">(?:(?!</tr>).)*?/pulse.*?</tr>', text_of(about))
    assert row is not None
    assert "regenerated every 2 seconds: the ISR demo" in row.group(0)
    assert "every 2 s" in row.group(0)
    document = json.loads((await render("/about", Variant.DATA)).body)
    routes = {r["pattern"]: r for r in document["page"]["routes"]}
    assert routes[PULSE]["mode"] == "on-demand" and routes[PULSE]["revalidate"] == 2
    # The pulse page links back to that table.
    pulse = parse(await render(PULSE, now=REQUEST_TIME, phase="request"))
    assert ("a", {"href": "/about"}) in pulse.tags
