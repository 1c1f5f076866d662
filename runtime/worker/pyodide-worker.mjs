// The workerd side of the local runtime: a plain JS module worker that hosts the Python Worker.
// It loads Pyodide inside this isolate, writes the Worker's files into Pyodide's file system,
// imports the main module and, per request, calls `Default(ctx, env).fetch(request)` the way
// workerd's own Python glue does. Python thus runs in a real workerd isolate with the real
// `env` and `ExecutionContext`.
import { INDEX_URL } from "./shims.mjs"; // first: patches globals before Pyodide is evaluated
import { loadPyodide } from "./pyodide/pyodide.mjs";
import createPyodideModule from "./pyodide/pyodide.asm.mjs";
import lockFileText from "./pyodide/pyodide-lock.json"; // Text
import configText from "./runtime-config.json"; // Text, written by runtime/miniflare-options.mjs
import filesText from "./python-files.json"; // Text: { "<dir>": { "<relative path>": base64 } }
import glueSource from "./glue.py"; // Text
import { makeCompatFlags, makeEntrypointHelper } from "./entrypoint-helper.mjs";
import { registerAll as registerPrecompiledWasm } from "./precompiled-wasm.mjs";
import { BindingWatch } from "./binding-proxy.mjs";

const config = JSON.parse(configText);
// User code lives where production puts it, so tracebacks show the same paths.
const SRC_DIR = "/session/metadata";
const VENDOR_DIR = "/session/metadata/python_modules";
const LOG_LIMIT = 10000;
// Test mode: KV and D1 calls of Python logged, with faults (binding-proxy.mjs).
const bindingWatch = config.testMode ? new BindingWatch(config.storageBindings) : undefined;

// What the control API reads: requests that reached Python, Python's output, errors.
const log = { requests: [], output: [], errors: [] };
function record(list, entry) {
  list.push(entry);
  if (list.length > LOG_LIMIT) list.splice(0, list.length - LOG_LIMIT);
}

function pythonErrorText(err) {
  // A Python exception reaches JS as a PythonError whose message is the formatted traceback.
  return err?.constructor?.name === "PythonError" ? err.message : err?.stack ?? String(err);
}

function reportError(kind, err, detail = "") {
  const text = pythonErrorText(err);
  console.error(`[python] ${kind}${detail ? ` (${detail})` : ""}:\n${text.trimEnd()}`);
  record(log.errors, { t: Date.now(), kind, detail, message: text });
}

function writeTree(FS, root, files) {
  for (const [rel, b64] of Object.entries(files)) {
    const full = `${root}/${rel}`;
    FS.mkdirTree(full.slice(0, full.lastIndexOf("/")));
    FS.writeFile(full, Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)), { canOwn: true });
  }
}

// One Python per isolate. A failed start (say, an ImportError in src) stays failed, as the
// files cannot change within an isolate: every request answers 500 with that traceback until a
// restart (server.mjs --watch restarts on edits).
let pythonPromise;
function getPython() {
  pythonPromise ??= boot();
  return pythonPromise;
}

