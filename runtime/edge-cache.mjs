// The edge tier's stand-in: what Workers Cache does in front of a Worker (`[cache] enabled =
// true`), kept in this Node process so every isolate of the runtime sits behind one cache, as
// every isolate of a Worker sits behind the platform's. Miniflare has none (standalone workerd
// leaves `ctx.cache` undefined), so without this the local runtime could not show what a user
// who turns the edge on gets. It follows the Cloudflare docs (workers/cache/*): the key is the
// path and query, the Worker version (unless cross_version_cache) and the anti-poisoning headers,
// never the host; GET and HEAD share one entry; freshness per RFC 9111 read from
// Cloudflare-CDN-Cache-Control > CDN-Cache-Control > Cache-Control; stale-while-revalidate,
// heuristic freshness, Vary, bypasses, request collapsing, Cache-Tag purges, invalidate() with
// conditional revalidation, and Cf-Cache-Status. It is a stand-in: one process, one "data
// center", no tiers, no size limits of the platform, entries in memory until the runtime stops.
//
// The transport is not here: `handle(request, origin)` takes a request and a function that asks
// an isolate (runtime/edge-server.mjs passes one over HTTP), and answers the response to send.

export const CACHE_STATUSES = ["HIT", "MISS", "EXPIRED", "REVALIDATED", "UPDATING", "STALE", "BYPASS", "DYNAMIC"];

// Request headers that are part of every key (anti-poisoning, as the docs list them).
const KEY_HEADERS = [
  "x-http-method-override",
  "x-http-method",
  "x-method-override",
  "x-forwarded-host",
  "x-host",
  "x-forwarded-scheme",
  "x-original-url",
  "x-rewrite-url",
  "forwarded",
  "cloudflare-workers-version-key",
];
// Freshness when a response gives none (seconds), by status; other statuses are not stored.
export const HEURISTIC_SECONDS = { 200: 7200, 301: 1200, 404: 180, 405: 60 };
const NEVER_STORED = new Set([206, 520, 521, 522, 523, 524, 525, 526]);
// Never sent on to the client (the edge consumes them) nor kept in an entry.
const CONSUMED = new Set(["cache-tag", "cloudflare-cdn-cache-control"]);
const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding", "content-length", "upgrade", "proxy-connection", "te", "trailer"]);
const CLIENT_CONDITIONALS = ["if-none-match", "if-modified-since", "if-match", "if-unmodified-since", "if-range"];
export const TAG_MAX_CHARS = 1024;
export const TAGS_MAX = 1000;
const LOG_LIMIT = 10000;
const STORED_SHOWN = 1000;
const PURGE_MEMORY = 1000;
const MAX_BYTES = 512 * 1024 * 1024;

// --- parsing --------------------------------------------------------------------------------

// "max-age=60, private=\"set-cookie\", no-cache" -> Map { "max-age" => "60", ... } (names lower-cased).
export function parseDirectives(value) {
  const directives = new Map();
  if (!value) return directives;
  for (const part of value.split(",")) {
    const match = /^\s*([^=\s]+)\s*(?:=\s*(?:"([^"]*)"|([^\s]*)))?\s*$/.exec(part);
    if (!match) continue;
    const name = match[1].toLowerCase();
    if (!directives.has(name)) directives.set(name, match[2] ?? match[3] ?? true);
  }
  return directives;
}

const seconds = (value) => (typeof value === "string" && /^\d+$/.test(value) ? Number(value) : undefined);

// The tags of a `Cache-Tag` header, as the edge keeps them: comma-separated, printable ASCII
// (0x21-0x7E) of at most 1,024 characters each, at most 1,000; others dropped without a word.
// Matched case-insensitively, so kept lower-cased.
export function parseCacheTags(value) {
  if (!value) return [];
  const tags = [];
  for (const raw of value.split(",")) {
    const tag = raw.trim();
    if (!tag || tag.length > TAG_MAX_CHARS || !/^[\x21-\x7e]+$/.test(tag)) continue;
    tags.push(tag.toLowerCase());
    if (tags.length === TAGS_MAX) break;
  }
  return tags;
}

