// Reads wrangler.toml: the one place the Worker's settings are written. Everything the local
// runtime needs (main module, compatibility settings, [vars], [assets], [[kv_namespaces]],
// [[d1_databases]]) comes from here, turned into the shapes wrangler itself hands to Miniflare,
// so `wrangler dev` and this runtime agree (down to the KV and D1 ids, so both find the same
// local data under .wrangler/state/v3).
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { parse } from "smol-toml";

import { pythonRuntimeFor } from "./python-version.mjs";

export class ConfigError extends Error {}

// Flags that choose the Python runtime: this runtime consumes them (to pick the Pyodide), they are
// not passed on to the plain JS worker that hosts Pyodide.
const PYTHON_RUNTIME_FLAG = /^python_workers(_\d{8})?$/;
// Pyodide takes its Node.js code path when it sees node globals, and fails inside workerd.
const NODE_COMPAT_FLAG = /^nodejs_compat(_v2)?$/;

export function readWranglerConfig(root, { file = "wrangler.toml" } = {}) {
  const configPath = path.resolve(root, file);
  if (!existsSync(configPath)) throw new ConfigError(`no ${file} in ${root}`);
  let raw;
  try {
    raw = parse(readFileSync(configPath, "utf8"));
  } catch (err) {
    throw new ConfigError(`cannot parse ${configPath}: ${err.message}`);
  }

  if (typeof raw.main !== "string" || !raw.main.endsWith(".py")) {
    throw new ConfigError(`${file}: main must name a .py file (got ${JSON.stringify(raw.main)})`);
  }
  const mainPath = path.resolve(root, raw.main);
  const compatibilityDate = asDate(raw.compatibility_date, file);
  const compatibilityFlags = raw.compatibility_flags ?? [];
  if (!compatibilityFlags.includes("python_workers")) {
    throw new ConfigError(`${file}: compatibility_flags lacks "python_workers"`);
  }
  const dropped = compatibilityFlags.filter((f) => NODE_COMPAT_FLAG.test(f));
  const warnings = dropped.map(
    (f) => `${file}: compatibility flag "${f}" is not applied locally (Pyodide in workerd needs it off)`,
  );

  const config = {
    root,
    configPath,
    name: raw.name ?? "worker",
    // wrangler uploads every **/*.py under the folder of `main`, named relative to it.
    srcDir: path.dirname(mainPath),
    mainModule: path.basename(mainPath, ".py"),
    compatibilityDate,
    compatibilityFlags,
    workerFlags: compatibilityFlags.filter((f) => !PYTHON_RUNTIME_FLAG.test(f) && !NODE_COMPAT_FLAG.test(f)),
    python: pythonRuntimeFor(compatibilityFlags, compatibilityDate),
    // Local secrets come from .dev.vars beside wrangler.toml, as with `wrangler dev`.
    vars: { ...stringVars(raw.vars ?? {}), ...readDevVars(path.dirname(configPath)) },
    assets: raw.assets ? assetOptions(raw.assets, root, file) : undefined,
    kvNamespaces: kvNamespaces(raw.kv_namespaces, file),
    d1Databases: d1Databases(raw.d1_databases, root, file),
    versionMetadata: versionMetadata(raw.version_metadata, file),
    pythonModulesDir: path.resolve(root, "python_modules"),
    cache: cacheOptions(raw.cache, file),
    warnings,
  };
  checkBindingNames(config, file);
  return config;
}

// Where wrangler keeps local data: `<folder of wrangler.toml>/.wrangler/state`, or `--persist-to
// DIR` (relative to the current directory, as wrangler resolves it), then `v3/<kind>`.
export function persistencePaths(config, persistTo) {
  const base = persistTo ? path.resolve(process.cwd(), persistTo) : path.join(config.root, ".wrangler", "state");
  return { root: base, kv: path.join(base, "v3", "kv"), d1: path.join(base, "v3", "d1") };
}

