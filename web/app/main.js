// The console's shell: who is logged in (or the login page), the navigation,
// and the page the URL's hash names (#/devices), so "/" is the only HTML path.
import { html, render, useEffect, useState } from "htm/preact";
import { loadBus, login, logout, onUnauthorized, session, startHistory, whoami } from "./api.js";
import { Overview } from "./pages/overview.js";
import { Devices } from "./pages/devices.js";
import { Rules } from "./pages/rules.js";
import { Bridges } from "./pages/bridges.js";
import { Trends } from "./pages/trends.js";
import { Mqtt } from "./pages/mqtt.js";
import { Logs } from "./pages/logs.js";
import { Settings } from "./pages/settings.js";

const pages = [
  ["overview", "Overview", Overview],
  ["devices", "Devices", Devices],
  ["rules", "Rules", Rules],
  ["bridges", "Bridges", Bridges],
  ["trends", "Trends", Trends],
  ["mqtt", "MQTT", Mqtt],
  ["logs", "Logs", Logs],
  ["settings", "Settings", Settings],
];

const pageOfHash = () => (location.hash.replace(/^#\/?/, "").split("/")[0] || "overview");

function Login({ done }) {
  const [form, setForm] = useState({ username: "", password: "", token: "" });
  const [error, setError] = useState("");
  const submit = async (e) => {
    e.preventDefault();
    const body = form.token ? { token: form.token } : { username: form.username, password: form.password };
    const r = await login(body);
    if (r.ok) done();
    else setError(r.data?.error ?? `login failed (${r.status})`);
  };
  const set = (k) => (e) => setForm({ ...form, [k]: e.target.value });
  return html`<form class="panel login" onSubmit=${submit}>
    <h1>Ironbridge</h1>
    <p class="muted">This node asks who you are.</p>
    <p><input name="username" placeholder="user" value=${form.username} onInput=${set("username")} autocomplete="username" /></p>
    <p><input name="password" type="password" placeholder="password" value=${form.password} onInput=${set("password")} autocomplete="current-password" /></p>
    <p class="muted">or an API token</p>
    <p><input name="token" type="password" placeholder="token" value=${form.token} onInput=${set("token")} /></p>
    <div class="form-error">${error}</div>
    <button class="primary" type="submit">Log in</button>
  </form>`;
}

function App() {
  const [auth, setAuth] = useState("checking");
  const [page, setPage] = useState(pageOfHash());
  useEffect(() => {
    const check = async () => {
      const state = await whoami();
      if (state === "ok") await loadBus();
      setAuth(state);
    };
    onUnauthorized(() => setAuth("login"));
    check();
    const onHash = () => setPage(pageOfHash());
    addEventListener("hashchange", onHash);
    return () => removeEventListener("hashchange", onHash);
  }, []);
  useEffect(() => { if (auth === "ok") startHistory(); }, [auth]);

  if (auth === "checking") return html`<p class="boot">Connecting…</p>`;
  if (auth === "login") return html`<${Login} done=${async () => { await loadBus(); setAuth("ok"); }} />`;
  if (auth === "error") return html`<p class="boot bad">The node did not answer /api/v1/auth/me; reload to retry.</p>`;
  const [, , Page] = pages.find(([id]) => id === page) ?? pages[0];
  return html`<div class="shell">
    <nav>
      <div class="brand">Ironbridge</div>
      ${pages.map(([id, title]) => html`<a href="#/${id}" class=${id === page ? "active" : ""}>${title}</a>`)}
      <div class="who">
        ${session.anonymous ? "anonymous" : session.user} · ${session.role}
        ${!session.anonymous && html` · <a href="#" onClick=${async (e) => { e.preventDefault(); await logout(); setAuth("login"); }}>log out</a>`}
      </div>
    </nav>
    <main><${Page} key=${page} /></main>
  </div>`;
}

render(html`<${App} />`, document.getElementById("app"));