// The cache directives of a response: the header the edge reads first wins, whole.
export function cachePolicy(headers) {
  const source = ["cloudflare-cdn-cache-control", "cdn-cache-control", "cache-control"].find((name) => headers.has(name));
  const d = parseDirectives(source ? headers.get(source) : "");
  const sMaxAge = seconds(d.get("s-maxage"));
  const maxAge = seconds(d.get("max-age"));
  // s-maxage, must-revalidate and proxy-revalidate turn stale-while-revalidate (and -if-error) off.
  const strict = sMaxAge !== undefined || d.has("must-revalidate") || d.has("proxy-revalidate");
  let lifetime = sMaxAge ?? maxAge;
  if (lifetime === undefined && headers.has("expires")) {
    const expires = Date.parse(headers.get("expires"));
    const date = headers.has("date") ? Date.parse(headers.get("date")) : Date.now();
    lifetime = Number.isNaN(expires) ? 0 : Math.max(0, Math.floor((expires - (Number.isNaN(date) ? Date.now() : date)) / 1000));
  }
  const privateValue = d.get("private");
  return {
    source: source ?? null,
    explicit: lifetime !== undefined,
    lifetime,
    noStore: d.has("no-store"),
    // private="set-cookie" names fields not to keep; bare `private` keeps the whole answer out.
    private: privateValue === true,
    privateFields: typeof privateValue === "string" ? privateValue.split(",").map((f) => f.trim().toLowerCase()).filter(Boolean) : [],
    noCache: d.has("no-cache"),
    swr: strict ? 0 : seconds(d.get("stale-while-revalidate")) ?? 0,
    sie: strict ? 0 : seconds(d.get("stale-if-error")) ?? 0,
    // A request with Authorization may be answered from (and stored in) the cache only then.
    sharedWithAuthorization: d.has("public") || d.has("must-revalidate") || sMaxAge !== undefined,
  };
}

// --- the cache ------------------------------------------------------------------------------

export class EdgeCache {
  constructor({ crossVersionCache = false, now = () => Date.now() } = {}) {
    this.crossVersionCache = crossVersionCache;
    this.now = now;
    this.version = 1;
    // primary key -> { vary: [names] | null, variants: Map(secondary -> entry) }
    this.store = new Map();
    this.bytes = 0;
    this.inflight = new Map();
    this.purgeSeq = 0;
    this.purges = []; // recent purges and invalidations, to keep answers fetched before them out
    this.faults = [];
    this.resetStats();
  }

  resetStats() {
    this.counts = Object.fromEntries(CACHE_STATUSES.map((s) => [s, 0]));
    this.originRequests = 0;
    this.originByIsolate = {};
    this.log = [];
    this.purgeLog = [];
  }

  // A new deploy: entries of the old version stay, but keys of the new one differ (unless
  // cross_version_cache), as on the platform.
  newVersion() {
    this.version += 1;
  }

