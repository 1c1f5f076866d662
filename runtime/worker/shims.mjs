// What Pyodide (a browser/Node library) expects of its host and workerd does not give.
// Imported first by pyodide-worker.mjs, so it runs before pyodide.mjs is evaluated.
import pyodideWasm from "./pyodide/pyodide.asm.wasm"; // CompiledWasm: a WebAssembly.Module
import stdlib from "./pyodide/python_stdlib.zip"; // Data: an ArrayBuffer

// Pyodide "downloads" its files from indexURL. This host does not exist: fetches of it are
// answered here from the modules above, so no network is touched.
export const INDEX_URL = "https://pyodide.local-runtime.invalid/";

// Pyodide resolves URLs against a global `location`, which workers lack.
if (!("location" in globalThis)) {
  Object.defineProperty(globalThis, "location", { value: new URL(INDEX_URL), configurable: true });
}

// Emscripten calls addEventListener(type, fn, true); workerd rejects a capture argument.
const addEventListener = globalThis.addEventListener;
globalThis.addEventListener = function (type, listener, options) {
  return typeof options === "boolean"
    ? addEventListener.call(this, type, listener)
    : addEventListener.call(this, type, listener, options);
};

const wasmResponses = new WeakSet();
const realFetch = globalThis.fetch;
globalThis.fetch = function (input, init) {
  const url = typeof input === "string" ? input : input instanceof URL ? input.href : input?.url;
  if (typeof url === "string" && url.startsWith(INDEX_URL)) {
    return Promise.resolve(localFile(url.slice(INDEX_URL.length)));
  }
  return realFetch.call(globalThis, input, init);
};

function localFile(name) {
  if (name === "python_stdlib.zip") return new Response(stdlib);
  if (name === "pyodide.asm.wasm") {
    // The bytes are never read: instantiateStreaming below answers from the precompiled module.
    const response = new Response(null);
    wasmResponses.add(response);
    return response;
  }
  return new Response(`local runtime: no file ${name}`, { status: 404 });
}

// workerd forbids compiling WebAssembly from bytes at run time, so the interpreter's module
// is compiled by workerd at load (a CompiledWasm module) and instantiated from that.
const instantiateStreaming = WebAssembly.instantiateStreaming;
WebAssembly.instantiateStreaming = async function (source, imports) {
  const response = await source;
  if (wasmResponses.has(response)) {
    const instance = await WebAssembly.instantiate(pyodideWasm, imports);
    return { instance, module: pyodideWasm };
  }
  if (!instantiateStreaming) throw new TypeError("WebAssembly.instantiateStreaming is not available");
  return instantiateStreaming.call(WebAssembly, response, imports);
};
