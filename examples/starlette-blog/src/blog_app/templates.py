"""The Jinja2 templates, as strings keyed by name (for `jinja2.DictLoader`).

They live in a Python module because a Python Worker uploads only the `*.py` files under
`src/`: a `templates/` folder of `.html` files would be missing at run time. Every page
extends `layout.html` (head with the inlined stylesheet, header, nav, footer with the time
the page was generated). Autoescape is on for all of them (see `rendering.py`), so nothing
here marks content as safe.
"""

from __future__ import annotations

LAYOUT = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{% block title %}{% endblock %} · {{ site_name }}</title>
<style>
:root { color-scheme: light dark; --accent: #b4451f; --muted: #6b6b6b; }
body { font: 17px/1.6 system-ui, sans-serif; max-width: 44rem; margin: 0 auto; padding: 0 1rem; }
header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 1rem;
         border-bottom: 1px solid #8884; padding: 1rem 0; }
header .brand { font-weight: 700; font-size: 1.25rem; color: inherit; text-decoration: none; }
nav a { margin-right: .75rem; color: var(--accent); }
nav a[aria-current="page"] { font-weight: 700; text-decoration: none; }
main { padding: 1rem 0 2rem; }
.meta, footer { color: var(--muted); font-size: .9rem; }
.tags { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: .5rem; }
.tags a { color: var(--accent); }
.posts { list-style: none; padding: 0; }
.posts li { margin-bottom: 1.25rem; }
footer { border-top: 1px solid #8884; padding: 1rem 0 2rem; }
</style>
</head>
<body>
<header>
<a class="brand" href="/">{{ site_name }}</a>
<nav>
{%- for href, label in nav %}
<a href="{{ href }}"{% if href == current %} aria-current="page"{% endif %}>{{ label }}</a>
{%- endfor %}
</nav>
</header>
<main>
{% block content %}{% endblock %}
</main>
<footer>
<p>{{ site_name }} · a Starlette + Jinja2 app behind a lazy-seeded memory cache.</p>
<p class="generated">Generated at
<time datetime="{{ generated_iso }}">{{ generated_at }}</time>.</p>
</footer>
</body>
</html>
"""

MACROS = """\
{% macro tag_links(tags) -%}
<ul class="tags">
{%- for tag in tags %}<li><a href="/tags/{{ tag }}">#{{ tag }}</a></li>{% endfor -%}
</ul>
{%- endmacro %}

{% macro post_list(posts) -%}
<ul class="posts">
{%- for post in posts %}
<li>
<a href="{{ post.path }}">{{ post.title }}</a>
<div class="meta">{{ post.published }}</div>
<p>{{ post.summary }}</p>
</li>
{%- endfor %}
</ul>
{%- endmacro %}
"""

HOME = """\
{% extends "layout.html" %}
{% from "macros.html" import post_list, tag_links %}
{% block title %}Home{% endblock %}
{% block content %}
<h1>{{ site_name }}</h1>
<p>Notes on caching, ASGI and Python at the edge.
This page and the About page are cached until the next deploy;
posts are refreshed every minute; <a href="/now">/now</a> and
<a href="/search">/search</a> are rendered for every request.</p>
<h2>Latest posts</h2>
{{ post_list(posts) }}
<p><a href="/posts">All posts</a> · <a href="/releases">Releases</a>
· <a href="/api/posts.json">posts.json</a></p>
<h2>Tags</h2>
{{ tag_links(tags) }}
{% endblock %}
"""

ABOUT = """\
{% extends "layout.html" %}
{% block title %}About{% endblock %}
{% block content %}
<h1>About</h1>
<p>{{ site_name }} is a small example site: a plain Starlette application with Jinja2
templates. It knows nothing of the cache in front of it; its HTTP headers say how long each
page may be kept and which tags it carries.</p>
<p>This page is served by a synchronous endpoint on purpose. Starlette runs such endpoints
through <code>anyio.to_thread</code>; inside a Python Worker, which has no threads, the
platform runs them inline.</p>
{% endblock %}
"""

POSTS_INDEX = """\
{% extends "layout.html" %}
{% from "macros.html" import post_list %}
{% block title %}Posts{% endblock %}
{% block content %}
<h1>Posts</h1>
{{ post_list(posts) }}
{% endblock %}
"""

POST = """\
{% extends "layout.html" %}
{% from "macros.html" import tag_links %}
{% block title %}{{ post.title }}{% endblock %}
{% block content %}
<article>
<h1>{{ post.title }}</h1>
<p class="meta">Published {{ post.published }}</p>
{{ tag_links(post.tags) }}
{%- for paragraph in post.paragraphs %}
<p>{{ paragraph }}</p>
{%- endfor %}
</article>
<p><a href="/posts">All posts</a></p>
{% endblock %}
"""

TAG = """\
{% extends "layout.html" %}
{% from "macros.html" import post_list %}
{% block title %}#{{ tag }}{% endblock %}
{% block content %}
<h1>Posts tagged #{{ tag }}</h1>
{{ post_list(posts) }}
{% endblock %}
"""

RELEASES = """\
{% extends "layout.html" %}
{% block title %}Releases{% endblock %}
{% block content %}
<h1>Releases</h1>
<p>Read from an upstream JSON API and refreshed every couple of seconds.</p>
<ul class="posts">
{%- for release in releases %}
<li><strong>{{ release.version }}</strong>
{%- if release.title and release.title != release.version %} · {{ release.title }}{% endif %}
<span class="meta">{{ release.published }}</span>
{%- if release.notes %}<p>{{ release.notes }}</p>{% endif %}</li>
{%- else %}
<li>No releases yet.</li>
{%- endfor %}
</ul>
{% endblock %}
"""

UPSTREAM_ERROR = """\
{% extends "layout.html" %}
{% block title %}Upstream unavailable{% endblock %}
{% block content %}
<h1>Upstream unavailable</h1>
<p>The releases API could not be read just now. Please try again in a moment.</p>
{% endblock %}
"""

NOW = """\
{% extends "layout.html" %}
{% block title %}Now{% endblock %}
{% block content %}
<h1>Now</h1>
<p>This page is rendered for every request and never cached. Reload it: the time changes.</p>
<p class="now">It is <time datetime="{{ generated_iso }}">{{ generated_at }}</time>.</p>
{% endblock %}
"""

SEARCH = """\
{% extends "layout.html" %}
{% from "macros.html" import post_list %}
{% block title %}Search{% endblock %}
{% block content %}
<h1>Search</h1>
<form action="/search" method="get">
<input type="search" name="q" value="{{ query }}" aria-label="Search post titles">
<button type="submit">Search</button>
</form>
{%- if query %}
<p class="result-count">
{{- posts | length }} result{{ "" if posts | length == 1 else "s" }} for “{{ query }}”.</p>
{{ post_list(posts) }}
{%- endif %}
{% endblock %}
"""

NOT_FOUND = """\
{% extends "layout.html" %}
{% block title %}Not found{% endblock %}
{% block content %}
<h1>Page not found</h1>
<p>There is no page at <code>{{ path }}</code>. Try <a href="/posts">the posts</a> or
<a href="/search">a search</a>.</p>
{% endblock %}
"""

TEMPLATES: dict[str, str] = {
    "layout.html": LAYOUT,
    "macros.html": MACROS,
    "home.html": HOME,
    "about.html": ABOUT,
    "posts.html": POSTS_INDEX,
    "post.html": POST,
    "tag.html": TAG,
    "releases.html": RELEASES,
    "upstream_error.html": UPSTREAM_ERROR,
    "now.html": NOW,
    "search.html": SEARCH,
    "not_found.html": NOT_FOUND,
}