  stats() {
    let entries = 0;
    const stored = [];
    for (const [key, { variants }] of this.store) {
      entries += variants.size;
      for (const entry of variants.values()) {
        stored.push({
          key: JSON.parse(key),
          path: entry.path,
          status: entry.status,
          lifetime: entry.policy.lifetime,
          staleWhileRevalidate: entry.policy.swr,
          noCache: entry.policy.noCache,
          age: Math.floor(this.#age(entry)),
          invalidated: entry.invalidatedAt !== null,
          tags: [...entry.tags],
          vary: entry.varyValues,
        });
      }
    }
    return {
      enabled: true,
      version: this.version,
      crossVersionCache: this.crossVersionCache,
      entries,
      bytes: this.bytes,
      // The most recently stored entries (at most STORED_SHOWN), newest last.
      stored: stored.slice(-STORED_SHOWN),
      counts: { ...this.counts },
      originRequests: this.originRequests,
      originByIsolate: { ...this.originByIsolate },
      purges: this.purgeLog,
      log: this.log,
    };
  }

  // Drops every entry and the counters (a fresh edge).
  clear() {
    this.store.clear();
    this.bytes = 0;
    this.resetStats();
  }

  // --- request path -------------------------------------------------------------------------

  // request: { method, target (path + query), headers: Headers, body: Buffer | null, isolate }
  // origin(request) -> { status, headers: Headers, body: Buffer } (an isolate's answer)
  // Answers { status, headers: Headers, body: Buffer | null, cacheStatus }.
  async handle(request, origin) {
    const started = this.now();
    const ask = async (req) => {
      this.originRequests += 1;
      this.originByIsolate[request.isolate] = (this.originByIsolate[request.isolate] ?? 0) + 1;
      return origin(req);
    };
    const answer = await this.#handle(request, ask);
    this.counts[answer.cacheStatus] += 1;
    this.log.push({ t: started, method: request.method, path: request.target, status: answer.status, cacheStatus: answer.cacheStatus, isolate: request.isolate });
    if (this.log.length > LOG_LIMIT) this.log.splice(0, this.log.length - LOG_LIMIT);
    const headers = new Headers(answer.headers);
    headers.set("cf-cache-status", answer.cacheStatus);
    // HEAD: the headers of the GET the entry holds, no body.
    const contentLength = answer.body?.length ?? 0;
    return { ...answer, headers, contentLength, body: request.method === "HEAD" ? null : answer.body };
  }

  async #handle(request, ask) {
    if (request.method !== "GET" && request.method !== "HEAD") {
      return { ...clientView(await ask(request)), cacheStatus: "DYNAMIC" };
    }
    const key = this.#key(request);
    const hasAuth = request.headers.has("authorization");
    for (let attempt = 0; ; attempt++) {
      let entry = this.#lookup(key, request.headers);
      // A request with Authorization is answered only by entries whose response allowed it.
      if (entry && hasAuth && !entry.policy.sharedWithAuthorization) entry = undefined;
      if (entry) {
        const staleFor = this.#staleFor(entry);
        if (staleFor < 0 && !entry.policy.noCache) return this.#serve(entry, request, "HIT");
        if (!entry.policy.noCache && staleFor <= entry.policy.swr) {
          // Stale within stale-while-revalidate: served, while one revalidation runs behind.
          entry.revalidating ??= this.#revalidate(entry, request, key, ask)
            .catch(() => {})
            .finally(() => (entry.revalidating = null));
          return this.#serve(entry, request, "UPDATING");
        }
      }
      if (hasAuth) return this.#fetchAndStore(request, key, ask);
      const running = this.inflight.get(key);
      // Collapsing: one miss (or blocking revalidation) per key runs the Worker; the others
      // wait, then look again (an answer that was not stored, or a Vary variant of another
      // value, is then fetched anew).
      if (running && attempt === 0) {
        await running.catch(() => {});
        continue;
      }
      const fetching = entry ? this.#revalidateBlocking(entry, request, key, ask) : this.#fetchAndStore(request, key, ask);
      this.inflight.set(key, fetching);
      try {
        return await fetching;
      } finally {
        if (this.inflight.get(key) === fetching) this.inflight.delete(key);
      }
    }
  }

