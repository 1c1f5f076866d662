// The control API of test mode: a small JSON-over-HTTP server on its own loopback port, so tests
// and benchmarks in any language can read the logs, inject asset faults and restart the isolate.
// Routes are documented in runtime/README.md.
import http from "node:http";

export function startControlServer(runtime, { host = "127.0.0.1", port = 0 } = {}) {
  // One operation at a time: a log read must not meet a restart half-way.
  let queue = Promise.resolve();
  const serial = (fn) => (queue = queue.then(fn, fn));

  const routes = {
    "GET /health": async () => ({ url: runtime.url, testMode: runtime.testMode, pyodide: runtime.pyodide?.version }),
    "GET /asset-log": () => runtime.assetLog(),
    "DELETE /asset-log": () => runtime.resetAssetLog(),
    "GET /faults": async () => runtime.faults,
    "PUT /faults": (body) => runtime.setFaults(body),
    "DELETE /faults": () => runtime.clearFaults(),
    "GET /python-log": () => runtime.pythonLog(),
    "DELETE /python-log": () => runtime.resetPythonLog(),
    "POST /warmup": () => runtime.warmup(),
    "POST /eval": (body) => runtime.evaluate(body?.code),
    "POST /restart": (_body, query) => runtime.restart({ warm: query.get("warm") !== "0" }),
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
      const status = err.status ?? (err instanceof TypeError || err instanceof SyntaxError ? 400 : 500);
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
