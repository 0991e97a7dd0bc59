// Settings: who is logged in, the settings in force (GET /api/v1/config,
// secrets masked by the node), reloading users/ACL/tokens, and the audit log of
// changes (/api/v1/audit): listed when it answers 200, hidden on 403 or 404;
// for a logged-in admin, the users and API tokens with their roles
// (/api/v1/auth/principals: a token by its fingerprint, never its secret);
// the fleet's revisions (revisions.js) on a node with [fleet].
import { html, useEffect, useState } from "htm/preact";
import { api, can, get, session } from "../api.js";
import { Revisions } from "../revisions.js";

export function Settings() {
  const [audit, setAudit] = useState(null);
  const [notice, setNotice] = useState("");
  const [config, setConfig] = useState(null);
  const [principals, setPrincipals] = useState(null);
  useEffect(() => {
    (async () => {
      const c = await get("/api/v1/config");
      if (c.ok) setConfig(c.data);
      const r = await get("/api/v1/audit?limit=100");
      setAudit(r.status === 200 ? r.data.entries ?? [] : null);
      // Only a node with access control has users and tokens to list.
      if (can("admin") && !session.anonymous) {
        const p = await get("/api/v1/auth/principals");
        if (p.ok) setPrincipals(p.data);
      }
    })();
  }, []);
  const reload = async () => {
    const r = await api("POST", "/api/v1/reload");
    setNotice(r.ok ? "reloaded: " + (r.data.reloaded ?? []).join(", ") : r.data?.error ?? `failed (${r.status})`);
  };
  return html`<div data-page="settings">
    <h1>Settings</h1>
    <div class="panel">
      <p>Logged in as <b>${session.anonymous ? "anonymous" : session.user}</b>, role <b>${session.role}</b>.</p>
      ${can("admin") && html`<div class="row-actions"><button name="reload" onClick=${reload}>Reload users, ACL and API tokens</button><span>${notice}</span></div>`}
    </div>
    ${principals && html`<h2>Users and API tokens</h2>
      <table data-principals><thead><tr><th>user or token</th><th>role</th></tr></thead><tbody>
        ${principals.users.map((u) => html`<tr><td>${u.name}</td><td>${u.role}</td></tr>`)}
        ${principals.tokens.map((t) => html`<tr><td class="mono" title="the token's fingerprint, as the audit log names it">${t.fingerprint}</td><td>${t.role}</td></tr>`)}
        ${!principals.users.length && !principals.tokens.length && html`<tr><td colspan="2" class="muted">none configured</td></tr>`}
      </tbody></table>`}
    <${Revisions} />
    ${audit && html`<h2>Audit log</h2>
      <table data-audit><thead><tr><th>time</th><th>user</th><th>role</th><th>from</th><th>request</th><th>status</th></tr></thead><tbody>
        ${audit.map((e) => html`<tr><td>${e.time}</td><td>${e.user}</td><td>${e.role}</td><td>${e.remote}</td>
          <td class="mono">${e.method} ${e.path}</td><td>${e.status}</td></tr>`)}
      </tbody></table>`}
    ${config && html`<h2>Settings in force</h2>
      <table data-config><thead><tr><th>key</th><th>value</th><th>default</th><th></th></tr></thead><tbody>
        ${config.settings.map((s) => {
          const v = JSON.stringify(s.value), d = JSON.stringify(s.default);
          return html`<tr><td class="mono">${s.key}</td><td class="mono ${v !== d ? "warn" : ""}">${v}</td>
            <td class="mono muted">${d}</td><td class="muted">${s.reloadable ? "reloadable" : ""}</td></tr>`;
        })}
      </tbody></table>
      <h2>Listeners</h2>
      ${config.listeners.map((l) => html`<table style="margin-bottom:8px"><tbody>
        ${Object.entries(l).map(([k, v]) => html`<tr><td class="mono">${k}</td><td class="mono">${JSON.stringify(v)}</td></tr>`)}
      </tbody></table>`)}`}
  </div>`;
}