async function boot() {
  const files = JSON.parse(filesText);
  await registerPrecompiledWasm(files.python_modules);
  const pyodide = await loadPyodide({
    indexURL: INDEX_URL,
    lockFileContents: lockFileText,
    createPyodideModule,
    env: { HOME: "/session" },
    stdout: (line) => {
      record(log.output, { t: Date.now(), stream: "stdout", line });
      console.log(line);
    },
    stderr: (line) => {
      record(log.output, { t: Date.now(), stream: "stderr", line });
      console.error(line);
    },
  });
  pyodide.registerJsModule(
    "_pyodide_entrypoint_helper",
    makeEntrypointHelper({ onBackgroundError: (err) => reportError("exception in ctx.waitUntil task", err) }),
  );
  pyodide.registerJsModule("_cloudflare_compat_flags", makeCompatFlags(config.compatFlags));

  writeTree(pyodide.FS, SRC_DIR, files.src);
  writeTree(pyodide.FS, VENDOR_DIR, files.python_modules);
  // The runtime's _cloudflare package goes where production puts it (site-packages), and its
  // import patches are on before python_modules' .pth files run (they register the SDK's).
  writeTree(pyodide.FS, pyodide.runPython("import sysconfig; sysconfig.get_paths()['purelib']"), files.runtime);
  pyodide.runPython("from _cloudflare.lifecycle import before_top_level; before_top_level()");
  // python_modules is a site dir (its .pth files run), src comes first on the path.
  pyodide.runPython(
    `import site, sys\nsite.addsitedir(${JSON.stringify(VENDOR_DIR)})\nsys.path.insert(0, ${JSON.stringify(SRC_DIR)})`,
  );

  const glue = pyodide.runPython("from types import ModuleType; ModuleType('_local_runtime_glue')");
  pyodide.runPython(glueSource, { globals: glue.__dict__, filename: "/local-runtime/glue.py" });
  const main = pyodide.pyimport(config.mainModule);
  const entrypoint = main.Default;
  if (typeof entrypoint !== "function") {
    throw new Error(`${config.mainModule}.py defines no Default(WorkerEntrypoint) class`);
  }
  return { pyodide, callFetch: glue.call_fetch, evalJson: glue.eval_json, entrypoint, inRequestContext: false };
}

// workerd calls Python "promising" (JSPI: Python may then block on a JS promise with run_sync).
// Pyodide decides at load whether JSPI works here; without it, calls are made the ordinary way
// (every `await` still works, only run_sync does not).
function callPython(pyodide, fn, ...args) {
  return pyodide._module.jspiSupported ? fn.callWithOptions({ promising: true }, ...args) : fn(...args);
}

// With [cache] enabled: the edge's purge API on ctx, as production's `ctx.cache`. The options
// must be a JS object (from Python: to_js(options, dict_converter=Object.fromEntries)); a Python
// dict arrives as a PyProxy, which the platform cannot read either, so it is refused here.
function edgeCacheApi(edge) {
  const call = async (op, options) => {
    if (typeof options?.toJs === "function") {
      throw new TypeError(
        `ctx.cache.${op}() takes a JS object, got a Python ${options.type ?? "object"}: ` +
          "pass to_js(options, dict_converter=Object.fromEntries) (from pyodide.ffi)",
      );
    }
    const response = await edge.fetch(`http://edge.local/${op}`, { method: "POST", body: JSON.stringify(options ?? null) });
    const answer = await response.json();
    if (answer.error) throw new (answer.kind === "TypeError" ? TypeError : Error)(answer.error);
    return answer;
  };
  return { purge: (options) => call("purge", options), invalidate: (options) => call("invalidate", options) };
}

// Python's view of env: the runtime's own edge binding left out.
function withoutEdgeBinding(env) {
  const name = config.edgeBinding;
  return new Proxy(env, {
    get: (target, prop) => (prop === name ? undefined : Reflect.get(target, prop)),
    has: (target, prop) => prop !== name && Reflect.has(target, prop),
  });
}

async function handle(request, env, ctx) {
  const url = new URL(request.url);
  const entry = { t: Date.now(), method: request.method, path: url.pathname + url.search, status: null, ms: null };
  record(log.requests, entry);
  try {
    const python = await getPython();
    const { pyodide, callFetch, entrypoint } = python;
    if (!python.inRequestContext) {
      // As production: imports are patched until the first request, then its hooks run.
      python.inRequestContext = true;
      pyodide.runPython("from _cloudflare.lifecycle import before_first_request; before_first_request()");
    }
    let pythonEnv = bindingWatch ? bindingWatch.env(env) : env;
    if (config.edgeBinding && env[config.edgeBinding]) {
      // An own property over workerd's accessor (undefined in standalone workerd).
      Object.defineProperty(ctx, "cache", { value: edgeCacheApi(env[config.edgeBinding]), configurable: true });
      pythonEnv = withoutEdgeBinding(pythonEnv);
    }
    const response = await callPython(pyodide, callFetch, entrypoint, ctx, pythonEnv, request);
    entry.status = response.status;
    return response;
  } catch (err) {
    entry.status = 500;
    reportError("uncaught exception", err, `${request.method} ${url.pathname}`);
    // In production the runtime answers an uncaught exception with a 500 error page.
    return new Response("Worker threw an exception (the traceback is in the terminal)\n", {
      status: 500,
      headers: { "content-type": "text/plain; charset=utf-8" },
    });
  } finally {
    entry.ms = Date.now() - entry.t;
  }
}

