"""Import patches registered through the runtime's `_cloudflare.import_patch_manager`, the API the
workers SDK registers its own with: what runs around a module's first import at top level, what
runs before the first request, and a module first imported during a request (not patched)."""

from contextlib import contextmanager

from _cloudflare.import_patch_manager import (
    block_calls,
    register_before_first_request,
    register_exec_patch,
)

EVENTS: list[str] = []


@register_exec_patch("patched_module")
@contextmanager
def around_patched_module(module):
    EVENTS.append("exec patch entered")
    yield
    EVENTS.append(f"module body ran: {module.BODY_RAN}")
    block_calls(module, allowlist=("allowed",))


@register_before_first_request("patched_module")
def before_first_request(module):
    EVENTS.append("before first request")


@register_exec_patch("late_module")
@contextmanager
def around_late_module(module):
    EVENTS.append("late module patched")
    yield


def _call(function) -> str:
    try:
        return function()
    except RuntimeError as err:
        return f"RuntimeError: {err}"


def record_top_level_calls(module) -> None:
    EVENTS.append(f"top level: {_call(module.blocked)}")
    EVENTS.append(f"top level: {_call(module.allowed)}")


def report_in_request(module) -> dict:
    import late_module

    return {
        "events": EVENTS,
        "in request": _call(module.blocked),
        "late module body ran": late_module.BODY_RAN,
    }
