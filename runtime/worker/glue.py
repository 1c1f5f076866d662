# The Python half of the per-request call, as workerd's Python glue makes it
# (introspection.wrapper_func): a new entrypoint instance for each request, its JS arguments
# converted with the SDK's python_from_rpc, the result converted back with python_to_rpc.
# Executed into a private module object by pyodide-worker.mjs, never importable by user code.
import inspect

from workers import python_from_rpc, python_to_rpc


def _relaxed_call(method, *args):
    # workerd calls handlers "relaxed": extra positional arguments are dropped when the
    # method does not accept them.
    try:
        params = inspect.signature(method).parameters.values()
    except (TypeError, ValueError):
        return method(*args)
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params):
        return method(*args)
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return method(*args[: len(positional)])


async def call_fetch(entrypoint_class, ctx, env, request):
    instance = entrypoint_class(ctx, env)
    result = _relaxed_call(instance.fetch, python_from_rpc(request))
    if inspect.isawaitable(result):
        result = await result
    return python_to_rpc(result)


async def call_scheduled(entrypoint_class, ctx, env, controller):
    # A Cron Trigger: the handler takes (controller, env, ctx), as the Python Workers docs
    # write it; env and ctx are the instance's own (self.env, self.ctx), the controller (its
    # `cron`, `scheduledTime`, `noRetry()`) is passed through python_from_rpc.
    instance = entrypoint_class(ctx, env)
    result = _relaxed_call(
        instance.scheduled, python_from_rpc(controller), instance.env, instance.ctx
    )
    if inspect.isawaitable(result):
        await result


def eval_json(source):
    """Test mode's `POST /eval`: run `source` in a fresh namespace inside this isolate and
    answer JSON text of the value of its last line when that is an expression (else null).
    Dataclasses become dicts, sets and tuples lists, anything else JSON cannot hold its repr.
    Modules are shared with the Worker (`import entry` is the running Worker's module)."""
    import ast
    import dataclasses
    import json

    tree = ast.parse(source, "<control eval>", "exec")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    namespace = {"__name__": "__control_eval__"}
    exec(compile(tree, "<control eval>", "exec"), namespace)
    value = None if last is None else eval(compile(last, "<control eval>", "eval"), namespace)

    def jsonable(obj):
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            return dataclasses.asdict(obj)
        if isinstance(obj, (set, frozenset, tuple)):
            return list(obj)
        return repr(obj)

    return json.dumps(value, default=jsonable)