  #key(request) {
    const parts = [this.crossVersionCache ? "*" : `v${this.version}`, request.target];
    for (const name of KEY_HEADERS) {
      const value = request.headers.get(name);
      if (value === null) continue;
      if (name === "x-forwarded-scheme" && /^https?$/i.test(value.trim())) continue;
      parts.push(`${name}:${value}`);
    }
    return JSON.stringify(parts);
  }

  #lookup(key, headers) {
    const slot = this.store.get(key);
    if (!slot) return undefined;
    return slot.variants.get(secondaryKey(slot.vary, headers));
  }

  #age(entry) {
    return entry.ageAtStore + Math.max(0, (this.now() - entry.storedAt) / 1000);
  }

  // Seconds the entry has been stale (negative while fresh).
  #staleFor(entry) {
    const sinceExpiry = this.#age(entry) - entry.policy.lifetime;
    if (entry.invalidatedAt === null) return sinceExpiry;
    return Math.max(sinceExpiry, (this.now() - entry.invalidatedAt) / 1000);
  }

  // Stale past stale-while-revalidate (or no-cache): the client waits for the Worker, asked
  // conditionally when the entry has a validator; stale-if-error serves it on a failure.
  async #revalidateBlocking(entry, request, key, ask) {
    const staleFor = this.#staleFor(entry);
    let fresh;
    try {
      fresh = await this.#revalidate(entry, request, key, ask);
    } catch (err) {
      if (staleFor <= entry.policy.sie) return this.#serve(entry, request, "STALE");
      throw err;
    }
    if (fresh.status >= 500 && staleFor <= entry.policy.sie) return this.#serve(entry, request, "STALE");
    return fresh;
  }

  // One conditional request for a stored entry: a 304 refreshes it in place (REVALIDATED, the
  // stored body kept), anything else replaces it (EXPIRED).
  async #revalidate(entry, request, key, ask) {
    const headers = withoutClientConditionals(request.headers);
    if (entry.etag) headers.set("if-none-match", entry.etag);
    if (entry.lastModified) headers.set("if-modified-since", entry.lastModified);
    const seq = this.purgeSeq;
    const response = await ask({ ...request, method: "GET", headers, body: null });
    if (response.status === 304 && (entry.etag || entry.lastModified)) {
      const merged = new Headers(entry.headers);
      for (const [name, value] of response.headers) {
        if (!HOP_BY_HOP.has(name) && name !== "set-cookie") merged.set(name, value);
      }
      const refreshed = this.#makeEntry({ status: entry.status, headers: merged, body: entry.body }, entry.varyValues, entry.path);
      if (refreshed && this.#store(key, entry.vary, refreshed, seq)) return this.#serve(refreshed, request, "REVALIDATED");
      this.#remove(key, entry);
      return { status: entry.status, headers: refreshed?.clientHeaders ?? entry.clientHeaders, body: entry.body, cacheStatus: "REVALIDATED" };
    }
    // A failing Worker leaves the stale entry in place (stale-if-error may still serve it).
    if (response.status >= 500) return { ...clientView(response), cacheStatus: "EXPIRED" };
    this.#remove(key, entry);
    const stored = this.#storeResponse(request, key, response, seq);
    return { ...clientView(response), cacheStatus: stored === "stored" ? "EXPIRED" : stored };
  }

  async #fetchAndStore(request, key, ask) {
    const seq = this.purgeSeq;
    // A cold HEAD is fetched as GET: the entry then answers both.
    const headers = withoutClientConditionals(request.headers);
    const response = await ask({ ...request, method: "GET", headers, body: null });
    const outcome = this.#storeResponse(request, key, response, seq);
    return { ...clientView(response), cacheStatus: outcome === "stored" ? "MISS" : outcome };
  }

  // Stores a fresh answer when the docs allow; answers "stored", "BYPASS" or "DYNAMIC".
  #storeResponse(request, key, response, seq) {
    const { headers, status } = response;
    if (NEVER_STORED.has(status) || status === 304) return "DYNAMIC";
    const policy = cachePolicy(headers);
    if (policy.noStore || policy.private) return "BYPASS";
    if (headers.has("set-cookie") && !policy.privateFields.includes("set-cookie")) return "BYPASS";
    if (request.headers.has("authorization") && !policy.sharedWithAuthorization) return "BYPASS";
    const vary = varyNames(headers);
    if (vary === "*") return "BYPASS";
    if (!policy.explicit && !policy.noCache && HEURISTIC_SECONDS[status] === undefined) return "DYNAMIC";
    const entry = this.#makeEntry(response, vary.map((name) => request.headers.get(name)), request.target);
    this.#store(key, vary, entry, seq);
    return "stored";
  }

  #makeEntry(response, varyValues, path) {
    const { status, headers, body } = response;
    const policy = cachePolicy(headers);
    if (!policy.explicit) policy.lifetime = policy.noCache ? 0 : HEURISTIC_SECONDS[status] ?? 0;
    const kept = new Headers();
    for (const [name, value] of headers) {
      if (HOP_BY_HOP.has(name) || name === "age" || policy.privateFields.includes(name)) continue;
      kept.append(name, value);
    }
    const age = Number(headers.get("age"));
    return {
      status,
      headers: kept, // as stored, Cache-Tag included (a 304 merges into these)
      clientHeaders: clientView({ headers: kept }).headers,
      body,
      policy,
      tags: new Set(parseCacheTags(headers.get("cache-tag"))),
      path,
      etag: headers.get("etag"),
      lastModified: headers.get("last-modified"),
      vary: varyNames(headers),
      varyValues,
      storedAt: this.now(),
      ageAtStore: Number.isFinite(age) && age > 0 ? age : 0,
      invalidatedAt: null,
      revalidating: null,
    };
  }

  // Keeps the entry unless a purge since `seq` (the fetch's start) matches it: an answer made
  // before a purge must not outlive it. An invalidation since then marks it stale at once.
  #store(key, vary, entry, seq) {
    for (const purge of this.purges) {
      if (purge.seq <= seq || !matches(purge.options, entry)) continue;
      if (purge.op === "purge") return false;
      entry.invalidatedAt = purge.t;
    }
    let slot = this.store.get(key);
    const names = Array.isArray(vary) ? vary : [];
    if (!slot || slot.vary.join() !== names.join()) {
      if (slot) for (const old of slot.variants.values()) this.bytes -= old.body.length;
      slot = { vary: names, variants: new Map() };
      this.store.set(key, slot);
    }
    const secondary = JSON.stringify(entry.varyValues);
    const old = slot.variants.get(secondary);
    if (old) this.bytes -= old.body.length;
    slot.variants.set(secondary, entry);
    this.bytes += entry.body.length;
    // Re-inserted last: eviction below drops the least recently stored first.
    this.store.delete(key);
    this.store.set(key, slot);
    this.#evict();
    return true;
  }

  #evict() {
    for (const [key, slot] of this.store) {
      if (this.bytes <= MAX_BYTES) return;
      for (const entry of slot.variants.values()) this.bytes -= entry.body.length;
      this.store.delete(key);
    }
  }

  #remove(key, entry) {
    const slot = this.store.get(key);
    if (!slot) return;
    for (const [secondary, stored] of slot.variants) {
      if (stored !== entry) continue;
      slot.variants.delete(secondary);
      this.bytes -= stored.body.length;
    }
    if (slot.variants.size === 0) this.store.delete(key);
  }

  #serve(entry, request, cacheStatus) {
    const headers = new Headers(entry.clientHeaders);
    headers.set("age", String(Math.floor(this.#age(entry))));
    // A client's own conditional request is answered from the entry.
    const inm = request.headers.get("if-none-match");
    if (inm && entry.etag && inm.split(",").some((tag) => tag.trim() === entry.etag || tag.trim() === "*")) {
      return { status: 304, headers, body: Buffer.alloc(0), cacheStatus };
    }
    return { status: entry.status, headers, body: entry.body, cacheStatus };
  }

  // --- purge and invalidate (ctx.cache) -----------------------------------------------------

  // op: "purge" | "invalidate"; options: {tags?, pathPrefixes?, purgeEverything?}.
  // Answers {success, errors}; bad options throw a TypeError naming the field.
  async apply(op, options) {
    const checked = checkPurgeOptions(op, options);
    const fault = this.#takeFault(op);
    const record = { t: this.now(), op, options: checked, success: true, removed: 0, errors: [] };
    this.purgeLog.push(record);
    if (this.purgeLog.length > LOG_LIMIT) this.purgeLog.splice(0, this.purgeLog.length - LOG_LIMIT);
    if (fault?.delay_ms) await new Promise((resolve) => setTimeout(resolve, fault.delay_ms));
    if (fault?.raise) {
      record.success = false;
      record.errors = [{ code: fault.code ?? 500, message: faultMessage(fault.raise, op) }];
      throw new Error(record.errors[0].message);
    }
    if (fault?.fail) {
      record.success = false;
      record.errors = [{ code: fault.code ?? 429, message: faultMessage(fault.fail, op) }];
      return { success: false, errors: record.errors };
    }
    this.purgeSeq += 1;
    const now = this.now();
    this.purges.push({ seq: this.purgeSeq, t: now, op, options: checked });
    if (this.purges.length > PURGE_MEMORY) this.purges.splice(0, this.purges.length - PURGE_MEMORY);
    for (const [key, slot] of this.store) {
      for (const [secondary, entry] of slot.variants) {
        if (!matches(checked, entry)) continue;
        record.removed += 1;
        if (op === "invalidate") {
          entry.invalidatedAt ??= now;
        } else {
          slot.variants.delete(secondary);
          this.bytes -= entry.body.length;
        }
      }
      if (slot.variants.size === 0) this.store.delete(key);
    }
    return { success: true, errors: [] };
  }

  setFaults(faults) {
    this.faults = faults.map((fault) => ({ ...fault, left: fault.times ?? Infinity }));
  }

  #takeFault(op) {
    const fault = this.faults.find((f) => f.left > 0 && (f.edge === op || f.edge === "*"));
    if (fault) fault.left -= 1;
    return fault;
  }
}

