#!/usr/bin/env node
// Command line of the local runtime: serves the Python Worker on localhost until Ctrl-C.
import { watch } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

import { startControlServer } from "./control-server.mjs";
import { LocalRuntime } from "./runtime.mjs";

const HELP = `usage: node runtime/server.mjs [options]

Serves the Python Worker of wrangler.toml (main, [assets], [vars], [[kv_namespaces]],
[[d1_databases]], compatibility settings) on localhost with Miniflare, Python running in Pyodide
inside workerd. With [cache] enabled = true, a stand-in for Workers Cache (the edge) answers on
the Worker's ports in front of every isolate (runtime/README.md, "The edge").

options:
  --root DIR          project root holding wrangler.toml (default: this repository)
  --host HOST         address to listen on (default: 127.0.0.1)
  --port N            port of the Worker (default: $PORT or 8787; 0 picks a free port)
  --isolates N        run N isolates of the Worker, each with its own module state, sharing KV, D1
                      and assets (default 1); isolate i > 0 listens on port + i (free ports for 0)
  --persist-to DIR    keep KV and D1 data under DIR/v3/{kv,d1}, as wrangler's --persist-to
  --var KEY:VALUE     set a var (over [vars] and .dev.vars), as wrangler dev --var; repeatable
                      (default: .wrangler/state next to wrangler.toml, where wrangler keeps it)
  --test-mode         route env.ASSETS through the asset proxy (asset-fetch log, fault injection)
  --control-port N    serve the control API on this loopback port (implies --test-mode; 0 = free)
  --no-warm           do not load Python before the first request (the first request pays ~4 s)
  --watch             restart the Worker (a fresh isolate) when a .py file under main's folder changes
  --exit-on-stdin-close  stop when standard input closes (for test harnesses)
  -h, --help          show this help

In test mode the line "LOCAL_RUNTIME_READY {json}" on stdout gives the Worker and control URLs:
{"url": <isolate 0>, "isolates": [<url of each isolate>], "control": <url or null>}.
See runtime/README.md for the control API.`;

function fail(message) {
  console.error(`error: ${message}\n\n${HELP}`);
  process.exit(2);
}

function portArg(value, name) {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`${name} must be a port number, got ${value}`);
  return port;
}

let args;
try {
  ({ values: args } = parseArgs({
    options: {
      root: { type: "string" },
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string" },
      isolates: { type: "string", default: "1" },
      "persist-to": { type: "string" },
      var: { type: "string", multiple: true, default: [] },
      "test-mode": { type: "boolean", default: false },
      "control-port": { type: "string" },
      "no-warm": { type: "boolean", default: false },
      watch: { type: "boolean", default: false },
      "exit-on-stdin-close": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  }));
} catch (err) {
  fail(err.message);
}
if (args.help) {
  console.log(HELP);
  process.exit(0);
}

const root = path.resolve(args.root ?? path.join(path.dirname(fileURLToPath(import.meta.url)), ".."));
const port = portArg(args.port ?? process.env.PORT ?? "8787", "--port");
const controlPort = args["control-port"] === undefined ? undefined : portArg(args["control-port"], "--control-port");
const testMode = args["test-mode"] || controlPort !== undefined;
const isolates = Number(args.isolates);
if (!Number.isInteger(isolates) || isolates < 1) fail(`--isolates must be a whole number >= 1, got ${args.isolates}`);

const vars = {};
for (const pair of args.var) {
  const at = pair.indexOf(":");
  if (at < 1) fail(`--var takes KEY:VALUE (as wrangler dev), got ${JSON.stringify(pair)}`);
  vars[pair.slice(0, at)] = pair.slice(at + 1);
}

const runtime = new LocalRuntime({ root, host: args.host, port, isolates, persistTo: args["persist-to"], vars, testMode });
let control;
let stopping = false;

async function stop(code = 0) {
  if (stopping) return;
  stopping = true;
  control?.server.close();
  await runtime.dispose().catch((err) => console.error(`error while stopping: ${err.message}`));
  process.exit(code);
}
process.on("SIGINT", () => {
  console.log("\nstopping");
  stop(0);
});
process.on("SIGTERM", () => stop(0));
if (args["exit-on-stdin-close"]) {
  process.stdin.on("end", () => stop(0));
  process.stdin.on("error", () => stop(0));
  process.stdin.resume();
}

try {
  console.log(`starting the Python Worker of ${path.join(root, "wrangler.toml")} ...`);
  const { url, isolates: urls, warmup } = await runtime.start({ warm: !args["no-warm"] });
  const { config, pyodide, persistence } = runtime;
  console.log(`Python ${config.python.python} (pyodide ${pyodide.version}, flag ${config.python.flag}); ` +
      `compatibility_date ${config.compatibilityDate}`);
  if (persistence) console.log(`KV and D1 data kept in ${persistence.root}`);
  if (warmup) {
    const times = warmup.isolates.map((w) => `${w.ms} ms`).join(", ");
    console.log(warmup.isolates.every((w) => w.ok) ? `Python loaded and ${config.mainModule}.py imported in ${times}`
        : `the Worker failed to start (traceback above); every request answers 500 until ` +
          (args.watch ? "a .py file is saved (the Worker then restarts)" : "the server is restarted"));
  }
  if (controlPort !== undefined) {
    control = await startControlServer(runtime, { host: "127.0.0.1", port: controlPort });
    console.log(`control API on ${control.url}`);
  }
  if (testMode) {
    console.log(`LOCAL_RUNTIME_READY ${JSON.stringify({ url, isolates: urls, control: control?.url ?? null })}`);
  }
  if (args.watch) watchSources(config.srcDir);
  const others = urls.length > 1 ? ` (isolates: ${urls.join(" ")})` : "";
  console.log(`\nReady on ${url}${others}  (Ctrl-C to stop)\n`);
} catch (err) {
  console.error(`error: ${err.message}`);
  await stop(1);
}

function watchSources(dir) {
  let timer;
  watch(dir, { recursive: true }, (_event, file) => {
    if (!file?.endsWith(".py")) return;
    clearTimeout(timer);
    timer = setTimeout(async () => {
      console.log(`${file} changed: restarting the Worker (fresh isolate) ...`);
      try {
        const { warmup } = await runtime.restart();
        if (warmup?.ok) console.log(`restarted; Python ready in ${warmup.ms} ms`);
      } catch (err) {
        console.error(`restart failed: ${err.message}`);
      }
    }, 200);
  });
  console.log(`watching ${dir} for .py changes`);
}
