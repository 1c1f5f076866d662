"""Finding the site to build from a `module:attribute` spec, as ASGI servers find an app
(`uvicorn main:app`): the module is imported from the app directory (by default the
folder of the Worker's main module in wrangler.toml, where the site's code lives), and
the attribute must be a renderer (`seeding.rendering.Renderer`), e.g. an
`seeding.asgi.AsgiSite` wrapping the app.
"""

from __future__ import annotations

import importlib
import sys
import tomllib
from pathlib import Path
from typing import cast

from seeding.config import settings_from_vars
from seeding.rendering import Renderer


class SiteLoadError(Exception):
    """The spec names no usable site: the message says what and the fix."""


def worker_source_dir(config: Path) -> Path:
    """The folder of `main` in a wrangler.toml: what wrangler uploads as the Worker."""
    try:
        raw = tomllib.loads(config.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SiteLoadError(f"{config}: cannot read it: {exc}") from None
    main = raw.get("main")
    if not isinstance(main, str) or not main.endswith(".py"):
        raise SiteLoadError(f"{config}: main must name the Worker's .py entry (got {main!r})")
    return (config.parent / main).parent


def site_origin(config: Path) -> str | None:
    """`SITE_ORIGIN` from the `[vars]` of a wrangler.toml (None: unset, or no such
    file), parsed as the Worker parses it, so build and run time render for the same
    origin. A bad value stops the build (the Worker would log it and ignore it)."""
    if not config.is_file():
        return None
    try:
        raw = tomllib.loads(config.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SiteLoadError(f"{config}: cannot read it: {exc}") from None
    table = raw.get("vars")
    values = table if isinstance(table, dict) else {}
    settings, errors = settings_from_vars(
        lambda name: values.get(name) if name == "SITE_ORIGIN" else None
    )
    if errors:
        raise SiteLoadError(f"{config}: {errors[0]}")
    return settings.site_origin


def default_app_dir(cwd: Path) -> Path:
    config = cwd / "wrangler.toml"
    return worker_source_dir(config) if config.is_file() else cwd


def load_site(spec: str, app_dir: Path) -> Renderer:
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise SiteLoadError(f"--site {spec!r}: expected 'module:attribute', e.g. 'app:SITE'")
    path = str(app_dir.resolve())
    if path not in sys.path:
        sys.path.insert(0, path)
    try:
        obj: object = importlib.import_module(module_name)
    except ImportError as exc:
        raise SiteLoadError(
            f"--site {spec!r}: cannot import {module_name!r} from {app_dir}: {exc} "
            "(check --app-dir)"
        ) from exc
    for name in attribute.split("."):
        try:
            obj = getattr(obj, name)
        except AttributeError:
            raise SiteLoadError(f"--site {spec!r}: {module_name} has no {attribute!r}") from None
    if all(hasattr(obj, name) for name in ("config", "site_routes", "render")):
        return cast(Renderer, obj)
    if callable(obj):
        raise SiteLoadError(
            f"--site {spec!r} is a plain callable (an ASGI app?); wrap it so the build knows "
            "what to prerender: `site = AsgiSite(app, prerender=[...])` (seeding.asgi), then "
            "pass that"
        )
    raise SiteLoadError(f"--site {spec!r} is a {type(obj).__name__}, not a site renderer")
