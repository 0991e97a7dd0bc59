// Overview: the node at a glance, live from the stats events (every 2 s) plus
// the lists of devices, bridges and rules for recent errors and the health
// inspection's score and checks (polled every 5 s).
import { html, useEffect, useState } from "htm/preact";
import { ago, fmt, get, history } from "../api.js";
import { Card, usePoll } from "../widgets.js";

export function Overview() {
  const [, redraw] = useState(0);
  const [health, setHealth] = useState(null);
  const [lists, setLists] = useState({ devices: [], bridges: [], rules: [] });
  const [inspection, setInspection] = useState(null);
  useEffect(() => {
    const f = () => redraw((n) => n + 1);
    history.listeners.add(f);
    return () => history.listeners.delete(f);
  }, []);
  usePoll(async () => {
    const [h, d, b, r, i] = await Promise.all([get("/api/v1/health"), get("/api/v1/devices"),
      get("/api/v1/bridges"), get("/api/v1/rules"), get("/api/v1/health/inspection")]);
    if (h.ok) setHealth(h.data);
    if (i.ok) setInspection(i.data);
    setLists({ devices: d.ok ? d.data : [], bridges: b.ok ? b.data : [], rules: r.ok ? r.data : [] });
  }, 5000);

  const pts = history.points;
  const last = pts[pts.length - 1];
  const m = last?.m;
  const series = (f) => pts.map(f);
  const up = m ? m.all("ib_device_connected").filter((s) => s.value > 0).length : 0;
  const devicesTotal = m ? m.all("ib_device_connected").length : 0;
  const bridgesUp = m ? m.all("ib_bridge_connected").filter((s) => s.value > 0).length : 0;
  const backlog = m ? m.sum("ib_bridge_backlog_messages") : 0;
  const rulesRunning = m ? m.sum("ib_rule_running") : 0;
  const failing = lists.rules.filter((r) => r.last_error && Date.now() - r.last_error.at_ms < 300000).length;

  const errors = [
    ...lists.devices.filter((d) => d.error).map((d) => ({ what: `device ${d.name}`, text: d.error })),
    ...lists.bridges.filter((b) => !b.connected && b.last_error).map((b) => ({ what: `bridge ${b.name}`, text: b.last_error })),
    ...lists.rules.filter((r) => r.last_error).map((r) => ({ what: `rule ${r.id}`, text: r.last_error.message, at: r.last_error.at_ms })),
  ];

  const statusCls = { pass: "ok", warn: "warn", fail: "bad" };
  const worst = inspection?.checks.some((c) => c.status === "fail") ? "fail"
    : inspection?.checks.some((c) => c.status === "warn") ? "warn" : "pass";

  return html`<div data-page="overview">
    <h1>Overview</h1>
    <div class="cards">
      <${Card} id="health" label="Node" value=${health ? health.status : "…"} cls=${health?.status === "ok" ? "ok" : "bad"} />
      <${Card} id="score" label="Health score" value=${inspection ? `${inspection.score} / 100` : "…"}
        cls=${inspection ? statusCls[worst] : ""} />
      <${Card} id="uptime" label="Version · uptime" value=${health ? `${health.version} · ${fmt(Math.round(health.uptime_seconds / 60))} min` : "…"} />
      <${Card} id="in" label="MQTT messages in / s" value=${fmt(last?.inRate ?? 0, 0)} trend=${series((p) => p.inRate)} />
      <${Card} id="out" label="MQTT messages out / s" value=${fmt(last?.outRate ?? 0, 0)} trend=${series((p) => p.outRate)} />
      <${Card} id="readings" label="Device readings / s" value=${fmt(last?.pollRate ?? 0, 1)} trend=${series((p) => p.pollRate)} />
      <${Card} id="connections" label="MQTT connections" value=${fmt(m ? m.sum("ib_mqtt_connections") : 0)}
        trend=${series((p) => p.m.sum("ib_mqtt_connections"))} />
      <${Card} id="devices" label="Devices up / total" value=${`${up} / ${devicesTotal}`} cls=${up < devicesTotal ? "warn" : "ok"} />
      <${Card} id="bridges" label="Bridges linked · backlog" value=${`${bridgesUp} / ${m ? m.all("ib_bridge_connected").length : 0} · ${fmt(backlog)}`}
        cls=${m && bridgesUp < m.all("ib_bridge_connected").length ? "bad" : ""} trend=${series((p) => p.m.sum("ib_bridge_backlog_messages"))} />
      <${Card} id="rules" label="Rules running · failing" value=${`${rulesRunning} · ${failing}`} cls=${failing ? "bad" : ""} />
      <${Card} id="memory" label="Memory (RSS)" value=${m ? fmt(m.sum("ib_process_resident_memory_bytes") / 1048576, 1) + " MiB" : "…"}
        trend=${series((p) => p.m.sum("ib_process_resident_memory_bytes"))} />
    </div>
    <p class="muted">${history.connected ? "live" : "connecting to the event stream…"} · the last ${Math.round(pts.length * 2 / 60)} min</p>
    <h2>Health inspection</h2>
    ${inspection && html`<table data-inspection><tbody>
      ${inspection.checks.map((c) => html`<tr data-check=${c.id} title=${c.advice || c.threshold}>
        <td>${c.id}</td><td class=${statusCls[c.status]}>${c.status}</td>
        <td>${c.value}${c.advice && html`<div class="muted">${c.advice}</div>`}</td></tr>`)}
    </tbody></table>`}
    <h2>Recent errors</h2>
    ${errors.length === 0 ? html`<p class="muted">None.</p>` : html`<table><tbody>
      ${errors.map((e) => html`<tr><td>${e.what}</td><td class="bad">${e.text}</td><td class="muted">${e.at ? ago(e.at) : ""}</td></tr>`)}
    </tbody></table>`}
  </div>`;
}