function asDate(value, file) {
  // An unquoted TOML date parses to a Date-like object; a quoted one stays a string.
  const text = value instanceof Date ? value.toISOString().slice(0, 10) : String(value ?? "");
  if (!/^\d{4}-\d{2}-\d{2}$/.test(text)) throw new ConfigError(`${file}: bad compatibility_date ${text}`);
  return text;
}

// .dev.vars: KEY=VALUE lines (a value may be quoted); # starts a comment line.
export function readDevVars(dir) {
  const file = path.join(dir, ".dev.vars");
  if (!existsSync(file)) return {};
  const vars = {};
  for (const [n, line] of readFileSync(file, "utf8").split(/\r?\n/).entries()) {
    const text = line.trim();
    if (!text || text.startsWith("#")) continue;
    const match = /^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(text);
    if (!match) throw new ConfigError(`${file}:${n + 1}: expected KEY=VALUE`);
    const value = match[2];
    const quoted = /^(["'])(.*)\1$/.exec(value);
    vars[match[1]] = quoted ? quoted[2] : value;
  }
  return vars;
}

function stringVars(vars) {
  // wrangler passes strings as text bindings and everything else as JSON bindings.
  return Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, v instanceof Date ? v.toISOString() : v]));
}

// The same translation wrangler does (resolveAssetOptions): run_worker_first true => the user worker
// always runs first; a list => static routing rules, "!/x" meaning "asset layer first for /x".
function assetOptions(assets, root, file) {
  if (typeof assets.directory !== "string") throw new ConfigError(`${file}: [assets] needs a directory`);
  const routerConfig = { has_user_worker: true };
  const rwf = assets.run_worker_first;
  if (typeof rwf === "boolean") {
    routerConfig.invoke_user_worker_ahead_of_assets = rwf;
  } else if (Array.isArray(rwf)) {
    if (rwf.length === 0) throw new ConfigError(`${file}: run_worker_first is an empty list`);
    const user_worker = [];
    const asset_worker = [];
    for (const rule of rwf) {
      if (rule.startsWith("!/")) asset_worker.push(rule.slice(1));
      else if (rule.startsWith("/")) user_worker.push(rule);
      else throw new ConfigError(`${file}: run_worker_first rule '${rule}' must start with '/' or '!/'`);
    }
    if (user_worker.length === 0) throw new ConfigError(`${file}: run_worker_first has only negative rules`);
    routerConfig.static_routing = { user_worker, asset_worker };
  } else if (rwf !== undefined) {
    throw new ConfigError(`${file}: run_worker_first must be a boolean or a list`);
  }
  const assetConfig = {};
  if (assets.html_handling !== undefined) assetConfig.html_handling = assets.html_handling;
  if (assets.not_found_handling !== undefined) assetConfig.not_found_handling = assets.not_found_handling;
  return {
    directory: path.resolve(root, assets.directory),
    binding: assets.binding,
    routerConfig,
    assetConfig,
    runWorkerFirst: rwf,
  };
}

// [cache]: Workers Cache in front of the Worker (enabled, cross_version_cache). Absent or
// `enabled = false`: no edge, the runtime serves the isolates directly.
function cacheOptions(cache, file) {
  if (cache === undefined) return undefined;
  if (typeof cache !== "object" || cache === null || Array.isArray(cache) || cache instanceof Date) {
    throw new ConfigError(`${file}: [cache] must be a table: write [cache] on its own line, then enabled = true`);
  }
  const unknown = Object.keys(cache).filter((k) => !["enabled", "cross_version_cache"].includes(k));
  if (unknown.length) {
    throw new ConfigError(`${file}: [cache] has unknown setting ${unknown.map((k) => `"${k}"`).join(", ")}; it takes enabled, cross_version_cache`);
  }
  for (const field of ["enabled", "cross_version_cache"]) {
    if (cache[field] !== undefined && typeof cache[field] !== "boolean") {
      throw new ConfigError(`${file}: [cache] ${field} must be true or false (got ${JSON.stringify(cache[field])})`);
    }
  }
  if (cache.enabled === undefined) throw new ConfigError(`${file}: [cache] needs enabled = true (or false)`);
  return { enabled: cache.enabled, crossVersionCache: cache.cross_version_cache ?? false };
}

