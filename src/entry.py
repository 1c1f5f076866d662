"""Worker entry point: wiring only. The request flow lives in `seeding.handler`."""

import logging
import time

from workers import WorkerEntrypoint

from app import SITE, SITE_CONFIG
from seeding.cache import DEFAULT_MAX_BYTES
from seeding.config import (
    CACHE_BUDGET_VAR,
    DEFAULT_INDEX_KIND,
    INDEX_KIND_VAR,
    ConfigError,
    cache_budget,
    index_kind,
)
from seeding.handler import SiteHandler, create_handler
from workers_bridge import AssetsBinding, to_js_response, to_plain_request

# Seeding and regeneration report to the Workers log (stderr); INFO shows regenerations.
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")

# Isolate-global: created by the first request (the budget is a wrangler var, and
# env only exists inside a request), then shared by every request of the isolate.
_handler: SiteHandler | None = None


def _isolate_handler(env) -> SiteHandler:
    global _handler
    if _handler is None:
        try:
            budget = cache_budget({CACHE_BUDGET_VAR: getattr(env, CACHE_BUDGET_VAR, None)})
        except ConfigError as exc:
            print(f"error: {exc}; using the default of {DEFAULT_MAX_BYTES} bytes")
            budget = DEFAULT_MAX_BYTES
        try:
            kind = index_kind({INDEX_KIND_VAR: getattr(env, INDEX_KIND_VAR, None)})
        except ConfigError as exc:
            print(f"error: {exc}; using {DEFAULT_INDEX_KIND!r}")
            kind = DEFAULT_INDEX_KIND
        _handler = create_handler(
            SITE, SITE_CONFIG, max_bytes=budget, clock=time.time, index_kind=kind
        )
    return _handler


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        handler = _isolate_handler(self.env)
        # Bindings are looked up only when used: a cached page needs neither.
        response = await handler.handle(
            to_plain_request(request),
            AssetsBinding(self.env),
            lambda job: self.ctx.waitUntil(job),
        )
        return to_js_response(response)
