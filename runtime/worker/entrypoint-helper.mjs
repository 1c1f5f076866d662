// The two runtime-internal modules the `workers` SDK imports, which production workerd provides
// (`_pyodide_entrypoint_helper`, `_cloudflare_compat_flags`): see the .pyi stubs in the SDK wheel.
import * as cloudflareWorkers from "cloudflare:workers";
import * as cloudflareSockets from "cloudflare:sockets";

export function makeEntrypointHelper({ onBackgroundError }) {
  const patched = new WeakSet();

  // WorkerEntrypoint.__init__ calls this on ctx. A Python coroutine handed to ctx.waitUntil
  // arrives as a *borrowed* proxy, destroyed as soon as waitUntil returns; without an owned copy
  // that is awaited, the coroutine would never run.
  function patchWaitUntil(ctx) {
    let tag;
    try {
      tag = Object.prototype.toString.call(ctx);
    } catch {}
    if (tag !== "[object ExecutionContext]" || patched.has(ctx)) return;
    const waitUntil = ctx.waitUntil.bind(ctx);
    ctx.waitUntil = function (awaitable) {
      const owned = typeof awaitable?.copy === "function" ? awaitable.copy() : awaitable;
      waitUntil(
        (async () => {
          try {
            await owned;
          } catch (err) {
            onBackgroundError(err);
          } finally {
            if (typeof owned?.destroy === "function") owned.destroy();
          }
        })(),
      );
    };
    patched.add(ctx);
  }

  return {
    cloudflareWorkersModule: cloudflareWorkers,
    cloudflareSocketsModule: cloudflareSockets,
    patchWaitUntil,
    // wrangler registers python_modules/workers/*.js as ES modules; they are bundled likewise here.
    doAnImport(name) {
      return /^[a-z]+:/.test(name) ? import(name) : import(`./${name}`);
    },
    patch_env_helper() {
      throw new Error("workers.patch_env is not supported by the local runtime");
    },
  };
}

// Any flag the SDK asks about that is not listed reads false (workerd knows every flag).
export function makeCompatFlags(values) {
  return new Proxy(values, {
    get: (target, name) => (typeof name === "string" ? Boolean(target[name]) : undefined),
    has: () => true,
  });
}
