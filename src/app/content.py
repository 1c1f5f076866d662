"""The site's content, as Python data (the Worker reads no files at run time).

Newest post first. One post (`prerender=False`) was "published after the build": it
is listed and linked like the others, but its own page is rendered on first request.
The post on escaping deliberately carries markup-like text (<script>, &, quotes) in
its title, body and tags-free fields: the views must print it as text.
"""

from __future__ import annotations

from app.model import CodeBlock as Code
from app.model import Heading as H
from app.model import ListBlock as L
from app.model import Paragraph as P
from app.model import Post, SiteInfo
from app.model import Quote as Q

SITE_INFO = SiteInfo(
    name="Field Notes",
    tagline="Caches, edges & Python — notes from building a small site that is fast everywhere.",
    author="The Field Notes team",
    copyright_year=2025,
    intro=(
        "Field Notes is a small engineering blog about serving pages quickly: "
        "prerendering, caching at the edge, and running Python where the requests are.",
        "This site is its own demo. Most pages were rendered at build time and are seeded "
        "into an in-memory cache the first time they are asked for; one post is rendered "
        "on demand, and [the clock page](/now) is rendered for every request. The footer "
        "of every page tells you which happened.",
    ),
    about=(
        "Field Notes is written by a handful of engineers who like fast pages and boring "
        "infrastructure. We write about what we build, and the site you are reading is built "
        "the way the posts describe.",
        "The pages are rendered by a few hundred lines of plain Python: frozen dataclasses "
        "for content, builders that turn content into page data, and views that turn page "
        "data into escaped HTML. The same renderer runs at build time on CPython and at run "
        "time in a Python Worker, so a prerendered page and a fresh render are byte for byte "
        "the same, apart from the line in the footer that says when and how it was made.",
        "Every page also exists as JSON: add `.json` to a path (the home page is "
        "`/index.json`) to get the data the HTML was rendered from, the way a client-side "
        "router would fetch it for the next navigation.",
    ),
)