// The control API (reached only from Node, through Miniflare's getWorker, with a per-process token).
// Test mode: empty every KV namespace and every D1 table (the migrations' record kept), as a
// fresh deployment's storage; the data goes for every isolate, they share it.
async function resetStorage(env) {
  const emptied = {};
  for (const [binding, kind] of Object.entries(config.storageBindings ?? {})) {
    const store = env[binding];
    if (!store) continue;
    let count = 0;
    if (kind === "kv") {
      let cursor;
      do {
        const page = await store.list({ cursor });
        for (const { name } of page.keys) await store.delete(name);
        count += page.keys.length;
        cursor = page.list_complete ? undefined : page.cursor;
      } while (cursor);
    } else {
      const { results } = await store
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' AND name != 'd1_migrations'")
        .all();
      for (const { name } of results) count += (await store.prepare(`DELETE FROM "${name}"`).run()).meta.changes;
    }
    emptied[binding] = count;
  }
  return emptied;
}

async function control(request, env) {
  const { pathname } = new URL(request.url);
  const json = (value, status = 200) => Response.json(value, { status });
  if (pathname === "/warmup") {
    try {
      const { pyodide } = await getPython();
      return json({ ok: true, pyodide: pyodide.version, python: pyodide.runPython("import sys; sys.version") });
    } catch (err) {
      reportError("the Worker failed to start", err);
      return json({ ok: false, error: pythonErrorText(err) });
    }
  }
  if (pathname === "/eval" && request.method === "POST" && config.testMode) {
    // Test mode only (this whole control path is): Python source run inside this isolate,
    // answering the JSON of its last expression. Errors answer 422 with the traceback.
    let python;
    try {
      python = await getPython();
    } catch (err) {
      return json({ ok: false, error: pythonErrorText(err) }, 422);
    }
    const { code } = await request.json();
    if (typeof code !== "string") return json({ ok: false, error: 'the body needs "code": a string' }, 400);
    try {
      return json({ ok: true, value: JSON.parse(python.evalJson(code)) });
    } catch (err) {
      return json({ ok: false, error: pythonErrorText(err) }, 422);
    }
  }
  if (pathname === "/storage" && request.method === "DELETE" && config.testMode) {
    return json({ ok: true, emptied: await resetStorage(env) });
  }
  if (pathname === "/reset-python" && request.method === "POST") {
    // A restart of this isolate alone: the next use boots a new Python (fresh module state).
    pythonPromise = undefined;
    for (const list of Object.values(log)) list.length = 0;
    bindingWatch?.clearLog();
    return json({ ok: true });
  }
  const bindingAnswer = bindingWatch?.control(request, pathname);
  if (bindingAnswer) return bindingAnswer;
  if (pathname === "/log" && request.method === "GET") return json(log);
  if (pathname === "/log" && request.method === "DELETE") {
    for (const list of Object.values(log)) list.length = 0;
    return json({ ok: true });
  }
  return new Response("unknown control request", { status: 404 });
}

export default {
  async fetch(request, env, ctx) {
    if (request.headers.get("x-local-runtime-control") === config.controlToken) return control(request, env);
    return handle(request, env, ctx);
  },
};
