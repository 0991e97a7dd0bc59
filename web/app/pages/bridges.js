// Bridges: each upstream link, its backlog and rates, drops by cause, and the
// history of its disconnects (the last 20, newest first). The
// status is polled every 2 s (GET /api/v1/bridges); rates are the differences.
import { html, useRef, useState } from "htm/preact";
import { ago, fmt, get } from "../api.js";
import { usePoll } from "../widgets.js";

export function Bridges() {
  const [bridges, setBridges] = useState(null);
  const prev = useRef(new Map());
  const [rates, setRates] = useState({});
  usePoll(async () => {
    const r = await get("/api/v1/bridges");
    if (!r.ok) return;
    const now = Date.now(), next = {};
    for (const b of r.data) {
      const p = prev.current.get(b.name);
      if (p) {
        const dt = (now - p.at) / 1000;
        next[b.name] = { send: (b.sent - p.sent) / dt, ack: (b.acked - p.acked) / dt };
      }
      prev.current.set(b.name, { at: now, sent: b.sent, acked: b.acked });
    }
    setRates(next);
    setBridges(r.data);
  }, 2000);
  if (!bridges) return html`<h1>Bridges</h1><p class="muted">Loading…</p>`;
  return html`<div data-page="bridges">
    <h1>Bridges</h1>
    ${bridges.length === 0 && html`<p class="muted">No bridge is configured ([[bridges]] in the config file).</p>`}
    ${bridges.map((b) => html`<div class="panel" data-bridge=${b.name}>
      <h2>${b.name} <span class="pill ${b.connected ? "ok" : "bad"}" data-link>${b.connected ? "linked" : "down"}</span>
        <span class="muted"> ${b.connected ? b.server : b.servers.join(", ")}</span></h2>
      ${!b.connected && b.last_error && html`<p class="bad">${b.last_error}</p>`}
      <table><tbody>
        <tr><th>backlog</th><td data-backlog=${b.backlog.messages}>${fmt(b.backlog.messages)} messages · ${fmt(b.backlog.bytes)} bytes</td>
            <th>oldest queued</th><td>${fmt(b.backlog.oldest_age_s, 1)} s</td></tr>
        <tr><th>send rate</th><td>${fmt(rates[b.name]?.send ?? 0, 1)} / s</td><th>ack rate</th><td>${fmt(rates[b.name]?.ack ?? 0, 1)} / s</td></tr>
        <tr><th>sent · acked · resent</th><td>${fmt(b.sent)} · ${fmt(b.acked)} · ${fmt(b.resent)}</td>
            <th>inflight · held</th><td>${fmt(b.inflight)} · ${fmt(b.held)}${b.pushing_back ? " · pushing back" : ""}</td></tr>
        <tr><th>received (down)</th><td>${fmt(b.received)}</td><th>connects</th><td>${fmt(b.connects)}</td></tr>
        <tr><th>dropped</th><td colspan="3">${Object.entries(b.dropped).map(([k, v]) => html`<span class="pill ${v ? "bad" : ""}">${k}: ${fmt(v)}</span> `)}</td></tr>
      </tbody></table>
      <h3>Disconnects</h3>
      ${b.disconnects.length === 0 ? html`<p class="muted">The link has not gone down since the start.</p>`
        : html`<table data-disconnects><thead><tr><th>when</th><th>reason</th><th>down for</th></tr></thead><tbody>
        ${b.disconnects.map((d) => html`<tr data-disconnect>
          <td title=${new Date(d.at_ms).toLocaleString()}>${ago(d.at_ms)}</td><td>${d.reason}</td>
          <td class=${d.ongoing ? "bad" : ""}>${duration(d.down_ms)}${d.ongoing ? " (still down)" : ""}</td></tr>`)}
      </tbody></table>`}
    </div>`)}
  </div>`;
}

function duration(ms) {
  const s = ms / 1000;
  if (s < 60) return fmt(s, 1) + " s";
  if (s < 3600) return fmt(s / 60, 1) + " min";
  return fmt(s / 3600, 1) + " h";
}
