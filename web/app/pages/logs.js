// Logs: the node's recent log lines (GET /api/v1/logs, the last 1,000 kept in
// memory), filtered by level and module, polled every 3 s.
import { html, useState } from "htm/preact";
import { enc, get } from "../api.js";
import { usePoll } from "../widgets.js";

const levels = ["trace", "debug", "info", "warning", "error", "critical"];
const levelClass = { warning: "warn", error: "bad", critical: "bad" };

export function Logs() {
  const [level, setLevel] = useState("info");
  const [module, setModule] = useState("");
  const [lines, setLines] = useState(null);
  const [error, setError] = useState("");
  usePoll(async () => {
    const r = await get(`/api/v1/logs?limit=500&level=${enc(level)}${module ? "&module=" + enc(module) : ""}`);
    if (r.ok) { setLines(r.data.lines); setError(""); } else setError(r.data?.error ?? `failed (${r.status})`);
  }, 3000, [level, module]);
  const modules = [...new Set((lines ?? []).map((l) => l.module))].sort();
  return html`<div data-page="logs">
    <h1>Logs</h1>
    <div class="row-actions">
      <select name="level" onChange=${(e) => setLevel(e.target.value)}>
        ${levels.map((l) => html`<option value=${l} selected=${l === level}>${l} and above</option>`)}
      </select>
      <input name="module" placeholder="module (bridge, device, api…)" value=${module} list="log-modules"
        onChange=${(e) => setModule(e.target.value.trim())} />
      <datalist id="log-modules">${modules.map((m) => html`<option value=${m} />`)}</datalist>
      <span class="muted">${lines ? `${lines.length} lines` : "loading…"}</span>
    </div>
    ${error && html`<p class="form-error">${error}</p>`}
    <table class="mono"><tbody>
      ${(lines ?? []).slice().reverse().map((l) => html`<tr data-log-level=${l.level}>
        <td class="muted">${new Date(l.time_ms).toLocaleTimeString()}</td>
        <td class=${levelClass[l.level] ?? ""}>${l.level}</td><td>${l.module}</td><td>${l.text}</td></tr>`)}
    </tbody></table>
  </div>`;
}
