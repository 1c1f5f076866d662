"""The two moments the host (pyodide-worker.mjs) tells Python about, as production's
`entropy_patches` does: before the top-level scope runs, and before the first request."""

from __future__ import annotations

from _cloudflare import import_patch_manager


def before_top_level() -> None:
    """Before python_modules is added as a site dir (the SDK's .pth registers its patches) and
    before the main module is imported: from now on registered modules are patched on import."""
    import_patch_manager.install()


def before_first_request() -> None:
    """Once, before the first request reaches the Worker: imports are no longer patched, blocked
    modules are put back, then each imported patched module's before-first-request hook runs.
    Later calls do nothing."""
    if import_patch_manager.in_request_context:
        return
    import_patch_manager.remove()
    for hook in import_patch_manager.before_first_request_hooks:
        hook()
