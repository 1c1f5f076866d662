// Compiled WebAssembly for a host that forbids compiling it from bytes at run time.
//
// A Pyodide extension module (`.so`) is a WebAssembly side module. When Python imports one,
// emscripten's dynamic linker reads the file from Pyodide's file system and compiles those bytes
// with `new WebAssembly.Module(bytes)` (dlopen) or `WebAssembly.instantiate(bytes, imports)`
// (async loads), and wraps JS functions whose address a module takes in small generated modules
// (wasm-trampolines.mjs). All of that throws in workerd. So precompiled-modules.mjs hands each
// `.so` and each trampoline to workerd as a `CompiledWasm` module (compiled when the worker
// loads); `registerAll` records each with its exact bytes, and the two calls above answer from
// the precompiled module when given bytes equal to a registered module's (compared in full, so a
// module is never swapped for other bytes). Any other bytes reach the original functions, which
// fail as workerd makes them (Pyodide's own feature probes rely on that), with a note saying
// what was precompiled. The linker, the file system and the import machinery are untouched.
import manifestText from "./precompiled-wasm.json"; // Text, written by runtime/precompiled-modules.mjs
import { trampolineBytes } from "./wasm-trampolines.mjs";

const manifest = JSON.parse(manifestText);
const byLength = new Map(); // byte length -> [{ bytes, module }]

function register(bytes, module) {
  const sameLength = byLength.get(bytes.byteLength) ?? [];
  sameLength.push({ bytes, module });
  byLength.set(bytes.byteLength, sameLength);
}

// `pythonModules`: { "<path under python_modules>": base64 } (the files written to Pyodide's FS).
export async function registerAll(pythonModules) {
  for (const rel of manifest.extensions) {
    const { default: module } = await import(`./python_modules/${rel}`);
    register(Uint8Array.from(atob(pythonModules[rel]), (c) => c.charCodeAt(0)), module);
  }
  for (const sig of manifest.trampolines) {
    const { default: module } = await import(`./trampolines/${sig}.wasm`);
    register(trampolineBytes(sig), module);
  }
}

function asBytes(source) {
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  // emscripten passes Uint8Array or Int8Array (a slice of HEAP8): compare them as bytes.
  if (ArrayBuffer.isView(source)) return new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
  return undefined;
}

function sameBytes(a, b) {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function precompiledFor(source) {
  const bytes = asBytes(source);
  if (!bytes) return undefined;
  return byLength.get(bytes.byteLength)?.find((entry) => sameBytes(entry.bytes, bytes))?.module;
}

function explained(err, source) {
  const bytes = asBytes(source);
  if (err instanceof Error && bytes) {
    err.message +=
      ` (local runtime: these ${bytes.byteLength} bytes are neither one of the ` +
      `${manifest.extensions.length} python_modules/**/*.so files nor a trampoline for one of the ` +
      `${manifest.trampolines.length} signatures of Pyodide's JS library, which alone are precompiled)`;
  }
  return err;
}

const OriginalModule = WebAssembly.Module;
WebAssembly.Module = new Proxy(OriginalModule, {
  // `instanceof WebAssembly.Module` and the static methods still reach the original.
  construct(target, args, newTarget) {
    const module = precompiledFor(args[0]);
    if (module) return module;
    try {
      return Reflect.construct(target, args, newTarget);
    } catch (err) {
      throw explained(err, args[0]);
    }
  },
});

const originalInstantiate = WebAssembly.instantiate;
WebAssembly.instantiate = async function (source, imports) {
  const module = source instanceof OriginalModule ? undefined : precompiledFor(source);
  if (module) return { module, instance: await originalInstantiate.call(WebAssembly, module, imports) };
  try {
    return await originalInstantiate.call(WebAssembly, source, imports);
  } catch (err) {
    throw explained(err, source);
  }
};
