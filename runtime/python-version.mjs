// Which Python (and so which Pyodide from npm) the Worker's compatibility flags select.
// Production picks the Python runtime from these flags; the local runtime must load the matching
// Pyodide or Python code would be tested against the wrong interpreter. Only combinations listed
// here are known; anything else is an error rather than a silent guess.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

// flag => runtime. A new Python flag needs a row here and the matching `pyodide` pin in package.json.
export const PYTHON_RUNTIMES = {
  python_workers_20260610: { python: "3.14", pyodideMajor: "314" },
};

export function pythonRuntimeFor(flags, compatibilityDate) {
  const selectors = flags.filter((f) => /^python_workers_\d{8}$/.test(f));
  if (selectors.length > 1) {
    throw new Error(`compatibility_flags select more than one Python runtime: ${selectors.join(", ")}`);
  }
  const known = Object.entries(PYTHON_RUNTIMES)
    .map(([flag, r]) => `${flag} => Python ${r.python} (pyodide ${r.pyodideMajor}.x)`)
    .join("; ");
  if (selectors.length === 0) {
    throw new Error(
      `compatibility_flags name no python_workers_YYYYMMDD flag, so production would use the default ` +
        `Python of compatibility_date ${compatibilityDate}; the local runtime has no mapping for that. ` +
        `Known: ${known}. Add a row to runtime/python-version.mjs (and pin the matching pyodide) to support it.`,
    );
  }
  const runtime = PYTHON_RUNTIMES[selectors[0]];
  if (!runtime) {
    throw new Error(
      `unknown Python runtime flag ${selectors[0]}: the local runtime does not know which Python/Pyodide ` +
        `it selects. Known: ${known}. Add a row to runtime/python-version.mjs.`,
    );
  }
  return { flag: selectors[0], ...runtime };
}

// The installed npm pyodide must be the one the flag selects.
export function checkInstalledPyodide(runtime) {
  const pkgPath = require.resolve("pyodide/package.json");
  const { version } = JSON.parse(readFileSync(pkgPath, "utf8"));
  if (version.split(".")[0] !== runtime.pyodideMajor) {
    throw new Error(
      `${runtime.flag} selects Python ${runtime.python} (pyodide ${runtime.pyodideMajor}.x) but ` +
        `node_modules has pyodide ${version}: pin pyodide ${runtime.pyodideMajor}.x in package.json and run npm ci`,
    );
  }
  return { version, dir: pkgPath.slice(0, -"package.json".length) };
}