POSTS: tuple[Post, ...] = (
    Post(
        slug="single-flight-rendering",
        title="Single-flight: one render for a hundred requests",
        published="2025-11-20",
        tags=("caching", "performance", "python"),
        summary="When a popular page expires, every request races to rebuild it. "
        "Single-flight makes them share one render.",
        prerender=False,
        body=(
            P(
                "A cache miss on a quiet page costs one render. A cache miss on the page "
                "that just hit the front of a news site costs as many renders as there are "
                "requests in flight — the classic cache stampede. The fix is old and simple: "
                "let the first request do the work, and make the others wait for its result."
            ),
            H("Sharing a future"),
            P(
                "In asyncio the natural shape is a dict from key to `Future`. The first "
                "caller creates the future, runs the render and sets the result; later "
                "callers find the future and await it. Nobody holds a lock, and nobody "
                "renders twice."
            ),
            Code(
                "python",
                "class SingleFlight:\n"
                "    def __init__(self) -> None:\n"
                "        self._calls: dict[str, asyncio.Future[bytes]] = {}\n"
                "\n"
                "    async def do(self, key: str, work) -> bytes:\n"
                "        if (call := self._calls.get(key)) is not None:\n"
                "            return await asyncio.shield(call)\n"
                "        call = asyncio.get_running_loop().create_future()\n"
                "        self._calls[key] = call\n"
                "        try:\n"
                "            call.set_result(await work())\n"
                "        except BaseException as exc:  # waiters see the same error\n"
                "            call.set_exception(exc)\n"
                "        finally:\n"
                "            del self._calls[key]\n"
                "        return call.result()\n",
                caption="A minimal single-flight group.",
            ),
            H("The details that matter"),
            L(
                (
                    "Remove the entry when the call ends, success or failure, or a failed "
                    "render poisons the key forever.",
                    "Shield the shared future, so one cancelled waiter does not cancel the "
                    "render for everybody else.",
                    "Decide what waiters see on failure: the same error, or a stale copy if "
                    "you still have one.",
                )
            ),
            P(
                "This post itself was published after the last build, so the first request "
                "for it is rendered on demand — and, thanks to single-flight, only once."
            ),
        ),
    ),
    Post(
        slug="lazy-seeding",
        title="Lazy seeding: a warm cache without a warm-up",
        published="2025-11-10",
        tags=("caching", "edge"),
        summary="Instead of loading every prerendered page at start-up, load each one the "
        "first time somebody asks for it.",
        body=(
            P(
                "A server that prerenders its pages at build time still has to get them into "
                "memory. The eager way reads everything at start-up; on an edge runtime, "
                "where a fresh isolate may serve a single request, that is time nobody gets "
                "back. The lazy way reads a page the first time it is requested and keeps it."
            ),
            P(
                "The build writes each page to a file named by a hash of its route, plus a "
                "manifest saying which routes exist. At run time a miss looks the route up "
                "in the manifest, fetches that one file, and puts it in the cache."
            ),
            L(
                (
                    "Start-up cost stays flat however many pages the site has.",
                    "A route that is never requested is never read.",
                    "A seeded page is already rendered, so a seed is a copy, not a render.",
                )
            ),
            Code(
                "python",
                "async def get(route: str) -> Page:\n"
                "    page = cache.get(route)\n"
                "    if page is None:\n"
                "        page = await seed_from_assets(route) or await render(route)\n"
                "        cache.put(route, page)\n"
                "    return page\n",
            ),
            P(
                "The interesting part is what happens on the edges: a manifest that fails to "
                "load, a seed that is older than its revalidation window, and two requests "
                "that miss at once. Later posts take those one at a time."
            ),
        ),
    ),
    Post(
        slug="escaping-untrusted-text",
        title='Escaping <script> & "quotes": what templates owe you',
        published="2025-10-28",
        tags=("security", "python"),
        summary='Every < and & in your content is a bug waiting for a "creative" author. '
        "Escape at the last moment, everywhere, by default.",
        body=(
            P(
                'Suppose an author titles a post <script>alert("owned")</script>. If your '
                "template pastes titles into HTML, every visitor now runs that script. The "
                "cure is to escape text as it goes into markup: < becomes &lt;, & becomes "
                "&amp;, and quotes become entities inside attributes."
            ),
            H("Escape on output, not on input"),
            P(
                "Escaping when the data is stored looks tidy until the same text goes into "
                "JSON, a plain-text e-mail or an attribute, each of which needs something "
                'different. Store raw text such as Tom & Jerry\'s "best" <b>episodes</b>, '
                "and escape for the place where you print it."
            ),
            L(
                (
                    "Text between tags: escape <, > and &.",
                    "Attribute values: also escape \" and ', and always quote the value.",
                    "URLs: check the scheme first — [this link](javascript:alert(1)) must "
                    "not become a link at all.",
                    "Inline scripts: do not put data there; if you must, escape </script> too.",
                )
            ),
            Code(
                "html",
                '<p class="bio">Hi, I am <img src=x onerror="alert(\'xss\')"></p>\n'
                "<!-- what the visitor must see, not what the browser must run -->\n",
                caption='Hostile input: it should appear on this page as text, & "quoted".',
            ),
            Q(
                "Make the safe thing the default and the unsafe thing loud.",
                cite="every template library that got this right",
            ),
            P(
                "On this site, markup is a `str` subclass that only the element builder "
                "creates; everything else is escaped when it is printed. If this post "
                "renders with visible angle brackets, the system works."
            ),
        ),
    ),
    Post(
        slug="stale-while-revalidate",
        title="Stale-while-revalidate, explained with a timeline",
        published="2025-10-15",
        tags=("caching", "http"),
        summary="Serve the old page now, render the new one in the background: why "
        "revalidation windows keep both latency and freshness in check.",
        body=(
            P(
                "A page rendered at 12:00 with a 60-second revalidation window is fresh until "
                "12:01. A request at 12:03 gets the 12:00 page immediately, and triggers a "
                "background render; the next request gets the new one. Nobody waits for a "
                "render, and nothing is more than one window plus one render out of date."
            ),
            H("A timeline"),
            L(
                (
                    "12:00:00 — built and cached (fresh).",
                    "12:00:59 — served from cache (still fresh).",
                    "12:03:10 — served stale; a revalidation starts.",
                    "12:03:10.04 — the new page replaces the old one.",
                    "12:03:11 — served fresh.",
                ),
                ordered=True,
            ),
            P(
                "The same idea exists in HTTP as the `stale-while-revalidate` extension to "
                "`Cache-Control`. Doing it in the application instead lets you decide per "
                "route, and lets a seeded page carry its age from the build."
            ),
            Code(
                "python",
                "def is_stale(entry: Entry, now: float) -> bool:\n"
                "    if entry.revalidate is None:  # never revalidated\n"
                "        return False\n"
                "    return now - entry.generated_at >= entry.revalidate\n",
            ),
            P(
                "One subtlety: the age of a seeded page starts at the build, not at the seed. "
                "Otherwise a page built last month would look fresh for a minute after every "
                "cold start."
            ),
        ),
    ),
    Post(
        slug="python-at-the-edge",
        title="Python at the edge with Pyodide",
        published="2025-10-01",
        tags=("python", "edge"),
        summary="What it is like to run ordinary Python in a Worker: the standard library, "
        "an event loop that is already running, and a clock that stands still.",
        body=(
            P(
                "Python Workers run CPython compiled to WebAssembly, so most of the standard "
                "library simply works: `json`, `dataclasses`, `html`, `re`, `hashlib`. What "
                "changes is the environment around it."
            ),
            L(
                (
                    "There is no filesystem to read content from at run time: ship content "
                    "as Python modules or fetch it.",
                    "There are no threads; concurrency is asyncio, and the loop is already "
                    "running when your handler is called.",
                    "The clock only advances on I/O, so timing a pure computation inside a "
                    "request measures nothing.",
                    "Module import time is start-up time: do no work at import.",
                )
            ),
            Code(
                "python",
                "from workers import Response, WorkerEntrypoint\n"
                "\n"
                "class Default(WorkerEntrypoint):\n"
                "    async def fetch(self, request):\n"
                '        return Response("hello from Python")\n',
            ),
            P(
                "Write the rendering code as plain, pure functions and it runs the same on "
                "your laptop, in the build and in the Worker. That is the whole trick."
            ),
        ),
    ),
    Post(
        slug="cold-starts",
        title="The cost of a cold start",
        published="2025-09-18",
        tags=("performance", "edge"),
        summary="Where the first few hundred milliseconds of a fresh isolate go, and which "
        "of them you can actually do something about.",
        body=(
            P(
                "A cold start is everything that happens before your code can answer: "
                "creating the isolate, loading the interpreter, importing your modules, and "
                "filling whatever caches the first request needs."
            ),
            P(
                "You control the last two. Imports are cheap if modules only define things; "
                "they are expensive if they build tables, read files or compile dozens of "
                "regular expressions. Caches are cheap to fill if they fill lazily."
            ),
            H("A checklist"),
            L(
                (
                    "Move work out of module scope into functions, memoised if needed.",
                    "Compile regular expressions on first use, not on import.",
                    "Seed caches per route, on demand.",
                    "Measure the first request separately from the rest.",
                )
            ),
            Code(
                "python",
                "@functools.cache\n"
                "def _pattern() -> re.Pattern[str]:\n"
                '    return re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")\n',
            ),
            P(
                "None of this is exotic. It is the same discipline that makes command-line "
                "tools feel instant, applied to a server that starts a thousand times a day."
            ),
        ),
    ),
    Post(
        slug="hashed-file-names",
        title="Why we name files by hash",
        published="2025-09-02",
        tags=("design", "security"),
        summary="Deriving a file name from a hash of the route removes a whole class of "
        "path bugs: traversal, case collisions and awkward characters.",
        body=(
            P(
                "The obvious layout for prerendered pages mirrors the URL: `/blog/hello` "
                "becomes `blog/hello.html`. It is also the layout in which a request for "
                "`/../secrets` or `/%2e%2e/` needs careful handling, and where `/About` and "
                "`/about` share a file on a case-insensitive disk."
            ),
            P(
                "Hashing the route key sidesteps all of it. Whatever the route, its file is "
                "`routes/ab/abcdef….html`, inside the routes directory by construction."
            ),
            Code(
                "python",
                "def variant_file(route: str, ext: str) -> str:\n"
                '    digest = hashlib.sha256(route.encode("utf-8")).hexdigest()[:40]\n'
                '    return f"routes/{digest[:2]}/{digest}{ext}"\n',
            ),
            L(
                (
                    "No request path can name a file outside the subtree.",
                    "Route keys that differ only in case get different files.",
                    "Unicode routes need no escaping on disk.",
                    "The cost: you need the manifest to list what exists.",
                )
            ),
            P("A small price, and the manifest was needed anyway for revalidation times."),
        ),
    ),
    Post(
        slug="route-keys",
        title="What's in a route key? Trailing slashes, case & dots",
        published="2025-08-20",
        tags=("http", "design"),
        summary="One function decides what a URL path means. Everything else — build, "
        "cache, router — agrees by calling it.",
        body=(
            P(
                "A route key is the decoded path of a page without a trailing slash: `/`, "
                "`/about`, `/blog/hello`. Requests arrive in many spellings; the router "
                "turns each into at most one key, or refuses it."
            ),
            H("The rules"),
            L(
                (
                    "Percent-escapes are decoded strictly; a malformed escape is not a route.",
                    "A trailing slash redirects to the canonical spelling.",
                    "Empty, `.` and `..` segments are refused, not resolved.",
                    "The `.json` suffix selects the data form of the page.",
                ),
                ordered=True,
            ),
            Code(
                "python",
                'assert resolve("/blog/hello/").canonical is False\n'
                'assert resolve("/blog/hello.json").variant is Variant.DATA\n'
                'assert resolve("/blog/%zz") is None\n',
            ),
            P(
                "The payoff comes in tests: property tests can throw arbitrary strings at "
                "one function instead of chasing the same rules through three layers."
            ),
        ),
    ),
    Post(
        slug="measure-first",
        title="Measure first: a benchmarking checklist",
        published="2025-08-05",
        tags=("performance", "testing"),
        summary="Before you optimise a render path, make sure the number you are looking at "
        "measures what you think it measures.",
        body=(
            P(
                "Most wrong conclusions about performance come from measuring the wrong "
                "thing: a warm cache, a page that does no real work, or a clock that does "
                "not move."
            ),
            L(
                (
                    "Compare like with like: a cold seed against a cold render of the same page.",
                    "Give the benchmark page realistic work — layout, escaping, related "
                    "links — or rendering will look free.",
                    "Report percentiles, not just the mean.",
                    "Run it more than once, and on the platform that matters.",
                ),
                ordered=True,
            ),
            Code(
                "python",
                "def p(samples: list[float], q: float) -> float:\n"
                "    ordered = sorted(samples)\n"
                "    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]\n",
            ),
            P(
                "Then write down what you measured next to the number. Future you will not "
                "remember whether 3 ms was with or without the manifest fetch."
            ),
        ),
    ),
    Post(
        slug="byte-budget-lru",
        title="An LRU cache with a byte budget",
        published="2025-07-22",
        tags=("caching", "python"),
        summary="Counting entries is easy; memory is what runs out. Bound the cache by "
        "bytes and evict the least recently used.",
        body=(
            P(
                "An isolate has a fixed amount of memory, and a cache of rendered pages "
                "competes with everything else for it. Limiting the number of entries does "
                "not help when one page is 2 KB and another is 2 MB."
            ),
            P(
                "`OrderedDict` makes a byte-bounded LRU short: move an entry to the end on "
                "every hit, add its size on insert, and pop from the front until the total "
                "fits."
            ),
            Code(
                "python",
                "def put(self, key: str, body: bytes) -> None:\n"
                "    if len(body) > self.max_bytes:\n"
                "        return  # would evict everything; serve it uncached\n"
                "    self.drop(key)\n"
                "    self._entries[key] = body\n"
                "    self._bytes += len(body)\n"
                "    while self._bytes > self.max_bytes:\n"
                "        _, old = self._entries.popitem(last=False)\n"
                "        self._bytes -= len(old)\n",
            ),
            L(
                (
                    "Refuse entries larger than the whole budget.",
                    "Count headers too, not just bodies.",
                    "Expose hits, misses and evictions; you will want them.",
                )
            ),
        ),
    ),
    Post(
        slug="deterministic-output",
        title="Deterministic output, or why the build and the server must agree",
        published="2025-07-08",
        tags=("design", "testing"),
        summary="If a prerendered page and a fresh render of it differ, users see pages "
        "flicker between versions. Make the renderer a pure function.",
        body=(
            P(
                "A page seeded from the build and the same page re-rendered at run time are "
                "supposed to be interchangeable. They are, as long as the renderer depends on "
                "nothing but its input."
            ),
            H("Usual suspects"),
            L(
                (
                    "Iterating over a `set` of strings: the order changes between processes.",
                    "Reading the clock or a random generator at import time.",
                    "Locale-dependent formatting of dates and numbers.",
                    "Dictionary order built from unordered sources.",
                )
            ),
            P(
                "The one honest exception is a stamp saying when and how the page was "
                "generated. Pass the time in as an argument, and test everything else "
                "byte for byte."
            ),
            Code(
                "python",
                "async def test_same_input_same_bytes():\n"
                '    a = await SITE.render(RenderRequest("/blog", Variant.HTML, now=0))\n'
                '    b = await SITE.render(RenderRequest("/blog", Variant.HTML, now=0))\n'
                "    assert a.body == b.body\n",
            ),
        ),
    ),
    Post(
        slug="html-and-json",
        title="HTML for the first load, JSON for the next",
        published="2025-06-24",
        tags=("http", "design"),
        summary="Pairing every page with its data lets a client-side router navigate "
        "without re-downloading the layout.",
        body=(
            P(
                "The first visit needs complete HTML: it is what browsers render and what "
                "crawlers index. After that, a client-side router only needs the data of the "
                "next page, because the layout is already on screen."
            ),
            P(
                "So every page here comes in two variants, rendered from the same page data: "
                "`/blog/html-and-json` and `/blog/html-and-json.json`. Both are cached, and "
                "both carry the same generation stamp."
            ),
            Code(
                "json",
                "{\n"
                '  "route": "/blog/html-and-json",\n'
                '  "kind": "post",\n'
                '  "generated": {"at": "2025-06-24T12:00:00.000Z", "phase": "build"}\n'
                "}\n",
            ),
            L(
                (
                    'The HTML links to its data with `<link rel="alternate">`.',
                    "The data form of the home page is `/index.json`.",
                    "A missing page is a 404 in both forms.",
                )
            ),
        ),
    ),
    Post(
        slug="percent-encoding-pitfalls",
        title="Percent-encoding pitfalls: %2F, %00 and friends",
        published="2025-06-10",
        tags=("http", "security"),
        summary="Decoding a URL path is one line of code and a dozen ways to be wrong.",
        body=(
            P(
                "`%2F` is a slash that is not a path separator — until someone decodes it "
                "twice. `%00` is a NUL byte that some file APIs treat as the end of the "
                "string. `%C0%AF` is an overlong encoding of `/` that no valid UTF-8 decoder "
                "should accept."
            ),
            L(
                (
                    "Decode exactly once, strictly, as UTF-8.",
                    "Reject malformed escapes instead of passing them through.",
                    "Reject control characters and backslashes after decoding.",
                    "Check for private prefixes on every spelling, decoded repeatedly.",
                )
            ),
            Code(
                "python",
                'assert percent_decode("%2e%2e") == ".."\n'
                'assert percent_decode("%zz") is None\n'
                'assert percent_decode("%C0%AF") is None  # overlong\n',
            ),
            P(
                "None of these are hypothetical; each one has been a CVE somewhere. A "
                "property test that feeds random bytes to the router finds most of them in "
                "seconds."
            ),
        ),
    ),
    Post(
        slug="small-dataclasses",
        title="Small frozen dataclasses as a domain model",
        published="2025-05-27",
        tags=("python", "design"),
        summary="Frozen dataclasses give you values you can hash, compare and pass around "
        "without defensive copies.",
        body=(
            P(
                "Content on this site is a tuple of `Post` values, each with a tuple of "
                "blocks: paragraphs, headings, code, lists and quotes. Nothing mutates them, "
                "so nothing needs to copy them."
            ),
            Code(
                "python",
                "@dataclass(frozen=True)\n"
                "class Paragraph:\n"
                '    kind: ClassVar[str] = "paragraph"\n'
                "    text: str\n",
            ),
            L(
                (
                    "`frozen=True` makes instances hashable and safe to share.",
                    "`ClassVar` fields stay out of `__init__` and out of equality.",
                    "A union type of block classes reads like a grammar.",
                )
            ),
            P(
                "Page builders turn posts into page data, again as dataclasses, and a small "
                "generic function turns any of them into JSON. The HTML views never see raw "
                "content they did not have to escape."
            ),
        ),
    ),
    Post(
        slug="testing-async-python",
        title="Testing async code with pytest-asyncio",
        published="2025-05-13",
        tags=("testing", "python"),
        summary="With `asyncio_mode = auto`, async tests are just tests. A few habits "
        "keep them fast and deterministic.",
        body=(
            P(
                'Set `asyncio_mode = "auto"` and every `async def test_…` runs in an event '
                "loop without decorators. The hard part is not running them; it is making "
                "them deterministic."
            ),
            L(
                (
                    "Pass the clock in; never sleep to make time pass.",
                    "Use fakes with explicit gates (an `asyncio.Event`) to order concurrent calls.",
                    "Assert on counts — renders, fetches — not on timings.",
                )
            ),
            Code(
                "python",
                "async def test_one_render_for_concurrent_misses(fake):\n"
                "    results = await asyncio.gather(*(get('/blog') for _ in range(10)))\n"
                "    assert fake.renders == 1\n"
                "    assert len({r.body for r in results}) == 1\n",
            ),
            P(
                "Tests written this way run in milliseconds and fail for one reason only: "
                "the code is wrong."
            ),
        ),
    ),
    Post(
        slug="hello-world",
        title="Hello, world",
        published="2025-05-01",
        tags=("edge",),
        summary="Why we are starting a blog about making a small site fast.",
        body=(
            P(
                "Every engineering blog starts with a post promising more posts. Here is "
                "ours. We build small sites that have to be fast for readers on every "
                "continent, on a budget that does not include a fleet of servers."
            ),
            P(
                "We will write about what worked and what did not: prerendering, caching, "
                "edge runtimes, and the surprising amount of care it takes to turn a URL into "
                "a file name safely."
            ),
            L(
                (
                    "Short posts, each about one idea.",
                    "Real code, small enough to read in one sitting.",
                    "Numbers only when we know what they measure.",
                )
            ),
            Code("text", "$ curl -s https://example.com/ | head -1\n<!doctype html>\n"),
            P("Thanks for reading. The next post will be shorter than this promise."),
        ),
    ),
)
