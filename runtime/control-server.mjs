// The control API of test mode: a small JSON-over-HTTP server on its own loopback port, so tests
// and benchmarks in any language can read the logs, inject faults, evaluate Python and restart
// isolates.
// Routes are documented in runtime/README.md.
import http from "node:http";

function isolateOf(query) {
  const value = query.get("isolate");
  if (value === null) return {};
  if (!/^\d+$/.test(value)) throw new TypeError(`?isolate= must be an isolate number (0, 1, ...), got ${JSON.stringify(value)}`);
  return { isolate: Number(value) };
}

export function startControlServer(runtime, { host = "127.0.0.1", port = 0 } = {}) {
  // One operation at a time: a log read must not meet a restart half-way.
  let queue = Promise.resolve();
  const serial = (fn) => (queue = queue.then(fn, fn));

  // `?isolate=i` picks one isolate where a route is per isolate; without it: all (eval: 0).
  const routes = {
    "GET /health": async () => ({
      url: runtime.url,
      isolates: runtime.urls,
      // With the edge in front, the isolates' own (Miniflare) URLs; else the same as isolates.
      workerUrls: runtime.workerUrls,
      edge: Boolean(runtime.edge),
      testMode: runtime.testMode,
      pyodide: runtime.pyodide?.version,
      persistence: runtime.persistence,
    }),
    "GET /asset-log": () => runtime.assetLog(),
    "DELETE /asset-log": () => runtime.resetAssetLog(),
    "GET /binding-log": (_body, query) => runtime.bindingLog(isolateOf(query)),
    "DELETE /binding-log": (_body, query) => runtime.resetBindingLog(isolateOf(query)),
    "DELETE /storage": () => runtime.resetStorage(),
    "GET /faults": async () => runtime.faults,
    "PUT /faults": (body) => runtime.setFaults(body),
    "DELETE /faults": () => runtime.clearFaults(),
    "GET /python-log": (_body, query) => runtime.pythonLog(isolateOf(query)),
    "DELETE /python-log": (_body, query) => runtime.resetPythonLog(isolateOf(query)),
    "POST /warmup": (_body, query) => runtime.warmup(isolateOf(query)),
    "POST /eval": (body, query) => runtime.evaluate(body?.code, { isolate: isolateOf(query).isolate ?? 0 }),
    "POST /restart": (_body, query) => runtime.restart({ warm: query.get("warm") !== "0", ...isolateOf(query) }),
    "GET /edge": async () => runtime.edgeStats(),
    "DELETE /edge/stats": async () => runtime.resetEdgeStats(),
    "DELETE /edge": async () => runtime.clearEdge(),
  };

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, "http://control");
    const route = routes[`${req.method} ${url.pathname}`];
    const reply = (status, value) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(value));
    };
    if (!route) return reply(404, { error: `no route ${req.method} ${url.pathname}` });
    try {
      const chunks = [];
      for await (const chunk of req) chunks.push(chunk);
      const text = Buffer.concat(chunks).toString("utf8");
      const body = text ? JSON.parse(text) : undefined;
      reply(200, await serial(() => route(body, url.searchParams)));
    } catch (err) {
      const badRequest = err instanceof TypeError || err instanceof SyntaxError || err instanceof RangeError;
      const status = err.status ?? (badRequest ? 400 : 500);
      reply(status, { error: err.message });
    }
  });

  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      const { port: bound } = server.address();
      resolve({ server, url: `http://${host}:${bound}/` });
    });
  });
}
