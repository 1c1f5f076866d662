// The WebAssembly the host worker gets compiled by workerd at load, besides pyodide.asm.wasm:
// every compiled extension module (python_modules/**/*.so) and emscripten's function trampolines
// for every signature Pyodide's JS library declares. workerd forbids compiling WebAssembly from
// bytes at run time; worker/precompiled-wasm.mjs answers those compilations from these modules.
import { readFileSync } from "node:fs";
import path from "node:path";

import { trampolineBytes, trampolineKey } from "./worker/wasm-trampolines.mjs";

// Emscripten records each JS library function's wasm signature as `<name>.sig="<letters>"`.
function librarySignatures(pyodideDir) {
  const source = readFileSync(path.join(pyodideDir, "pyodide.asm.mjs"), "utf8");
  const keys = new Set();
  for (const [, sig] of source.matchAll(/\.sig="([vijfdpe][ijfdpe]*)"/g)) keys.add(trampolineKey(sig));
  return [...keys].sort();
}

// Miniflare modules under `root`, plus `precompiled-wasm.json` telling the worker what they are.
export function precompiledWasmModules(root, files, pyodideDir) {
  const extensions = Object.keys(files.python_modules).filter((rel) => rel.endsWith(".so"));
  const trampolines = librarySignatures(pyodideDir);
  return [
    ...extensions.map((rel) => ({
      type: "CompiledWasm",
      path: `${root}/python_modules/${rel}`,
      contents: Buffer.from(files.python_modules[rel], "base64"),
    })),
    ...trampolines.map((sig) => ({
      type: "CompiledWasm",
      path: `${root}/trampolines/${sig}.wasm`,
      contents: Buffer.from(trampolineBytes(sig)),
    })),
    { type: "Text", path: `${root}/precompiled-wasm.json`, contents: JSON.stringify({ extensions, trampolines }) },
  ];
}
