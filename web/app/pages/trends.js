// Trends: one or several tags over 15 min, 1 h, 1 d or 1 w from
// /api/v1/history, drawn with uPlot (drag to zoom, double-click to reset),
// extended live by the tag's readings from the event stream.
import { html, useEffect, useRef, useState } from "htm/preact";
import uPlot from "uplot";
import { bus, enc, events, get } from "../api.js";

const ranges = { "15 min": [15 * 60e3, "raw"], "1 h": [3600e3, "raw"], "1 d": [86400e3, "1m"], "1 w": [7 * 86400e3, "1h"] };

export function Trends() {
  const [devices, setDevices] = useState([]);
  const [picked, setPicked] = useState(() => (location.hash.split("/")[2] ? [decodeURIComponent(location.hash.split("/")[2])] : []));
  const [range, setRange] = useState("15 min");
  const [error, setError] = useState("");
  const box = useRef(null);
  const plot = useRef(null);

  useEffect(() => {
    (async () => {
      const list = await get("/api/v1/devices");
      if (!list.ok) return;
      const tags = [];
      for (const d of list.data) {
        const full = await get("/api/v1/devices/" + enc(d.name));
        for (const g of full.data?.config?.groups ?? []) for (const t of g.tags ?? []) tags.push(`${d.name}/${t.name}`);
      }
      setDevices(tags);
      if (picked.length === 0 && tags.length) setPicked([tags[0]]);
    })();
  }, []);

  useEffect(() => {
    if (!picked.length || !box.current) return;
    let stop = null, live = true;
    (async () => {
      const [span, step] = ranges[range];
      const from = Date.now() - span;
      const series = await Promise.all(picked.map(async (key) => {
        const [device, tag] = key.split("/");
        const r = await get(`/api/v1/history?device=${enc(device)}&tag=${enc(tag)}&from=${from}&step=${step}`);
        if (!r.ok) setError(r.data?.error ?? "history unavailable");
        return r.ok ? r.data.points : [];
      }));
      if (!live) return;
      // uPlot wants one x axis: the union of the series' times, in seconds.
      const times = [...new Set(series.flatMap((s) => s.map((p) => p[0])))].sort((a, b) => a - b);
      const index = new Map(times.map((t, i) => [t, i]));
      const data = [times.map((t) => t / 1000), ...series.map((s) => {
        const col = new Array(times.length).fill(null);
        for (const [t, v] of s) col[index.get(t)] = v;
        return col;
      })];
      plot.current?.destroy();
      const colors = ["#1f5fbf", "#c0362c", "#18794e", "#b7791f", "#6b46c1"];
      plot.current = new uPlot({
        width: box.current.clientWidth, height: 360,
        series: [{}, ...picked.map((k, i) => ({ label: k, stroke: colors[i % colors.length], spanGaps: true }))],
        cursor: { drag: { x: true, y: false } },
      }, data, box.current);
      // Live extension: new readings of the picked tags are appended.
      const devicesShown = [...new Set(picked.map((k) => k.split("/")[0]))];
      const filter = devicesShown.length === 1 ? `${bus.prefix}/data/${devicesShown[0]}/+` : `${bus.prefix}/data/#`;
      stop = events(filter, {
        message: (m) => {
          const v = m.json?.values;
          if (!v || !plot.current) return;
          const row = picked.map((k) => { const [d, t] = k.split("/"); return d === m.json.device && t in v ? v[t] : null; });
          if (row.every((x) => x === null)) return;
          data[0].push((m.json.ts ?? m.time) / 1000);
          row.forEach((x, i) => data[i + 1].push(typeof x === "boolean" ? +x : x));
          plot.current.setData(data, false);
          plot.current.setScale("x", { min: (Date.now() - span) / 1000, max: Date.now() / 1000 });
        },
      });
    })();
    return () => { live = false; stop?.(); plot.current?.destroy(); plot.current = null; };
  }, [picked.join(","), range]);

  return html`<div data-page="trends">
    <h1>Trends</h1>
    <div class="row-actions">
      ${Object.keys(ranges).map((r) => html`<button class=${r === range ? "primary" : ""} onClick=${() => setRange(r)}>${r}</button>`)}
      <select multiple size="4" name="tags" onChange=${(e) => setPicked([...e.target.selectedOptions].map((o) => o.value))}>
        ${devices.map((t) => html`<option value=${t} selected=${picked.includes(t)}>${t}</option>`)}
      </select>
    </div>
    ${error && html`<p class="form-error">${error}</p>`}
    <div class="panel" ref=${box}></div>
    <p class="muted">Drag across the chart to zoom, double-click to reset.</p>
  </div>`;
}