// --- storage bindings ---------------------------------------------------------------------------

const BINDING_NAME = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function tableList(value, table, file) {
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    throw new ConfigError(`${file}: ${table} must be an array of tables: write [[${table}]] sections`);
  }
  value.forEach((entry, index) => {
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
      throw new ConfigError(`${file}: [[${table}]] #${index + 1} must be a table of settings (got ${JSON.stringify(entry)})`);
    }
  });
  return value;
}

function optionalString(entry, field, where) {
  const value = entry[field];
  if (value !== undefined && (typeof value !== "string" || value === "")) {
    throw new ConfigError(`${where}: "${field}" must be a non-empty string (got ${JSON.stringify(value)})`);
  }
  return value;
}

function bindingName(entry, where, example) {
  const name = entry.binding;
  if (typeof name !== "string" || !BINDING_NAME.test(name)) {
    throw new ConfigError(
      `${where}: "binding" must name the variable the Worker reads, e.g. binding = "${example}" ` +
        `(got ${JSON.stringify(name)})`,
    );
  }
  return name;
}

// [[kv_namespaces]] binding, id, preview_id. Locally wrangler dev uses preview_id, else id, else
// the binding name, as the namespace id; so does this runtime.
function kvNamespaces(value, file) {
  return tableList(value, "kv_namespaces", file).map((entry, index) => {
    const where = `${file}: [[kv_namespaces]] #${index + 1}`;
    const binding = bindingName(entry, where, "KV");
    const id = optionalString(entry, "id", where);
    const previewId = optionalString(entry, "preview_id", where);
    return { binding, id: previewId ?? id ?? binding };
  });
}

// [[d1_databases]] binding, database_name, database_id, preview_database_id, migrations_dir.
// `wrangler d1 migrations apply <database_name or binding>` finds the entry by either. The local database id is preview_database_id, else database_id, else the binding name, as in
// wrangler dev and `wrangler d1 migrations apply --local`.
function d1Databases(value, root, file) {
  return tableList(value, "d1_databases", file).map((entry, index) => {
    const where = `${file}: [[d1_databases]] #${index + 1}`;
    const binding = bindingName(entry, where, "DB");
    const databaseName = optionalString(entry, "database_name", where) ?? binding;
    const databaseId = optionalString(entry, "database_id", where);
    const previewId = optionalString(entry, "preview_database_id", where);
    const migrationsDir = optionalString(entry, "migrations_dir", where) ?? "migrations";
    return {
      binding,
      databaseName,
      id: previewId ?? databaseId ?? binding,
      migrationsDir: path.resolve(root, migrationsDir),
    };
  });
}

// [version_metadata] binding: the Worker version's metadata ({id, tag, timestamp}). Locally each
// start of the runtime is a new version (src/ and wrangler.toml are re-read: a redeploy).
function versionMetadata(value, file) {
  if (value === undefined) return undefined;
  return bindingName(value, `${file}: [version_metadata]`, "CF_VERSION_METADATA");
}

// One name, one binding: a KV, D1, var or assets binding of the same name would shadow another.
function checkBindingNames(config, file) {
  const seen = new Map();
  const claim = (name, what) => {
    if (seen.has(name)) {
      throw new ConfigError(`${file}: the binding name "${name}" is used by ${seen.get(name)} and ${what}: rename one`);
    }
    seen.set(name, what);
  };
  for (const name of Object.keys(config.vars)) claim(name, "[vars]");
  if (config.assets?.binding) claim(config.assets.binding, "[assets]");
  for (const kv of config.kvNamespaces) claim(kv.binding, "[[kv_namespaces]]");
  for (const d1 of config.d1Databases) claim(d1.binding, "[[d1_databases]]");
  if (config.versionMetadata) claim(config.versionMetadata, "[version_metadata]");
}
