// Turns the wrangler.toml settings into Miniflare options: N JS host workers (the isolates) with
// Pyodide and the Worker's Python files as modules, the [assets] settings, [vars], KV and D1
// persisted where wrangler keeps them, and (test mode) the asset proxy.
//
// Isolate i is the workerd worker `isolateWorkerName(i)`: its own module state, so its own Python.
// Isolate 0 is Miniflare's entry worker (served on `port`); the others are reached on their own
// sockets (`unsafeDirectSockets`, through the same asset router). All of them bind the same KV
// namespace and D1 database ids in one Miniflare, so a write by one is read by another at once.
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { compatFlagValues } from "./compat-flags.mjs";
import { precompiledWasmModules } from "./precompiled-modules.mjs";
import { persistencePaths } from "./config.mjs";
import { collectPythonFiles, vendoredJsModules } from "./python-files.mjs";

const WORKER_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), "worker");
// Module names are paths under this virtual root; nothing is read from it.
const ROOT = "/local-runtime";

export const ASSET_PROXY = "asset-proxy";
// The service binding through which ctx.cache.purge/invalidate reach the edge in Node (never
// handed to Python: pyodide-worker.mjs takes it out of env).
export const EDGE_BINDING = "__LOCAL_RUNTIME_EDGE_CACHE";
export const isolateWorkerName = (i) => (i === 0 ? "python-worker" : `python-worker-${i}`);

const own = (file) => readFileSync(path.join(WORKER_DIR, file), "utf8");

function pyodideModules(pyodideDir) {
  const read = (file) => readFileSync(path.join(pyodideDir, file));
  return [
    { type: "ESModule", path: `${ROOT}/pyodide/pyodide.mjs`, contents: read("pyodide.mjs").toString("utf8") },
    { type: "ESModule", path: `${ROOT}/pyodide/pyodide.asm.mjs`, contents: read("pyodide.asm.mjs").toString("utf8") },
    // Compiled by workerd when the worker loads: workerd forbids compiling wasm from bytes later.
    { type: "CompiledWasm", path: `${ROOT}/pyodide/pyodide.asm.wasm`, contents: read("pyodide.asm.wasm") },
    { type: "Data", path: `${ROOT}/pyodide/python_stdlib.zip`, contents: read("python_stdlib.zip") },
    { type: "Text", path: `${ROOT}/pyodide/pyodide-lock.json`, contents: read("pyodide-lock.json").toString("utf8") },
  ];
}

