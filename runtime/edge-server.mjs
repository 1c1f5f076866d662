// The edge's sockets: with `[cache] enabled = true`, each isolate's public port is served by
// Node, through the one EdgeCache (runtime/edge-cache.mjs) that every isolate shares, and a
// request the cache cannot answer goes on over loopback HTTP to that isolate's Miniflare socket
// (the asset router first, as without the edge), with the client's Host kept.
import http from "node:http";

const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection", "te", "trailer"]);

// Headers from Node's rawHeaders list ([name, value, name, value, ...]), repeated ones kept.
function headersOf(raw) {
  const headers = new Headers();
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    if (!HOP_BY_HOP.has(name)) headers.append(name, raw[i + 1]);
  }
  return headers;
}

async function readBody(stream) {
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}

// One request to the isolate at `upstream` (http://host:port/); answers {status, headers, body}.
function forward(upstream, { method, target, headers, body }) {
  const url = new URL(upstream);
  const outgoing = {};
  for (const [name, value] of headers) {
    if (name === "set-cookie") continue;
    outgoing[name] = outgoing[name] === undefined ? value : `${outgoing[name]}, ${value}`;
  }
  if (body?.length) outgoing["content-length"] = String(body.length);
  else delete outgoing["content-length"];
  return new Promise((resolve, reject) => {
    // A connection per request: a kept-alive socket that workerd closes while idle would fail
    // the next request sent on it.
    const options = { host: url.hostname, port: url.port, method, path: target, headers: outgoing, agent: false };
    const req = http.request(options, async (res) => {
      try {
        resolve({ status: res.statusCode, headers: headersOf(res.rawHeaders), body: await readBody(res) });
      } catch (err) {
        reject(err);
      }
    });
    req.on("error", reject);
    req.end(body?.length ? body : undefined);
  });
}

// Starts one server per public port; `upstream(i)` answers isolate i's current Miniflare URL
// (it changes on a restart). Answers [{server, url}].
export async function startEdgeServers(edge, { host, ports, upstream }) {
  const servers = [];
  for (const [isolate, port] of ports.entries()) {
    const server = http.createServer(async (req, res) => {
      try {
        const request = {
          method: req.method,
          target: req.url,
          headers: headersOf(req.rawHeaders),
          body: await readBody(req),
          isolate,
        };
        const answer = await edge.handle(request, (r) => forward(upstream(isolate), r));
        const headers = {};
        for (const [name, value] of answer.headers) {
          if (name === "set-cookie") (headers[name] ??= []).push(value);
          else headers[name] = value;
        }
        if (answer.status !== 304 && answer.status !== 204) headers["content-length"] = String(answer.contentLength);
        res.writeHead(answer.status, headers);
        res.end(answer.body ?? undefined);
      } catch (err) {
        console.error(`edge: ${req.method} ${req.url}: ${err.message}`);
        if (res.headersSent) return res.destroy(err);
        res.writeHead(502, { "content-type": "text/plain; charset=utf-8", "cf-cache-status": "DYNAMIC" });
        res.end(`the edge could not reach the Worker: ${err.message}\n`);
      }
    });
    await new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, resolve);
    });
    servers.push({ server, url: `http://${host}:${server.address().port}/` });
  }
  return servers;
}
