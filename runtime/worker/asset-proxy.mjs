// Test mode: what the Python Worker sees as env.ASSETS. It is a service binding to this worker
// (so to Python it is still a real `Fetcher`, which the SDK's _EnvWrapper requires); this worker
// holds the real assets binding, records every fetch and injects the faults it is told to.
import { WorkerEntrypoint } from "cloudflare:workers";
import configText from "./runtime-config.json"; // Text: { controlToken }
import { compileFaults, sleep, takeFault } from "./fault-match.mjs";

const config = JSON.parse(configText);
const LOG_LIMIT = 10000;
let fetches = [];
let faults = []; // [{ path?: glob, prefix?: string, raise?, status?, delay_ms?, times? }], compiled

function matchFault(path) {
  return takeFault(faults, (fault) => (fault.prefix !== undefined ? path.startsWith(fault.prefix) : fault.patterns.path.test(path)));
}

// `isolate`: which Python isolate asked (the service binding's props, set per isolate).
async function proxy(request, env, isolate) {
  const url = new URL(request.url);
  const path = url.pathname;
  const entry = { t: Date.now(), isolate, method: request.method, path, status: null, ms: null, fault: null };
  fetches.push(entry);
  if (fetches.length > LOG_LIMIT) fetches.splice(0, fetches.length - LOG_LIMIT);
  const fault = matchFault(path);
  try {
    if (fault?.delay_ms) {
      entry.fault = `delay ${fault.delay_ms}ms`;
      await sleep(fault.delay_ms);
    }
    if (fault?.raise) {
      entry.fault = "raise";
      throw new Error(typeof fault.raise === "string" ? fault.raise : `injected fault: ASSETS.fetch(${path}) failed`);
    }
    if (fault?.status) {
      entry.fault = `status ${fault.status}`;
      entry.status = fault.status;
      return new Response(`injected fault: status ${fault.status} for ${path}\n`, { status: fault.status });
    }
    const response = await env.ASSETS.fetch(request);
    entry.status = response.status;
    return response;
  } finally {
    entry.ms = Date.now() - entry.t;
  }
}

async function control(request) {
  const { pathname } = new URL(request.url);
  if (pathname === "/asset-log" && request.method === "GET") return Response.json(fetches);
  if (pathname === "/asset-log" && request.method === "DELETE") {
    fetches = [];
    return Response.json({ ok: true });
  }
  if (pathname === "/faults" && request.method === "PUT") {
    const list = await request.json();
    faults = compileFaults(list, ["path"]);
    return Response.json({ ok: true, faults: list });
  }
  if (pathname === "/faults" && request.method === "GET") return Response.json(faults);
  return new Response("unknown control request", { status: 404 });
}

// What each isolate's env.ASSETS is bound to: a named entrypoint, so the binding's props (which
// isolate) reach it (Miniflare sends a default-entrypoint binding through the asset router,
// which drops them). To Python it is still a Fetcher.
export class AssetProxy extends WorkerEntrypoint {
  async fetch(request) {
    return proxy(request, this.env, this.ctx.props?.isolate ?? 0);
  }
}

// The control API (from Node, through Miniflare's getWorker).
export default {
  async fetch(request) {
    if (request.headers.get("x-local-runtime-control") === config.controlToken) return control(request);
    return new Response("the asset proxy answers only through env.ASSETS", { status: 404 });
  },
};