// Answers { miniflare: <Miniflare options>, persistence: { root, kv, d1 } | null }.
// `ports[i]`: the port of isolate i (0 = a free one); ports[0] is Miniflare's entry.
// `edgeService(request)`: with [cache] enabled, the Node function that answers ctx.cache calls.
export function buildMiniflareOptions(config, { host, ports, persistTo, testMode, controlToken, pyodideDir, edgeService }) {
  const files = collectPythonFiles(config); // read afresh each time: a restart picks up edits
  const runtimeConfig = JSON.stringify({
    mainModule: config.mainModule,
    controlToken,
    testMode: Boolean(testMode),
    compatFlags: compatFlagValues(config.compatibilityFlags, config.compatibilityDate),
    storageBindings: storageBindings(config),
    edgeBinding: edgeService ? EDGE_BINDING : null,
  });
  const common = {
    modulesRoot: ROOT,
    compatibilityDate: config.compatibilityDate,
    compatibilityFlags: config.workerFlags,
  };
  const assets = config.assets;
  const binding = assets?.binding;

  const pythonWorker = {
    ...common,
    name: isolateWorkerName(0),
    modules: [
      { type: "ESModule", path: `${ROOT}/worker.mjs`, contents: own("pyodide-worker.mjs") },
      { type: "ESModule", path: `${ROOT}/shims.mjs`, contents: own("shims.mjs") },
      { type: "ESModule", path: `${ROOT}/entrypoint-helper.mjs`, contents: own("entrypoint-helper.mjs") },
      { type: "ESModule", path: `${ROOT}/precompiled-wasm.mjs`, contents: own("precompiled-wasm.mjs") },
      { type: "ESModule", path: `${ROOT}/wasm-trampolines.mjs`, contents: own("wasm-trampolines.mjs") },
      { type: "ESModule", path: `${ROOT}/binding-proxy.mjs`, contents: own("binding-proxy.mjs") },
      { type: "ESModule", path: `${ROOT}/fault-match.mjs`, contents: own("fault-match.mjs") },
      { type: "Text", path: `${ROOT}/glue.py`, contents: own("glue.py") },
      { type: "Text", path: `${ROOT}/runtime-config.json`, contents: runtimeConfig },
      { type: "Text", path: `${ROOT}/python-files.json`, contents: JSON.stringify(files) },
      ...pyodideModules(pyodideDir),
      ...vendoredJsModules(files).map(({ rel, contents }) => ({ type: "ESModule", path: `${ROOT}/${rel}`, contents })),
      ...precompiledWasmModules(ROOT, files, pyodideDir),
    ],
    bindings: { ...config.vars, ...versionMetadataBinding(config) },
    kvNamespaces: Object.fromEntries(config.kvNamespaces.map((kv) => [kv.binding, kv.id])),
    d1Databases: Object.fromEntries(config.d1Databases.map((d1) => [d1.binding, d1.id])),
  };
  const workers = [pythonWorker];
  if (assets) {
    pythonWorker.assets = {
      directory: assets.directory,
      // In test mode the binding is the proxy's (below); the router in front stays this worker's.
      binding: testMode ? undefined : binding,
      routerConfig: assets.routerConfig,
      assetConfig: assets.assetConfig,
    };
  }
  if (testMode && binding) {
    // A named entrypoint, so the props (which isolate asked) reach the proxy's asset log.
    pythonWorker.serviceBindings = { [binding]: { name: ASSET_PROXY, entrypoint: "AssetProxy", props: { isolate: 0 } } };
    workers.push({
      ...common,
      name: ASSET_PROXY,
      modules: [
        { type: "ESModule", path: `${ROOT}/asset-proxy.mjs`, contents: own("asset-proxy.mjs") },
        { type: "ESModule", path: `${ROOT}/fault-match.mjs`, contents: own("fault-match.mjs") },
        { type: "Text", path: `${ROOT}/runtime-config.json`, contents: runtimeConfig },
      ],
      assets: {
        directory: assets.directory,
        binding: "ASSETS",
        // Every request (all come through the binding) runs the proxy, which then asks the real binding.
        routerConfig: { has_user_worker: true, invoke_user_worker_ahead_of_assets: true },
        assetConfig: assets.assetConfig,
      },
    });
  }
  if (edgeService) pythonWorker.serviceBindings = { ...pythonWorker.serviceBindings, [EDGE_BINDING]: edgeService };
  // Isolates 1..N-1: the same worker under another name, on its own socket.
  for (let i = 1; i < ports.length; i++) {
    const isolate = { ...pythonWorker, name: isolateWorkerName(i), unsafeDirectSockets: [{ host, port: ports[i] }] };
    if (testMode && binding) {
      isolate.serviceBindings = { ...pythonWorker.serviceBindings, [binding]: { ...pythonWorker.serviceBindings[binding], props: { isolate: i } } };
    }
    workers.splice(i, 0, isolate);
  }
  // Persisted only when there is something to keep: a Worker without KV or D1 writes nothing.
  const persistence = Object.keys(storageBindings(config)).length ? persistencePaths(config, persistTo) : null;
  // cf: false = no download of a request.cf sample (no internet); requests get a placeholder cf.
  const miniflare = { host, port: ports[0], cf: false, workers };
  if (persistence) Object.assign(miniflare, { kvPersist: persistence.kv, d1Persist: persistence.d1 });
  return { miniflare, persistence };
}

// { <binding>: "kv" | "d1" }: what test mode wraps in binding-proxy.mjs.
function storageBindings(config) {
  return Object.fromEntries([
    ...config.kvNamespaces.map((kv) => [kv.binding, "kv"]),
    ...config.d1Databases.map((d1) => [d1.binding, "d1"]),
  ]);
}

// [version_metadata]: one version per start, the same for every isolate (Miniflare's own
// `versionMetadata` option would give each isolate a different id), as one deploy has one.
function versionMetadataBinding(config) {
  if (!config.versionMetadata) return {};
  return { [config.versionMetadata]: { id: randomUUID(), tag: "", timestamp: new Date().toISOString() } };
}
