// The local runtime as a Node API: start Miniflare with the Python Worker, restart it (a fresh
// workerd process, so a fresh isolate), and in test mode read the logs and set asset faults.
import { randomBytes } from "node:crypto";
import { Log, LogLevel, Miniflare } from "miniflare";

import { readWranglerConfig } from "./config.mjs";
import { ASSET_PROXY, PYTHON_WORKER, buildMiniflareOptions } from "./miniflare-options.mjs";
import { checkInstalledPyodide } from "./python-version.mjs";

export class LocalRuntime {
  constructor({ root, host = "127.0.0.1", port = 8787, testMode = false, logLevel = LogLevel.WARN }) {
    this.root = root;
    this.host = host;
    this.port = port;
    this.testMode = testMode;
    this.logLevel = logLevel;
    // Never sent anywhere but to our own workers: it keeps control requests apart from user requests.
    this.controlToken = randomBytes(16).toString("hex");
    this.faults = [];
    this.mf = undefined;
    this.url = undefined;
  }

  #options() {
    // Re-read on every (re)start: edits to wrangler.toml or src/ take effect on restart.
    this.config = readWranglerConfig(this.root);
    this.pyodide = checkInstalledPyodide(this.config.python);
    return {
      ...buildMiniflareOptions(this.config, {
        host: this.host,
        port: this.port,
        testMode: this.testMode,
        controlToken: this.controlToken,
        pyodideDir: this.pyodide.dir,
      }),
      log: new Log(this.logLevel),
    };
  }

  async start({ warm = true } = {}) {
    const options = this.#options();
    for (const warning of this.config.warnings) console.warn(`warning: ${warning}`);
    this.mf = new Miniflare(options);
    this.url = (await this.mf.ready).toString();
    // Keep the port a restart binds to: with port 0, Miniflare picked a free one.
    this.port = Number(new URL(this.url).port);
    return { url: this.url, warmup: warm ? await this.warmup() : null };
  }

  // Loads Pyodide and imports the main module (what a new isolate does before its first request),
  // without sending a request to Python. Returns the time it took.
  // A Worker that fails to import is reported (traceback in the terminal and in `error`), not thrown:
  // the runtime keeps serving, and the next request retries the import.
  async warmup() {
    const started = performance.now();
    const result = await this.#control(PYTHON_WORKER, "POST", "/warmup");
    return { ...result, ms: Math.round(performance.now() - started) };
  }

  async restart({ warm = true } = {}) {
    const started = performance.now();
    await this.mf.setOptions(this.#options());
    this.url = (await this.mf.ready).toString();
    if (this.testMode) await this.#pushFaults();
    const restartMs = Math.round(performance.now() - started);
    return { url: this.url, restartMs, warmup: warm ? await this.warmup() : null };
  }

  async dispose() {
    const mf = this.mf;
    this.mf = undefined;
    await mf?.dispose();
  }

  // --- test mode -------------------------------------------------------------------------------

  #requireTestMode() {
    if (!this.testMode) throw new Error("the asset log and faults exist only in test mode");
  }

  async assetLog() {
    this.#requireTestMode();
    return this.#control(ASSET_PROXY, "GET", "/asset-log");
  }

  async resetAssetLog() {
    this.#requireTestMode();
    return this.#control(ASSET_PROXY, "DELETE", "/asset-log");
  }

  // Faults are kept here too, so they survive restarts.
  async setFaults(faults) {
    this.#requireTestMode();
    validateFaults(faults);
    this.faults = faults;
    return this.#pushFaults();
  }

  async clearFaults() {
    return this.setFaults([]);
  }

  async #pushFaults() {
    return this.#control(ASSET_PROXY, "PUT", "/faults", this.faults);
  }

  // Requests that reached Python, Python's stdout/stderr lines, and uncaught Python errors.
  async pythonLog() {
    return this.#control(PYTHON_WORKER, "GET", "/log");
  }

  async resetPythonLog() {
    return this.#control(PYTHON_WORKER, "DELETE", "/log");
  }

  // Runs Python source inside the isolate (`import entry` is the running Worker's module) and
  // answers the JSON value of its last expression; a Python error throws with its traceback.
  async evaluate(code) {
    this.#requireTestMode();
    if (typeof code !== "string") throw new TypeError('eval needs a body {"code": "<python source>"}');
    const result = await this.#control(PYTHON_WORKER, "POST", "/eval", { code }, [422]);
    if (!result.ok) throw Object.assign(new Error(result.error), { status: 422 });
    return { value: result.value };
  }

  async #control(worker, method, path, body, allowedStatuses = []) {
    const fetcher = await this.mf.getWorker(worker);
    const response = await fetcher.fetch(`http://local-runtime.control${path}`, {
      method,
      headers: { "x-local-runtime-control": this.controlToken, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok && !allowedStatuses.includes(response.status)) throw new Error(`control ${method} ${path} on ${worker}: ${response.status} ${text}`);
    return JSON.parse(text);
  }
}

const FAULT_KEYS = new Set(["path", "prefix", "raise", "status", "delay_ms", "times"]);

export function validateFaults(faults) {
  if (!Array.isArray(faults)) throw new TypeError("faults must be a list");
  for (const fault of faults) {
    const unknown = Object.keys(fault).filter((k) => !FAULT_KEYS.has(k));
    if (unknown.length) throw new TypeError(`unknown fault keys ${unknown.join(", ")} in ${JSON.stringify(fault)}`);
    if ((fault.path === undefined) === (fault.prefix === undefined)) {
      throw new TypeError(`a fault needs exactly one of "path" (glob) or "prefix": ${JSON.stringify(fault)}`);
    }
    if (!fault.raise && !fault.status && !fault.delay_ms) {
      throw new TypeError(`a fault needs "raise", "status" or "delay_ms": ${JSON.stringify(fault)}`);
    }
  }
}
