// The local runtime as a Node API: start Miniflare with N isolates of the Python Worker (each its
// own workerd worker, so its own module state, sharing KV, D1 and assets), restart all of them (a
// fresh workerd process) or one (a fresh Python in that isolate), and in test mode read the logs,
// set faults and evaluate Python inside an isolate. With `[cache] enabled = true`, the edge
// (edge-cache.mjs) answers on the public ports in front of every isolate.
import { randomBytes } from "node:crypto";
import { Log, LogLevel, Miniflare, Response as MiniflareResponse } from "miniflare";

import { readWranglerConfig } from "./config.mjs";
import { EdgeCache } from "./edge-cache.mjs";
import { startEdgeServers } from "./edge-server.mjs";
import { validateFaults } from "./faults.mjs";
import { ASSET_PROXY, buildMiniflareOptions, isolateWorkerName } from "./miniflare-options.mjs";
import { checkInstalledPyodide } from "./python-version.mjs";

export class LocalRuntime {
  constructor({
    root,
    host = "127.0.0.1",
    port = 8787,
    isolates = 1,
    persistTo = undefined,
    vars = {},
    testMode = false,
    logLevel = LogLevel.WARN,
  }) {
    if (!Number.isInteger(isolates) || isolates < 1) throw new TypeError(`isolates must be a whole number >= 1, got ${isolates}`);
    this.root = root;
    this.host = host;
    this.port = port;
    this.isolates = isolates;
    // Isolate i > 0 listens on port + i; with port 0, on free ports. Kept across restarts.
    this.ports = Array.from({ length: isolates }, (_, i) => (port === 0 ? 0 : port + i));
    this.persistTo = persistTo;
    // --var overrides: over [vars] and .dev.vars, as `wrangler dev --var` does.
    this.vars = vars;
    this.testMode = testMode;
    this.logLevel = logLevel;
    // Never sent anywhere but to our own workers: it keeps control requests apart from user requests.
    this.controlToken = randomBytes(16).toString("hex");
    this.faults = [];
    this.mf = undefined;
    this.url = undefined;
    this.urls = [];
    // Miniflare's own URL of each isolate: the public ones unless the edge is in front.
    this.workerUrls = [];
    // Decided at start from [cache] (a restart keeps it, as the platform keeps a Worker's cache).
    this.edge = undefined;
    this.edgeServers = [];
  }

