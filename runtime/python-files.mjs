// The Python files the isolate gets: the Worker's, as wrangler would upload them (every **/*.py
// under the folder of `main`, named relative to it, and everything vendored in python_modules/ less
// *.pyc), and the runtime's own `_cloudflare` package (worker/_cloudflare/, see its __init__.py).
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const RUNTIME_PYTHON_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), "worker");

function* walk(dir, rel = "") {
  for (const entry of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const child = rel ? `${rel}/${entry.name}` : entry.name;
    if (entry.isDirectory()) {
      if (entry.name !== "__pycache__" && entry.name !== "node_modules" && !entry.name.startsWith(".")) {
        yield* walk(dir, child);
      }
    } else if (entry.isFile()) {
      yield child;
    }
  }
}

function collect(dir, keep) {
  const files = {};
  for (const rel of walk(dir)) {
    if (keep(rel)) files[rel] = readFileSync(path.join(dir, rel)).toString("base64");
  }
  return files;
}

export function collectPythonFiles(config) {
  if (!existsSync(path.join(config.pythonModulesDir, "workers"))) {
    throw new Error(
      `${config.pythonModulesDir} has no vendored 'workers' SDK: run ` +
        `'cd ${path.dirname(path.dirname(RUNTIME_PYTHON_DIR))} && .venv/bin/python -m runtime.vendor --project ${config.root}' ` +
        `(what 'pywrangler sync' does, offline)`,
    );
  }
  // The upload's src is the main's folder; python_modules must not sit inside it (wrangler refuses).
  const src = collect(config.srcDir, (rel) => rel.endsWith(".py") && !rel.startsWith("python_modules/"));
  const mainFile = `${config.mainModule}.py`;
  if (!(mainFile in src)) throw new Error(`main module ${mainFile} not found in ${config.srcDir}`);
  const python_modules = collect(config.pythonModulesDir, (rel) => !rel.endsWith(".pyc"));
  // Written into Pyodide's site-packages, as production does: never part of the upload.
  const runtime = collect(path.join(RUNTIME_PYTHON_DIR, "_cloudflare"), (rel) => rel.endsWith(".py"));
  return {
    src,
    python_modules,
    runtime: Object.fromEntries(Object.entries(runtime).map(([rel, b64]) => [`_cloudflare/${rel}`, b64])),
  };
}

// wrangler registers python_modules/workers/*.{js,mjs} as ES modules (importable from Python).
export function vendoredJsModules(files) {
  return Object.keys(files.python_modules)
    .filter((rel) => rel.startsWith("workers/") && /\.(m?js)$/.test(rel))
    .map((rel) => ({ rel: `python_modules/${rel}`, contents: Buffer.from(files.python_modules[rel], "base64").toString("utf8") }));
}
