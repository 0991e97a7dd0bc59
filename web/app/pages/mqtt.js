// MQTT: the connected clients with their queues and subscriptions (GET
// /api/v1/mqtt/clients, polled every 5 s), a live view of a filter with the
// topics it reveals (the last message per topic; retained ones first, as the
// broker sends them on subscribing), and a test publish (POST /api/v1/mqtt/publish).
import { html, useEffect, useRef, useState } from "htm/preact";
import { api, can, events, fmt, get } from "../api.js";
import { usePoll } from "../widgets.js";

export function Mqtt() {
  const [filter, setFilter] = useState("#");
  const [watching, setWatching] = useState("#");
  const topics = useRef(new Map());
  const [, redraw] = useState(0);
  const [pub, setPub] = useState({ topic: "test/console", payload: "hello", qos: "0", retain: false });
  const [pubResult, setPubResult] = useState("");
  const [clients, setClients] = useState(null);
  const [retainedOnly, setRetainedOnly] = useState(false);
  usePoll(async () => { const r = await get("/api/v1/mqtt/clients"); if (r.ok) setClients(r.data); }, 5000);
  useEffect(() => {
    topics.current = new Map();
    let pending = false;
    const stop = events(watching, {
      message: (m) => {
        topics.current.set(m.topic, m);
        // At most one redraw a frame, however fast messages come.
        if (!pending) { pending = true; requestAnimationFrame(() => { pending = false; redraw((n) => n + 1); }); }
      },
    });
    return stop;
  }, [watching]);
  const publish = async () => {
    const r = await api("POST", "/api/v1/mqtt/publish", { topic: pub.topic, payload: pub.payload, qos: +pub.qos, retain: pub.retain });
    setPubResult(r.ok ? "published" : r.data?.error ?? `failed (${r.status})`);
  };
  const list = [...topics.current.values()].filter((m) => !retainedOnly || m.retain)
    .sort((a, b) => a.topic.localeCompare(b.topic)).slice(0, 500);
  return html`<div data-page="mqtt">
    <h1>MQTT</h1>
    <h2>Clients ${clients && html`<span class="muted">(${clients.total})</span>`}</h2>
    ${clients && (clients.clients.length === 0 ? html`<p class="muted">No client has a session.</p>` : html`<table data-clients><thead>
      <tr><th>client id</th><th>state</th><th>from</th><th>protocol</th><th>queued</th><th>inflight</th><th>subscriptions</th></tr></thead><tbody>
      ${clients.clients.map((c) => html`<tr data-client=${c.client_id}><td class="mono">${c.client_id}</td>
        <td><span class="pill ${c.connected ? "ok" : ""}">${c.connected ? "connected" : "offline"}</span></td>
        <td>${c.peer ?? ""}</td><td>${c.protocol ?? ""}</td><td>${fmt(c.queued)} (${fmt(c.queued_bytes)} B)</td><td>${fmt(c.inflight)}</td>
        <td class="mono">${c.subscriptions.map((s) => `${s.filter} (QoS ${s.qos})`).join(", ")}</td></tr>`)}
    </tbody></table>`)}
    <h2>Topics</h2>
    <div class="split">
      <div>
        <div class="row-actions">
          <input name="filter" value=${filter} onInput=${(e) => setFilter(e.target.value)} />
          <button onClick=${() => setWatching(filter)}>Watch</button>
        </div>
        <p class="muted">${topics.current.size} topics seen on ${watching} ·
          <label><input type="checkbox" name="retained-only" checked=${retainedOnly} onChange=${(e) => setRetainedOnly(e.target.checked)} /> retained only</label></p>
        ${can("operator") && html`<div class="panel"><h2>Publish a test message</h2>
          <div class="form">
            <label>topic</label><input name="pub-topic" value=${pub.topic} onInput=${(e) => setPub({ ...pub, topic: e.target.value })} /><div></div>
            <label>payload</label><input name="pub-payload" value=${pub.payload} onInput=${(e) => setPub({ ...pub, payload: e.target.value })} /><div></div>
            <label>QoS</label><select name="pub-qos" onChange=${(e) => setPub({ ...pub, qos: e.target.value })}>${["0", "1", "2"].map((q) => html`<option value=${q} selected=${q === pub.qos}>${q}</option>`)}</select><div></div>
            <label>retain</label><input type="checkbox" checked=${pub.retain} onChange=${(e) => setPub({ ...pub, retain: e.target.checked })} /><div></div>
          </div>
          <div class="row-actions"><button class="primary" name="publish" onClick=${publish}>Publish</button><span data-publish-result>${pubResult}</span></div>
        </div>`}
      </div>
      <table><thead><tr><th>topic</th><th>last payload</th><th></th></tr></thead><tbody>
        ${list.map((m) => html`<tr data-topic=${m.topic}><td class="mono">${m.topic}</td>
          <td class="mono">${m.payload === null ? `(${m.payload_bytes} bytes, binary)` : m.payload.slice(0, 200)}</td>
          <td class="muted">${m.retain ? "retained" : new Date(m.time).toLocaleTimeString()}</td></tr>`)}
      </tbody></table>
    </div>
  </div>`;
}
