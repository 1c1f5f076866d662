// Test mode: the KV namespaces and D1 databases of `env` as the Python Worker sees them, each
// call logged and open to injected faults. The wrappers are JS classes named as workerd's own
// (KvNamespace, D1Database, D1PreparedStatement, D1DatabaseSession), because the SDK's
// _EnvWrapper and _BindingWrapper choose how to wrap a binding by its JS constructor name: Python
// code gets the same wrappers, argument and result conversions as with the real bindings.
//
// Logged: the calls that reach storage, {t, binding, op, key | sql, ms, fault, error}. KV ops:
// get, getWithMetadata, put, delete, list (key: the key, the list of keys, or list's prefix).
// D1 ops: first, all, run, raw (sql: the statement's SQL), batch (its statements' SQL joined
// with "; "), exec, dump. prepare() and bind() touch no storage and are not logged. A fault
// {binding, op?, key? | sql? (globs), raise?, delay_ms?, times?} waits delay_ms, then makes the
// call throw `raise` (the message, or a default naming the call) instead of reaching storage.
import { compileFaults, sleep, takeFault } from "./fault-match.mjs";

const LOG_LIMIT = 10000;

export class BindingWatch {
  // `bindings`: { <binding name>: "kv" | "d1" } from wrangler.toml.
  constructor(bindings) {
    this.bindings = bindings;
    this.log = [];
    this.faults = [];
    this.envs = new WeakMap();
  }

  // `env` with its KV and D1 bindings replaced by logging wrappers; everything else untouched.
  env(env) {
    if (Object.keys(this.bindings).length === 0) return env;
    let watched = this.envs.get(env);
    if (watched) return watched;
    const wrappers = new Map();
    for (const [name, kind] of Object.entries(this.bindings)) {
      const real = env[name];
      if (!real) continue;
      wrappers.set(name, kind === "kv" ? new KvNamespace(real, name, this) : new D1Database(real, name, this));
    }
    watched = new Proxy(env, { get: (target, prop) => wrappers.get(prop) ?? Reflect.get(target, prop) });
    this.envs.set(env, watched);
    return watched;
  }

  async call(binding, op, subject, invoke) {
    const entry = { t: Date.now(), binding, op, ...subject, ms: null, fault: null, error: null };
    this.log.push(entry);
    if (this.log.length > LOG_LIMIT) this.log.splice(0, this.log.length - LOG_LIMIT);
    const fault = takeFault(this.faults, (f) => f.binding === binding && (f.op === undefined || f.op === op) && matchesSubject(f, subject));
    try {
      if (fault?.delay_ms) {
        entry.fault = `delay ${fault.delay_ms}ms`;
        await sleep(fault.delay_ms);
      }
      if (fault?.raise) {
        entry.fault = "raise";
        const what = subject.key !== undefined ? JSON.stringify(subject.key) : JSON.stringify(subject.sql);
        throw new Error(typeof fault.raise === "string" ? fault.raise : `injected fault: ${binding}.${op}(${what}) failed`);
      }
      return await invoke();
    } catch (err) {
      entry.error = err?.message ?? String(err);
      throw err;
    } finally {
      entry.ms = Date.now() - entry.t;
    }
  }

  clearLog() {
    this.log = [];
  }

  // The control routes of the binding log and faults; undefined for any other request.
  control(request, pathname) {
    if (pathname === "/binding-log" && request.method === "GET") return Response.json(this.log);
    if (pathname === "/binding-log" && request.method === "DELETE") {
      this.clearLog();
      return Response.json({ ok: true });
    }
    if (pathname === "/binding-faults" && request.method === "PUT") {
      return request.json().then((list) => {
        this.faults = compileFaults(list, ["key", "sql"]);
        return Response.json({ ok: true });
      });
    }
    return undefined;
  }
}

function matchesSubject(fault, subject) {
  const { key, sql } = fault.patterns;
  if (key) {
    const keys = Array.isArray(subject.key) ? subject.key : [subject.key];
    if (!keys.some((k) => typeof k === "string" && key.test(k))) return false;
  }
  if (sql && !(typeof subject.sql === "string" && sql.test(subject.sql))) return false;
  return true;
}

// --- the wrappers (class names are what the SDK reads) -------------------------------------------

// wrapper -> { real, name, watch, sql? }. Kept outside the objects so that Python, which sees
// their properties, sees only the binding's methods.
const inner = new WeakMap();
const wrap = (wrapper, parts) => inner.set(wrapper, parts);

function logged(wrapper, op, subject, args) {
  const { real, name, watch } = inner.get(wrapper);
  return watch.call(name, op, subject, () => real[op](...args));
}

class KvNamespace {
  constructor(real, name, watch) {
    wrap(this, { real, name, watch });
  }

  get(...args) {
    return logged(this, "get", { key: args[0] ?? null }, args);
  }

  getWithMetadata(...args) {
    return logged(this, "getWithMetadata", { key: args[0] ?? null }, args);
  }

  put(...args) {
    return logged(this, "put", { key: args[0] ?? null }, args);
  }

  delete(...args) {
    return logged(this, "delete", { key: args[0] ?? null }, args);
  }

  list(...args) {
    return logged(this, "list", { key: args[0]?.prefix ?? null }, args);
  }
}

class D1PreparedStatement {
  constructor(real, sql, name, watch) {
    wrap(this, { real, sql, name, watch });
  }

  bind(...values) {
    const { real, sql, name, watch } = inner.get(this);
    return new D1PreparedStatement(real.bind(...values), sql, name, watch);
  }

  first(...args) {
    return logged(this, "first", { sql: inner.get(this).sql }, args);
  }

  all(...args) {
    return logged(this, "all", { sql: inner.get(this).sql }, args);
  }

  run(...args) {
    return logged(this, "run", { sql: inner.get(this).sql }, args);
  }

  raw(...args) {
    return logged(this, "raw", { sql: inner.get(this).sql }, args);
  }
}

// batch() hands the real statements to the real database.
const realStatement = (statement) => inner.get(statement)?.real ?? statement;
const sqlOf = (statement) => inner.get(statement)?.sql ?? "?";

// What D1Database and D1DatabaseSession share: prepare and batch.
class D1Queries {
  constructor(real, name, watch) {
    wrap(this, { real, name, watch });
  }

  prepare(sql) {
    const { real, name, watch } = inner.get(this);
    return new D1PreparedStatement(real.prepare(sql), sql, name, watch);
  }

  batch(list) {
    const { real, name, watch } = inner.get(this);
    const all = Array.from(list);
    return watch.call(name, "batch", { sql: all.map(sqlOf).join("; ") }, () => real.batch(all.map(realStatement)));
  }
}

class D1Database extends D1Queries {
  exec(sql) {
    return logged(this, "exec", { sql }, [sql]);
  }

  dump() {
    return logged(this, "dump", { sql: null }, []);
  }

  withSession(...args) {
    const { real, name, watch } = inner.get(this);
    return new D1DatabaseSession(real.withSession(...args), name, watch);
  }
}

class D1DatabaseSession extends D1Queries {
  getBookmark() {
    return inner.get(this).real.getBookmark();
  }
}
