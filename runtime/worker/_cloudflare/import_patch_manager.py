"""Import patches: context managers run around the first import of a named module, as in
production's `_cloudflare.import_patch_manager`, whose public calls the SDK uses.

- `register_exec_patch(name, cm)`: `cm(module)` is entered around the execution of the module's
  code (`exec_module`), so code after its `yield` can replace the module's attributes.
- `register_create_patch(name, cm)`: `cm(spec)` around `create_module` (extension modules).
- `register_before_first_request(name, fn)`: `fn(module)` before the first request, for each
  patched module that was imported.
- `register_after_snapshot(name, fn)`: recorded, never called: there is no snapshot here.
- `block_calls(module, allowlist=())`: until the first request, `sys.modules[name]` is a proxy
  whose callables (outside `allowlist`) raise RuntimeError; then the module is put back.

All of them take effect only while the patch finder is installed: from before `python_modules`
is processed (its `.pth` registers the SDK's patches) until the first request
(`lifecycle.before_first_request`). A module first imported during a request is imported
unpatched, exactly as in production, where top-level imports run before the snapshot.
Decorator use (`@register_exec_patch("anyio.to_thread")`) and direct calls both work.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from functools import partial, wraps
from importlib.abc import Loader, MetaPathFinder
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

ExecPatch = Callable[[ModuleType], AbstractContextManager[Any]]
CreatePatch = Callable[[ModuleSpec], AbstractContextManager[Any]]
ModuleHook = Callable[[ModuleType], None]


@dataclass
class ModulePatches:
    """What is registered for one module name."""

    create: CreatePatch = nullcontext
    exec: ExecPatch = nullcontext
    before_first_request: ModuleHook | None = None
    after_snapshot: ModuleHook | None = None


patches: dict[str, ModulePatches] = {}
before_first_request_hooks: list[Callable[[], None]] = []
after_snapshot_hooks: list[Callable[[], None]] = []
# Modules replaced in sys.modules by a ModuleWithBlockedCalls, by name, until the first request.
blocked_modules: dict[str, ModuleType] = {}
in_request_context = False


def _register(kind: str, name: str, value: Any) -> Any:
    if value is None:  # used as a decorator: @register_...(name)
        return partial(_register, kind, name)
    setattr(patches.setdefault(name, ModulePatches()), kind, value)
    return value


def register_exec_patch(name: str, context_manager: ExecPatch | None = None) -> Any:
    return _register("exec", name, context_manager)


def register_create_patch(name: str, context_manager: CreatePatch | None = None) -> Any:
    return _register("create", name, context_manager)


def register_before_first_request(name: str, handler: ModuleHook | None = None) -> Any:
    return _register("before_first_request", name, handler)


def register_after_snapshot(name: str, handler: ModuleHook | None = None) -> Any:
    return _register("after_snapshot", name, handler)


def block_calls(module: ModuleType, *, allowlist: tuple[str, ...] = ()) -> None:
    """Until the first request, calls through `sys.modules[module.__name__]` to callables not in
    `allowlist` raise RuntimeError (production: their random state is not yet reseeded)."""
    blocked_modules[module.__name__] = module
    sys.modules[module.__name__] = ModuleWithBlockedCalls(module, allowlist)  # type: ignore[assignment]


class ModuleWithBlockedCalls:
    """Stands in for a module: attributes read through; callables outside the allowlist raise
    until the first request, then behave as the module's own (references taken at top level
    outlive the swap back, so the check is made at call time)."""

    def __init__(self, module: ModuleType, allowlist: tuple[str, ...]) -> None:
        object.__setattr__(self, "_blocked_module", module)
        object.__setattr__(self, "_blocked_allowlist", allowlist)

    def __getattribute__(self, name: str) -> Any:
        module = object.__getattribute__(self, "_blocked_module")
        value = getattr(module, name)
        if in_request_context or not callable(value):
            return value
        if name in object.__getattribute__(self, "_blocked_allowlist"):
            return value

        @wraps(value)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if not in_request_context:
                raise RuntimeError(
                    f"Cannot use {module.__name__}.{name}() outside of request context"
                )
            return value(*args, **kwargs)

        return guarded

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(object.__getattribute__(self, "_blocked_module"), name, value)

    def __dir__(self) -> list[str]:
        return dir(object.__getattribute__(self, "_blocked_module"))


class PatchingLoader(Loader):
    """Wraps a module's own loader: its create/exec run inside the registered patches."""

    def __init__(self, loader: Loader, registered: ModulePatches) -> None:
        self.loader = loader
        self.registered = registered

    def __getattr__(self, name: str) -> Any:
        return getattr(self.loader, name)

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        with self.registered.create(spec):
            return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        if hook := self.registered.before_first_request:
            before_first_request_hooks.append(partial(hook, module))
        if hook := self.registered.after_snapshot:
            after_snapshot_hooks.append(partial(hook, module))
        with self.registered.exec(module):
            self.loader.exec_module(module)


class PatchFinder(MetaPathFinder):
    """First on sys.meta_path: for a registered name, the spec the other finders give, with
    its loader wrapped; for any other name, nothing (the usual finders answer)."""

    def find_spec(
        self, fullname: str, path: Any = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        registered = patches.get(fullname)
        if registered is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None:
            spec.loader = PatchingLoader(spec.loader, registered)
        return spec


def install() -> None:
    if not any(isinstance(f, PatchFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, PatchFinder())


def remove() -> None:
    """Takes the finder out and ends call blocking: the request context begins."""
    global in_request_context
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, PatchFinder)]
    in_request_context = True
    sys.modules.update(blocked_modules)
