// The fault list of test mode: one list for every binding the runtime can fault, validated here
// (Node side) so a mistake is a 400 naming the fault, the key and the fix, never a fault that
// silently does nothing. Each fault targets one binding:
//
//   assets (no "binding", or the [assets] binding): exactly one of path (glob) | prefix;
//          raise, status, delay_ms, times
//   KV     (binding = a [[kv_namespaces]] binding): op?, key? (glob); raise, delay_ms, times
//   D1     (binding = a [[d1_databases]] binding):  op?, sql? (glob); raise, delay_ms, times
//   edge   (edge = "purge" | "invalidate" | "*", with [cache] enabled): fail, raise, code,
//          delay_ms, times. fail (true or a message): ctx.cache.<op>() resolves
//          {success: false, errors: [{code, message}]} and nothing is purged (code: 429 unless
//          given), as a failed or rate-limited purge; raise: its promise rejects instead.
//
// raise: true or a message (the call throws it); status: answered instead of the asset;
// delay_ms: waited before the call; times: only the first N matching calls (counted by the worker
// that applies it: the asset proxy for assets, each isolate for KV and D1). Globs: `*` matches
// any characters, `?` one.

export const KV_OPS = ["get", "getWithMetadata", "put", "delete", "list"];
export const D1_OPS = ["first", "all", "run", "raw", "batch", "exec", "dump"];

const EFFECTS = ["raise", "delay_ms", "times"];
const KINDS = {
  assets: { keys: ["binding", "path", "prefix", "status", ...EFFECTS], ops: undefined },
  kv: { keys: ["binding", "op", "key", ...EFFECTS], ops: KV_OPS },
  d1: { keys: ["binding", "op", "sql", ...EFFECTS], ops: D1_OPS },
  edge: { keys: ["edge", "fail", "code", ...EFFECTS], ops: undefined },
};
export const EDGE_OPS = ["purge", "invalidate", "*"];

export class FaultError extends TypeError {
  status = 400;
}

// The kind of each binding a fault may name, from the Worker's config.
export function faultTargets(config) {
  const targets = new Map();
  if (config.assets?.binding) targets.set(config.assets.binding, "assets");
  for (const { binding } of config.kvNamespaces) targets.set(binding, "kv");
  for (const { binding } of config.d1Databases) targets.set(binding, "d1");
  return targets;
}

// Checks `faults` against the config; answers them split by the worker that applies them.
export function validateFaults(faults, config) {
  if (!Array.isArray(faults)) throw new FaultError("faults must be a list of objects");
  const targets = faultTargets(config);
  const assets = [];
  const bindings = [];
  const edge = [];
  faults.forEach((fault, index) => {
    const where = `fault #${index + 1} ${JSON.stringify(fault)}`;
    if (typeof fault !== "object" || fault === null || Array.isArray(fault)) throw new FaultError(`${where}: must be an object`);
    const kind = kindOf(fault, targets, where);
    const { keys, ops } = KINDS[kind];
    const unknown = Object.keys(fault).filter((k) => !keys.includes(k));
    if (unknown.length) {
      throw new FaultError(`${where}: unknown key ${unknown.map((k) => `"${k}"`).join(", ")}; a ${kind} fault takes ${keys.join(", ")}`);
    }
    if (kind === "edge") {
      checkEdgeFault(fault, config, where);
      edge.push(fault);
      return;
    }
    checkEffects(fault, kind, where);
    if (kind === "assets") {
      if ((fault.path === undefined) === (fault.prefix === undefined)) {
        throw new FaultError(`${where}: an asset fault needs exactly one of "path" (glob) or "prefix"`);
      }
      for (const field of ["path", "prefix"]) checkString(fault, field, where);
      assets.push(fault);
      return;
    }
    if (fault.op !== undefined && !ops.includes(fault.op)) {
      throw new FaultError(`${where}: "op" must be one of ${ops.join(", ")} for a ${kind.toUpperCase()} binding (or left out: every op)`);
    }
    for (const field of ["key", "sql"]) checkString(fault, field, where);
    bindings.push(fault);
  });
  return { assets, bindings, edge };
}

function checkEdgeFault(fault, config, where) {
  if (!config.cache?.enabled) throw new FaultError(`${where}: an edge fault needs the edge: add [cache] enabled = true to wrangler.toml`);
  if (!EDGE_OPS.includes(fault.edge)) throw new FaultError(`${where}: "edge" must be one of ${EDGE_OPS.join(", ")}`);
  const { fail, raise, code, delay_ms: delay, times } = fault;
  for (const [field, value] of [["fail", fail], ["raise", raise]]) {
    if (value !== undefined && value !== true && !(typeof value === "string" && value !== "")) {
      throw new FaultError(`${where}: "${field}" must be true or a message`);
    }
  }
  if (code !== undefined && !Number.isInteger(code)) throw new FaultError(`${where}: "code" must be a whole number (the error's code)`);
  if (delay !== undefined && !(typeof delay === "number" && delay >= 0)) {
    throw new FaultError(`${where}: "delay_ms" must be a number of milliseconds >= 0`);
  }
  if (times !== undefined && !(Number.isInteger(times) && times > 0)) throw new FaultError(`${where}: "times" must be a whole number > 0`);
  if (!fail && !raise && !delay) throw new FaultError(`${where}: the fault has no effect: add "fail", "raise" or "delay_ms"`);
}

function kindOf(fault, targets, where) {
  if (fault.edge !== undefined) return "edge";
  if (fault.binding === undefined) {
    if ([...targets.values()].includes("assets")) return "assets";
    throw new FaultError(`${where}: "binding" is missing: name one of ${names(targets)}`);
  }
  const kind = targets.get(fault.binding);
  if (!kind) throw new FaultError(`${where}: "binding" must be a binding of wrangler.toml that faults apply to: ${names(targets)}`);
  return kind;
}

const names = (targets) => (targets.size ? [...targets.keys()].join(", ") : "(none: wrangler.toml has no [assets], KV or D1 binding)");

function checkEffects(fault, kind, where) {
  const { raise, status, delay_ms: delay, times } = fault;
  if (raise !== undefined && raise !== true && !(typeof raise === "string" && raise !== "")) {
    throw new FaultError(`${where}: "raise" must be true or a message`);
  }
  if (status !== undefined && !(Number.isInteger(status) && status >= 200 && status <= 599)) {
    throw new FaultError(`${where}: "status" must be an HTTP status from 200 to 599`);
  }
  if (delay !== undefined && !(typeof delay === "number" && delay >= 0)) {
    throw new FaultError(`${where}: "delay_ms" must be a number of milliseconds >= 0`);
  }
  if (times !== undefined && !(Number.isInteger(times) && times > 0)) {
    throw new FaultError(`${where}: "times" must be a whole number > 0`);
  }
  if (!raise && !status && !delay) {
    const effects = kind === "assets" ? '"raise", "status" or "delay_ms"' : '"raise" or "delay_ms"';
    throw new FaultError(`${where}: the fault has no effect: add ${effects}`);
  }
}

function checkString(fault, field, where) {
  if (fault[field] !== undefined && typeof fault[field] !== "string") {
    throw new FaultError(`${where}: "${field}" must be a string`);
  }
}
