// The bytes of the WebAssembly module emscripten's `convertJsFunctionToWasm(func, sig)` compiles
// to put a JS function into the function table (needed when a module takes the address of a JS
// library function, e.g. Pyodide's own `emscripten_glBindVertexArrayOES`, sig "vi"). They depend
// on the signature alone, so they can be compiled ahead, like any other module here. Written to
// give exactly the bytes of the pinned Pyodide's emscripten (pyodide.asm.mjs: a two-byte LEB128
// length before each vector); if a new emscripten encodes them otherwise, the modules no longer
// match and the error names the signature. Pure: used by Node (to build the modules) and workerd.

const TYPE_CODES = { i: 0x7f, p: 0x7f, j: 0x7e, f: 0x7d, d: 0x7c, e: 0x6f };

const withLength = (items) => [(items.length % 128) | 128, items.length >> 7, ...items];
const typeVector = (letters) => withLength(Array.from(letters, (letter) => TYPE_CODES[letter]));

export function trampolineBytes(sig) {
  for (const letter of sig.slice(1)) {
    if (!(letter in TYPE_CODES)) throw new Error(`unknown type '${letter}' in signature "${sig}"`);
  }
  const results = sig[0] === "v" ? "" : sig[0];
  return Uint8Array.of(
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // \0asm, version 1
    0x01, ...withLength([0x01, 0x60, ...typeVector(sig.slice(1)), ...typeVector(results)]), // type
    ...[0x02, 0x07, 0x01, 0x01, 0x65, 0x01, 0x66, 0x00, 0x00], // import "e" "f": func of type 0
    ...[0x07, 0x05, 0x01, 0x01, 0x66, 0x00, 0x00], // export "f": that function
  );
}

// "p" (a pointer) is "i" in wasm32: one module serves both.
export const trampolineKey = (sig) => sig.replaceAll("p", "i");