function faultMessage(value, op) {
  return typeof value === "string" ? value : `${op} failed (local runtime fault)`;
}

export function checkPurgeOptions(op, options) {
  const where = `ctx.cache.${op}(options)`;
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new TypeError(`${where}: options must be an object with tags, pathPrefixes or purgeEverything`);
  }
  const unknown = Object.keys(options).filter((k) => !["tags", "pathPrefixes", "purgeEverything"].includes(k));
  if (unknown.length) throw new TypeError(`${where}: unknown option ${unknown.join(", ")}; it takes tags, pathPrefixes, purgeEverything`);
  const list = (field) => {
    const value = options[field];
    if (value === undefined) return [];
    if (!Array.isArray(value) || !value.every((v) => typeof v === "string" && v !== "")) {
      throw new TypeError(`${where}: ${field} must be a list of non-empty strings`);
    }
    return value;
  };
  const tags = list("tags").map((tag) => tag.toLowerCase());
  const pathPrefixes = list("pathPrefixes");
  const bad = pathPrefixes.find((prefix) => !prefix.startsWith("/"));
  if (bad !== undefined) throw new TypeError(`${where}: pathPrefixes must start with "/", got ${JSON.stringify(bad)}`);
  const purgeEverything = options.purgeEverything === true;
  if (options.purgeEverything !== undefined && typeof options.purgeEverything !== "boolean") {
    throw new TypeError(`${where}: purgeEverything must be true or false`);
  }
  if (!tags.length && !pathPrefixes.length && !purgeEverything) {
    throw new TypeError(`${where}: give tags, pathPrefixes or purgeEverything: true`);
  }
  return { tags, pathPrefixes, purgeEverything };
}

function matches({ tags, pathPrefixes, purgeEverything }, entry) {
  return purgeEverything || tags.some((tag) => entry.tags.has(tag)) || pathPrefixes.some((prefix) => entry.path.startsWith(prefix));
}

function varyNames(headers) {
  const value = headers.get("vary");
  if (!value) return [];
  const names = value.split(",").map((n) => n.trim().toLowerCase()).filter(Boolean);
  return names.includes("*") ? "*" : names.sort();
}

function secondaryKey(vary, headers) {
  return JSON.stringify(vary.map((name) => headers.get(name)));
}

function withoutClientConditionals(headers) {
  const copy = new Headers(headers);
  for (const name of CLIENT_CONDITIONALS) copy.delete(name);
  return copy;
}

// What the client gets of an answer: without the headers the edge consumes, nor hop-by-hop ones.
function clientView(response) {
  const headers = new Headers();
  for (const [name, value] of response.headers) {
    if (!CONSUMED.has(name) && !HOP_BY_HOP.has(name)) headers.append(name, value);
  }
  return { status: response.status, headers, body: response.body };
}
