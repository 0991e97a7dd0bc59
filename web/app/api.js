// Talking to the node: REST calls (with the session's CSRF token on every
// state-changing request), the live event streams, and the metrics helpers.
// No page builds a fetch or an EventSource by hand.

export const session = { user: null, role: "admin", anonymous: true, csrf: null };
// The bus's topic prefix (bus.prefix), read from the settings in force at start.
export const bus = { prefix: "ib" };
export async function loadBus() {
  const r = await get("/api/v1/config");
  const p = r.ok && r.data.settings.find((s) => s.key === "bus.prefix");
  if (p) bus.prefix = p.value;
}

let unauthorized = () => {};
export function onUnauthorized(f) { unauthorized = f; }

// Resolves to {ok, status, data}; never throws for an HTTP error, so a page can
// show the API's own message next to the field it names.
export async function api(method, path, body) {
  // X-Requested-With: a 401 then carries no Basic challenge, which would make
  // the browser ask for a password itself instead of showing the login page.
  const headers = { Accept: "application/json", "X-Requested-With": "ironbridge-console" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && method !== "HEAD" && session.csrf) headers["X-CSRF-Token"] = session.csrf;
  let res;
  try {
    res = await fetch(path, {
      method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
  } catch (e) {
    return { ok: false, status: 0, data: { error: "the node does not answer: " + e.message } };
  }
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { error: text }; }
  if (res.status === 401 && !path.startsWith("/api/v1/auth/")) unauthorized();
  return { ok: res.ok, status: res.status, data };
}

export const get = (path) => api("GET", path);
export const enc = encodeURIComponent;

// Who am I: 200 fills the session; 401 means "log in"; 404 (a node without
// access control) is an anonymous admin, as such a node treats everyone.
export async function whoami() {
  const r = await get("/api/v1/auth/me");
  if (r.status === 404) {
    Object.assign(session, { user: null, role: "admin", anonymous: true, csrf: null });
    return "ok";
  }
  if (r.status === 401) return "login";
  if (r.ok && r.data) {
    Object.assign(session, {
      user: r.data.user ?? null, role: r.data.role ?? "viewer",
      anonymous: !!r.data.anonymous, csrf: r.data.csrf_token ?? null,
    });
    return "ok";
  }
  return "error";
}

export async function login(credentials) {
  const r = await api("POST", "/api/v1/auth/login", credentials);
  if (r.ok && r.data) {
    Object.assign(session, { user: r.data.user, role: r.data.role, anonymous: false, csrf: r.data.csrf_token });
  }
  return r;
}

export async function logout() {
  await api("POST", "/api/v1/auth/logout");
  Object.assign(session, { user: null, csrf: null });
}

const ranks = { viewer: 0, operator: 1, admin: 2 };
export const can = (role) => (ranks[session.role] ?? 0) >= ranks[role];

// A server-sent event stream: `filter` (an MQTT filter) brings `message`
// events; every stream brings `stats`. The browser reconnects by itself.
export function events(filter, handlers) {
  const url = "/api/v1/events" + (filter ? "?filter=" + enc(filter) : "");
  const source = new EventSource(url);
  if (handlers.message) {
    source.addEventListener("message", (e) => {
      const m = JSON.parse(e.data);
      if (m.payload !== null) {
        try { m.json = JSON.parse(m.payload); } catch { m.json = undefined; }
      }
      handlers.message(m);
    });
  }
  if (handlers.stats) source.addEventListener("stats", (e) => handlers.stats(JSON.parse(e.data)));
  if (handlers.state) {
    source.onopen = () => handlers.state(true);
    source.onerror = () => handlers.state(false);
  }
  return () => source.close();
}

// A stats event's metrics ([name, labels, value]) as a lookup.
export function metricsOf(stats) {
  const byName = new Map();
  for (const [name, labels, value] of stats.metrics) {
    if (!byName.has(name)) byName.set(name, []);
    byName.get(name).push({ labels: parseLabels(labels), value });
  }
  return {
    sum: (name) => (byName.get(name) ?? []).reduce((a, s) => a + s.value, 0),
    all: (name) => byName.get(name) ?? [],
  };
}

function parseLabels(text) {
  const out = {};
  for (const m of text.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) out[m[1]] = m[2].replace(/\\(.)/g, "$1");
  return out;
}

// The last few minutes of the node's figures, kept across page changes so the
// Overview's trend lines start full. One stream for the whole console.
export const history = { points: [], listeners: new Set(), connected: false };
const kKeepPoints = 150; // 5 minutes at one stats event every 2 s
let stopHistory = null;
export function startHistory() {
  if (stopHistory) return;
  stopHistory = events(null, {
    stats: (s) => {
      const m = metricsOf(s);
      const prev = history.points[history.points.length - 1];
      const point = {
        time: s.time, m,
        received: m.sum("ib_mqtt_messages_received_total"),
        sent: m.sum("ib_mqtt_messages_sent_total"),
        polls: m.sum("ib_device_polls_total"),
      };
      const dt = prev ? (s.time - prev.time) / 1000 : 0;
      point.inRate = prev && dt > 0 ? Math.max(0, (point.received - prev.received) / dt) : 0;
      point.outRate = prev && dt > 0 ? Math.max(0, (point.sent - prev.sent) / dt) : 0;
      point.pollRate = prev && dt > 0 ? Math.max(0, (point.polls - prev.polls) / dt) : 0;
      history.points.push(point);
      if (history.points.length > kKeepPoints) history.points.shift();
      for (const f of history.listeners) f();
    },
    state: (up) => { history.connected = up; for (const f of history.listeners) f(); },
  });
}

export function fmt(v, digits = 1) {
  if (v === null || v === undefined) return "–";
  if (typeof v === "number") {
    if (Number.isInteger(v)) return v.toLocaleString("en");
    return String(Number(v.toFixed(digits)));
  }
  return String(v);
}

export function ago(ms) {
  if (!ms) return "–";
  const s = Math.max(0, (Date.now() - ms) / 1000);
  if (s < 60) return s.toFixed(0) + " s ago";
  if (s < 3600) return (s / 60).toFixed(0) + " min ago";
  return (s / 3600).toFixed(1) + " h ago";
}
