"""The soak's traffic: every URL of the mix (`build_probes`, from the build's manifest and
the site's render modes), each with what it must give (`Probe`), and a deterministic
schedule drawn by group weight (`make_schedule`).

The groups: prerendered pages and their `.json` data variants, on-demand pages, the
dynamic page, unknown paths (404), non-canonical spellings (trailing slash: 308), other
spellings of a page that serve it directly (percent-encoded letters, a query), spellings
of the private /__prerender/ prefix (404), and public files served by the asset layer.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

NOT_FOUND_ROUTE = "/_not-found"  # what the Worker renders for a path that cannot be a route
PRIVATE_PREFIX = "/__prerender/"
_URL_SAFE = "/-._~!$&'()*+,;=:@"

# Share of the schedule per group of URLs (relative weights).
WEIGHTS: dict[str, float] = {
    "prerendered": 30,  # HTML of routes the build rendered
    "data": 20,  # their .json data variants
    "on-demand": 10,  # routes rendered on first request (then cached)
    "dynamic": 5,  # rendered for every request
    "unknown": 12,  # 404
    "redirect": 10,  # non-canonical spellings: 308
    "alias": 3,  # other spellings served directly (percent-encoded letter, query)
    "private": 5,  # /__prerender/ in many spellings: 404
    "static": 5,  # public files served by the asset layer
}

# Groups whose URLs name routes the build prerendered.
PRERENDERED_GROUPS = ("prerendered", "data", "alias")


@dataclass(frozen=True)
class Probe:
    """One URL of the mix and what it must give.

    kind "page": the site's page for (route, variant); "redirect": 308 to `location`;
    "private": 404 without private bytes (or a redirect to a private path); "static":
    the public file `asset` byte for byte."""

    url: str
    group: str
    kind: str
    route: str = ""
    variant: str = ""
    location: str = ""
    asset: str = ""


def url_of(route: str, variant: str = "html") -> str:
    """The canonical URL path of a route's variant (no basePath, no trailing slash)."""
    if variant != "data":
        return quote(route, safe=_URL_SAFE)
    return quote("/index.json" if route == "/" else route + ".json", safe=_URL_SAFE)


def build_probes(
    manifest: Mapping[str, Any],
    modes: Mapping[str, str],
    statics: Sequence[str],
    private_files: Sequence[str],
    *,
    unknown_count: int = 40,
    seed: int = 1,
) -> list[Probe]:
    """Every URL of the mix, from the build's manifest (which routes exist and which
    the build rendered) and the site's render modes (route -> "prerender",
    "on-demand" or "dynamic"). Needs a site without basePath or trailing slashes."""
    if manifest.get("basePath") or manifest.get("trailingSlash"):
        raise ValueError("the mix assumes basePath '' and trailingSlash false")
    routes: Mapping[str, Any] = manifest["routes"]
    probes: list[Probe] = []

    def page(url: str, group: str, route: str, variant: str) -> None:
        probes.append(Probe(url, group, "page", route=route, variant=variant))

    for route, record in sorted(routes.items()):
        if record.get("status") == "rendered":
            page(url_of(route), "prerendered", route, "html")
            page(url_of(route, "data"), "data", route, "data")
        else:
            group = "dynamic" if modes.get(route) == "dynamic" else "on-demand"
            page(url_of(route), group, route, "html")
            page(url_of(route, "data"), group, route, "data")
        if route != "/":
            canonical = url_of(route)
            probes.append(Probe(canonical + "/", "redirect", "redirect", location=canonical))

    known = sorted(routes)
    rendered = [r for r in known if routes[r].get("status") == "rendered" and r != "/"]
    first = rendered[0] if rendered else known[0]
    probes.append(
        Probe(
            url_of(first) + "/?utm=load",
            "redirect",
            "redirect",
            location=url_of(first) + "?utm=load",
        )
    )
    for name in statics:
        probes.append(Probe(f"/{name}/", "redirect", "redirect", location=f"/{name}"))
        probes.append(Probe(f"/{name}", "static", "static", asset=name))

    # Other spellings of a page, served directly.
    for route in rendered[:4]:
        encoded = f"/%{ord(route[1]):02X}" + quote(route[2:], safe=_URL_SAFE)
        page(encoded, "alias", route, "html")
        page(url_of(route) + "?q=load", "alias", route, "html")
        page(url_of(route, "data") + "?q=load", "alias", route, "data")

    # Unknown paths: the 404 page, for the route the path names, or for no route at all.
    unknown: list[tuple[str, str, str]] = [
        ("/no/such/page", "/no/such/page", "html"),
        ("/no/such/page.json", "/no/such/page", "data"),
        ("/%zz", NOT_FOUND_ROUTE, "html"),
        ("//" + first.lstrip("/"), NOT_FOUND_ROUTE, "html"),
        ("/index", NOT_FOUND_ROUTE, "html"),
        ("/.json", NOT_FOUND_ROUTE, "html"),
        (url_of(first, "data") + "/", NOT_FOUND_ROUTE, "html"),
    ]
    upper = first.upper()
    if upper not in routes:
        unknown.append((url_of(upper), upper, "html"))
    near = [r for r in rendered if r.startswith("/blog/")]
    if near and near[0][:-1] not in routes:
        unknown.append((url_of(near[0][:-1]), near[0][:-1], "html"))
    rng = random.Random(seed)
    for _ in range(unknown_count):
        route = f"/missing/{rng.getrandbits(40):010x}"
        variant = rng.choice(("html", "data"))
        unknown.append((url_of(route, variant), route, variant))
    for url, route, variant in unknown:
        page(url, "unknown", route, variant)

    for spelling in private_spellings(private_files):
        probes.append(Probe(spelling, "private", "private"))
    return probes


def private_spellings(private_files: Sequence[str]) -> list[str]:
    """URL paths naming the private prefix: its files, and spellings of one of them
    (encoded, other case, doubled slash, dot segments)."""
    files = sorted(private_files)
    if not files:
        return ["/__prerender/", "/__prerender"]
    rest = files[0]  # e.g. "packs/17.bin"
    spellings = [f"/__prerender/{name}" for name in files[:4]]
    spellings += [
        f"/%5F%5Fprerender/{rest}",
        f"/%5f_prerender/{rest}",
        f"//__prerender/{rest}",
        f"/__PRERENDER/{rest}",
        f"/x/../__prerender/{rest}",
        f"/__prerender/{rest}.json",
        "/__prerender/",
        "/__prerender",
    ]
    return spellings


def make_schedule(
    probes: Sequence[Probe], total: int, seed: int, weights: Mapping[str, float] = WEIGHTS
) -> list[Probe]:
    """`total` probes drawn deterministically: a group by its weight, then a URL of it."""
    by_group: dict[str, list[Probe]] = {}
    for probe in probes:
        by_group.setdefault(probe.group, []).append(probe)
    groups = [g for g in weights if g in by_group and weights[g] > 0]
    if not groups:
        raise ValueError("no probe belongs to a weighted group")
    rng = random.Random(seed)
    picked = rng.choices(groups, [weights[g] for g in groups], k=total)
    return [rng.choice(by_group[group]) for group in picked]
