// Test mode, workerd side: the fault list as the asset proxy and the binding proxy apply it.
// Faults arrive validated by Node (runtime/faults.mjs); here their globs become RegExps and
// `times` a counter kept for as long as this isolate holds the list. The first fault that
// matches a call and has calls left is the one applied.

export function globToRegExp(glob) {
  const re = glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${re}$`, "s");
}

// `globFields` name the fault fields holding globs; each becomes `patterns[field]`.
export function compileFaults(list, globFields) {
  return list.map((fault) => ({
    ...fault,
    patterns: Object.fromEntries(
      globFields.filter((field) => typeof fault[field] === "string").map((field) => [field, globToRegExp(fault[field])]),
    ),
    remaining: fault.times,
  }));
}

export function takeFault(faults, matches) {
  for (const fault of faults) {
    if (fault.remaining === 0 || !matches(fault)) continue;
    if (fault.remaining !== undefined) fault.remaining -= 1;
    return fault;
  }
  return undefined;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