  #options() {
    // Re-read on every (re)start: edits to wrangler.toml or src/ take effect on restart.
    this.config = readWranglerConfig(this.root);
    this.config.vars = { ...this.config.vars, ...this.vars };
    this.pyodide = checkInstalledPyodide(this.config.python);
    if (!this.mf && this.config.cache?.enabled) this.edge = new EdgeCache({ crossVersionCache: this.config.cache.crossVersionCache });
    const options = buildMiniflareOptions(this.config, {
      host: this.host,
      // Behind the edge, the isolates listen on free ports; the public ones are the edge's.
      ports: this.edge ? this.ports.map(() => 0) : this.ports,
      edgeService: this.edge ? (request) => this.#edgeService(request) : undefined,
      persistTo: this.persistTo,
      testMode: this.testMode,
      controlToken: this.controlToken,
      pyodideDir: this.pyodide.dir,
    });
    this.persistence = options.persistence;
    return { ...options.miniflare, log: new Log(this.logLevel) };
  }

  // Isolate 0 answers on the Miniflare entry (`--port`), the others on their own sockets. The
  // ports Miniflare picked are kept, so a restart binds the same ones.
  async #readUrls() {
    this.workerUrls = [(await this.mf.ready).toString()];
    for (let i = 1; i < this.isolates; i++) {
      this.workerUrls.push((await this.mf.unsafeGetDirectURL(isolateWorkerName(i))).toString());
    }
    if (this.edge && !this.edgeServers.length) {
      this.edgeServers = await startEdgeServers(this.edge, { host: this.host, ports: this.ports, upstream: (i) => this.workerUrls[i] });
    }
    this.urls = this.edge ? this.edgeServers.map(({ url }) => url) : [...this.workerUrls];
    this.url = this.urls[0];
    this.ports = this.urls.map((url) => Number(new URL(url).port));
    this.port = this.ports[0];
  }

  async start({ warm = true } = {}) {
    const options = this.#options();
    for (const warning of this.config.warnings) console.warn(`warning: ${warning}`);
    this.mf = new Miniflare(options);
    await this.#readUrls();
    if (this.testMode) await this.#pushFaults();
    return { url: this.url, isolates: this.urls, warmup: warm ? await this.warmup() : null };
  }

  #isolateIndexes(isolate) {
    if (isolate === undefined) return [...this.urls.keys()];
    if (!Number.isInteger(isolate) || isolate < 0 || isolate >= this.isolates) {
      throw new RangeError(`isolate must be 0..${this.isolates - 1} (this runtime runs ${this.isolates}), got ${isolate}`);
    }
    return [isolate];
  }

  // Loads Pyodide and imports the main module (what a new isolate does before its first request),
  // without sending a request to Python, in one isolate or (by default) every one, in turn.
  // Answers isolate 0's (or the chosen one's) result, with `isolates` listing every result.
  // A Worker that fails to import is reported (traceback in the terminal and in `error`), not
  // thrown: the runtime keeps serving, and the next request retries the import.
  async warmup({ isolate } = {}) {
    const results = [];
    for (const i of this.#isolateIndexes(isolate)) {
      const started = performance.now();
      const result = await this.#control(isolateWorkerName(i), "POST", "/warmup");
      results.push({ ...result, isolate: i, ms: Math.round(performance.now() - started) });
    }
    return { ...results[0], isolates: results };
  }

  // Without `isolate`: a fresh workerd process (Miniflare#setOptions), so every isolate starts over
  // with no module state, and src/ and wrangler.toml are re-read. With `isolate`: that isolate
  // alone gets a fresh Python (a new interpreter in the same workerd isolate; the files are not
  // re-read), the others keep theirs. Logs of what restarted start empty; faults are kept.
  async restart({ warm = true, isolate } = {}) {
    const started = performance.now();
    if (isolate === undefined) {
      await this.mf.setOptions(this.#options());
      // A fresh workerd with the files re-read is a new version of the Worker, as a deploy is.
      this.edge?.newVersion();
      await this.#readUrls();
      if (this.testMode) await this.#pushFaults();
    } else {
      const [i] = this.#isolateIndexes(isolate);
      await this.#control(isolateWorkerName(i), "POST", "/reset-python");
      if (this.testMode) await this.#pushBindingFaults([i]);
    }
    const restartMs = Math.round(performance.now() - started);
    const warmup = warm ? await this.warmup({ isolate }) : null;
    return { url: isolate === undefined ? this.url : this.urls[isolate], isolates: this.urls, restartMs, warmup };
  }

  async dispose() {
    const mf = this.mf;
    this.mf = undefined;
    for (const { server } of this.edgeServers) server.close();
    this.edgeServers = [];
    await mf?.dispose();
  }

  // --- the edge (with [cache] enabled) --------------------------------------------------------

  // ctx.cache.purge / invalidate of any isolate, over the EDGE_BINDING service binding.
  async #edgeService(request) {
    const op = new URL(request.url).pathname.slice(1);
    let answer;
    try {
      if (op !== "purge" && op !== "invalidate") throw new TypeError(`ctx.cache has no ${op}()`);
      answer = await this.edge.apply(op, JSON.parse(await request.text()));
    } catch (err) {
      answer = { error: err.message, kind: err instanceof TypeError ? "TypeError" : "Error" };
    }
    return new MiniflareResponse(JSON.stringify(answer), { headers: { "content-type": "application/json" } });
  }

  // Entries, version, Cf-Cache-Status counts, requests that reached the isolates, the purge log
  // and the request log; {enabled: false} without the edge.
  edgeStats() {
    return this.edge ? this.edge.stats() : { enabled: false };
  }

  // Counters and logs start over (entries kept).
  resetEdgeStats() {
    this.#requireEdge().resetStats();
    return { ok: true };
  }

  // Every entry dropped and the counters reset: an empty edge.
  clearEdge() {
    this.#requireEdge().clear();
    return { ok: true };
  }

  #requireEdge() {
    if (!this.edge) throw Object.assign(new Error("no edge: wrangler.toml has no [cache] enabled = true"), { status: 404 });
    return this.edge;
  }

  // --- test mode -------------------------------------------------------------------------------

  #requireTestMode() {
    if (!this.testMode) throw new Error("the asset and binding logs, faults and eval exist only in test mode");
  }

  #assetProxy() {
    this.#requireTestMode();
    if (!this.config.assets?.binding) {
      throw Object.assign(new Error("no asset log: wrangler.toml has no [assets] binding"), { status: 404 });
    }
    return ASSET_PROXY;
  }

  async assetLog() {
    return this.#control(this.#assetProxy(), "GET", "/asset-log");
  }

  async resetAssetLog() {
    return this.#control(this.#assetProxy(), "DELETE", "/asset-log");
  }

  // One list for assets, KV and D1 (see faults.mjs); kept here too, so faults survive restarts.
  async setFaults(faults) {
    this.#requireTestMode();
    validateFaults(faults, this.config);
    this.faults = faults;
    await this.#pushFaults();
    return { ok: true, faults };
  }

  async clearFaults() {
    return this.setFaults([]);
  }

  async #pushFaults() {
    const { assets, edge } = validateFaults(this.faults, this.config);
    this.edge?.setFaults(edge);
    if (this.config.assets?.binding) await this.#control(ASSET_PROXY, "PUT", "/faults", assets);
    await this.#pushBindingFaults(this.#isolateIndexes());
  }

  async #pushBindingFaults(indexes) {
    const { bindings } = validateFaults(this.faults, this.config);
    for (const i of indexes) await this.#control(isolateWorkerName(i), "PUT", "/binding-faults", bindings);
  }

  // Every KV and D1 call Python made, oldest first, each entry with its `isolate`.
  async bindingLog({ isolate } = {}) {
    this.#requireTestMode();
    return mergeByTime(await this.#perIsolate(isolate, "GET", "/binding-log"));
  }

  // Empties the KV namespaces and D1 tables (every isolate shares them): fresh storage.
  async resetStorage() {
    this.#requireTestMode();
    return this.#control(isolateWorkerName(0), "DELETE", "/storage");
  }

  async resetBindingLog({ isolate } = {}) {
    this.#requireTestMode();
    await this.#perIsolate(isolate, "DELETE", "/binding-log");
    return { ok: true };
  }

  // Requests that reached Python, Python's stdout/stderr lines, and uncaught Python errors, of one
  // isolate or all (merged by time), each entry with its `isolate`.
  async pythonLog({ isolate } = {}) {
    const logs = await this.#perIsolate(isolate, "GET", "/log");
    const merged = {};
    for (const list of ["requests", "output", "errors"]) {
      merged[list] = mergeByTime(logs.map(({ isolate: i, value }) => ({ isolate: i, value: value[list] })));
    }
    return merged;
  }

  async resetPythonLog({ isolate } = {}) {
    await this.#perIsolate(isolate, "DELETE", "/log");
    return { ok: true };
  }

  // Runs Python source inside an isolate (0 unless chosen; `import entry` is its running Worker's
  // module) and answers the JSON value of its last expression; a Python error throws with its
  // traceback.
  async evaluate(code, { isolate = 0 } = {}) {
    this.#requireTestMode();
    if (typeof code !== "string") throw new TypeError('eval needs a body {"code": "<python source>"}');
    const [i] = this.#isolateIndexes(isolate);
    const result = await this.#control(isolateWorkerName(i), "POST", "/eval", { code }, [422]);
    if (!result.ok) throw Object.assign(new Error(result.error), { status: 422 });
    return { value: result.value };
  }

  async #perIsolate(isolate, method, path) {
    const answers = [];
    for (const i of this.#isolateIndexes(isolate)) {
      answers.push({ isolate: i, value: await this.#control(isolateWorkerName(i), method, path) });
    }
    return answers;
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

// [{isolate, value: [entries]}] -> one list ordered by `t` (stable), each entry tagged.
function mergeByTime(perIsolate) {
  const all = perIsolate.flatMap(({ isolate, value }) => value.map((entry) => ({ ...entry, isolate })));
  return all.sort((a, b) => a.t - b.t);
}
