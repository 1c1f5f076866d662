// Turns the wrangler.toml settings into Miniflare options: the JS host worker with Pyodide and the
// Worker's Python files as modules, the [assets] settings, [vars], and (test mode) the asset proxy.
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { compatFlagValues } from "./compat-flags.mjs";
import { precompiledWasmModules } from "./precompiled-modules.mjs";
import { collectPythonFiles, vendoredJsModules } from "./python-files.mjs";

const WORKER_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), "worker");
// Module names are paths under this virtual root; nothing is read from it.
const ROOT = "/local-runtime";

export const PYTHON_WORKER = "python-worker";
export const ASSET_PROXY = "asset-proxy";

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

export function buildMiniflareOptions(config, { host, port, testMode, controlToken, pyodideDir }) {
  const files = collectPythonFiles(config); // read afresh each time: a restart picks up edits
  const runtimeConfig = JSON.stringify({
    mainModule: config.mainModule,
    controlToken,
    testMode: Boolean(testMode),
    compatFlags: compatFlagValues(config.compatibilityFlags, config.compatibilityDate),
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
    name: PYTHON_WORKER,
    modules: [
      { type: "ESModule", path: `${ROOT}/worker.mjs`, contents: own("pyodide-worker.mjs") },
      { type: "ESModule", path: `${ROOT}/shims.mjs`, contents: own("shims.mjs") },
      { type: "ESModule", path: `${ROOT}/entrypoint-helper.mjs`, contents: own("entrypoint-helper.mjs") },
      { type: "ESModule", path: `${ROOT}/precompiled-wasm.mjs`, contents: own("precompiled-wasm.mjs") },
      { type: "ESModule", path: `${ROOT}/wasm-trampolines.mjs`, contents: own("wasm-trampolines.mjs") },
      { type: "Text", path: `${ROOT}/glue.py`, contents: own("glue.py") },
      { type: "Text", path: `${ROOT}/runtime-config.json`, contents: runtimeConfig },
      { type: "Text", path: `${ROOT}/python-files.json`, contents: JSON.stringify(files) },
      ...pyodideModules(pyodideDir),
      ...vendoredJsModules(files).map(({ rel, contents }) => ({ type: "ESModule", path: `${ROOT}/${rel}`, contents })),
      ...precompiledWasmModules(ROOT, files, pyodideDir),
    ],
    bindings: config.vars,
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
    pythonWorker.serviceBindings = { [binding]: ASSET_PROXY };
    workers.push({
      ...common,
      name: ASSET_PROXY,
      modules: [
        { type: "ESModule", path: `${ROOT}/asset-proxy.mjs`, contents: own("asset-proxy.mjs") },
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
  // cf: false = no download of a request.cf sample (no internet); requests get a placeholder cf.
  return { host, port, cf: false, workers };
}
