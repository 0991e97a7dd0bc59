// Devices: the device → group → tag tree with live values from the event
// stream (<bus.prefix>/data/#), drawn at most once a frame and only for the rows in view,
// so 10,000 tags changing every second stay smooth. Link states come from the
// device list, polled every 3 s. Forms create and edit devices, groups and
// tags and show the API's message beside the field it names; a tag can be
// written; a device's tags go out and come in as CSV, with a result per row;
// an OPC UA device's address space is browsed and its variables added as tags.
import { html, useEffect, useRef, useState } from "htm/preact";
import { api, bus, can, enc, events, fmt, get, metricsOf } from "../api.js";
import { Field, VirtualList, fieldOfError, usePoll } from "../widgets.js";
import { fromCsv, toCsv } from "../csv.js";
import { BrowsePanel } from "../opcua.js";

const drivers = ["sim", "modbus-tcp", "modbus-rtu-over-tcp", "modbus-rtu"];
const types = ["float32", "float64", "int16", "uint16", "int32", "uint32", "int64", "uint64", "bool", "string"];
const formFields = ["name", "driver", "host", "port", "interval_ms", "group", "tag", "address", "type", "unit", "access"];

// Live readings, kept outside the components: a message updates this map and
// asks for one redraw at the next frame.
const live = new Map(); // "device/group/tag" -> {value, ts, error}
const perf = (window.__ibDevices = { messages: 0, renders: 0, lastRenderMs: 0, maxRenderMs: 0, lagMs: 0 });

export function Devices() {
  const [list, setList] = useState([]);
  const [configs, setConfigs] = useState(new Map());
  const [open, setOpen] = useState(new Set());
  const [version, setVersion] = useState(0);
  const [form, setForm] = useState(null);
  const [writing, setWriting] = useState(null); // {device, tag, value, result}
  const [sub, setSub] = useState(null); // a group or tag form: {kind, device, group, doc, errors, error}
  const [rtt, setRtt] = useState({}); // device -> mean round trip (ms) over the last stats interval
  const lastRtt = useRef(new Map());
  const [csv, setCsv] = useState(null); // {device, text, results}
  const [browsing, setBrowsing] = useState(null); // an OPC UA device's name
  const signature = useRef("");

  usePoll(async () => {
    const r = await get("/api/v1/devices");
    if (!r.ok) return;
    setList(r.data);
    // Configs are fetched again only when the shape changed.
    const sig = r.data.map((d) => `${d.name}:${d.groups}:${d.tags}`).join(",");
    if (sig === signature.current) return;
    signature.current = sig;
    const fulls = await Promise.all(r.data.map((d) => get("/api/v1/devices/" + enc(d.name))));
    setConfigs(new Map(fulls.filter((f) => f.ok).map((f) => [f.data.config.name, f.data.config])));
    if (r.data.length <= 20) setOpen(new Set(r.data.map((d) => d.name)));
  }, 3000);

  useEffect(() => {
    let pending = false;
    return events(`${bus.prefix}/data/#`, {
      stats: (st) => {
        const m = metricsOf(st), next = {};
        const counts = new Map(m.all("ib_device_round_trip_seconds_count").map((x) => [x.labels.device, x.value]));
        for (const x of m.all("ib_device_round_trip_seconds_sum")) {
          const d = x.labels.device, count = counts.get(d) ?? 0, prev = lastRtt.current.get(d);
          if (prev && count > prev.count) next[d] = ((x.value - prev.sum) / (count - prev.count)) * 1000;
          lastRtt.current.set(d, { sum: x.value, count });
        }
        setRtt(next);
      },
      message: (m) => {
        const p = m.json;
        if (!p || !p.device) return;
        perf.messages++;
        for (const [tag, value] of Object.entries(p.values ?? {})) live.set(`${p.device}/${p.group}/${tag}`, { value, ts: p.ts });
        for (const [tag, e] of Object.entries(p.errors ?? {})) live.set(`${p.device}/${p.group}/${tag}`, { error: e.error, ts: p.ts });
        if (!pending) {
          pending = true;
          const sent = p.ts;
          requestAnimationFrame(() => {
            pending = false;
            const t0 = performance.now();
            setVersion((v) => v + 1);
            // After the render the browser paints: measured at the next frame.
            requestAnimationFrame(() => {
              perf.renders++;
              perf.lastRenderMs = performance.now() - t0;
              perf.maxRenderMs = Math.max(perf.maxRenderMs, perf.lastRenderMs);
              perf.lagMs = Date.now() - sent;
            });
          });
        }
      },
    });
  }, []);

  // The flattened tree: only expanded devices bring their groups and tags.
  const rows = [];
  for (const d of list) {
    rows.push({ kind: "device", d });
    if (!open.has(d.name)) continue;
    for (const g of configs.get(d.name)?.groups ?? []) {
      rows.push({ kind: "group", d, g });
      for (const t of g.tags ?? []) rows.push({ kind: "tag", d, g, t });
    }
  }
  const toggle = (name) => { const s = new Set(open); s.has(name) ? s.delete(name) : s.add(name); setOpen(s); };

  const renderRow = (i, top) => {
    const r = rows[i];
    const style = `top:${top}px`;
    if (r.kind === "device") {
      const ok = r.d.state === "connected";
      return html`<div class="vrow device" style=${style} key=${"d" + r.d.name} data-device=${r.d.name}>
        <span><a href="#/devices" onClick=${() => toggle(r.d.name)}>${open.has(r.d.name) ? "▾" : "▸"} ${r.d.name}</a> <span class="muted">${r.d.driver}</span></span>
        <span><span class="pill ${ok ? "ok" : "bad"}" data-state>${r.d.state}</span></span>
        <span class="muted">${r.d.tags} tags${rtt[r.d.name] !== undefined ? ` · ${fmt(rtt[r.d.name], 1)} ms` : ""}</span>
        <span class="bad">${r.d.error ?? ""}</span>
        <span>${can("admin") && r.d.source === "api" && html`<button onClick=${() => editDevice(r.d.name)}>edit</button>
          <button onClick=${() => setSub({ kind: "group", device: r.d.name, doc: { name: "", interval_ms: 1000, tags: [] }, errors: {} })}>+ group</button>
          <button name="csv" onClick=${() => setCsv({ device: r.d.name, text: "", results: null })}>CSV</button>
          ${r.d.driver === "opcua" && html`<button name="browse" onClick=${() => setBrowsing(r.d.name)}>browse</button>`}
          <button class="danger" onClick=${() => removeDevice(r.d.name)}>delete</button>`}</span>
      </div>`;
    }
    if (r.kind === "group") {
      return html`<div class="vrow group" style=${style} key=${"g" + r.d.name + "/" + r.g.name} data-group=${r.d.name + "/" + r.g.name}>
        <span class="indent1">${r.g.name}</span><span class="muted">every ${r.g.interval_ms} ms</span><span></span><span></span>
        <span>${can("admin") && r.d.source === "api" && html`
          <button name="add-tag" onClick=${() => setSub({ kind: "tag", device: r.d.name, group: r.g.name, doc: { name: "", address: "", type: "float32", unit: "", access: "r" }, errors: {} })}>+ tag</button>
          <button onClick=${() => setSub({ kind: "group", device: r.d.name, group: r.g.name, doc: { ...r.g }, errors: {} })}>edit</button>
          <button class="danger" onClick=${() => removePart(`${enc(r.d.name)}/groups/${enc(r.g.name)}`, `group ${r.g.name}`)}>delete</button>`}</span></div>`;
    }
    const key = `${r.d.name}/${r.g.name}/${r.t.name}`;
    const v = live.get(key);
    const writable = (r.t.access ?? "r").includes("w");
    return html`<div class="vrow" style=${style} key=${"t" + key} data-tag=${key}>
      <span class="indent2">${r.t.name}</span>
      <span class="mono" data-value>${v?.error ? "" : v ? fmt(v.value, 3) : "…"}</span>
      <span class="muted">${r.t.unit ?? ""}</span>
      <span class=${v?.error ? "bad" : "muted"}>${v?.error ?? (v ? new Date(v.ts).toLocaleTimeString() : "")}</span>
      <span>${writable && can("operator") && html`<button name="write" onClick=${() => setWriting({ device: r.d.name, tag: r.t.name, value: "", result: "" })}>write</button>`}
        ${can("admin") && r.d.source === "api" && html` <button class="danger" onClick=${() => removePart(`${enc(r.d.name)}/groups/${enc(r.g.name)}/tags/${enc(r.t.name)}`, `tag ${r.t.name}`)}>delete</button>`}</span>
    </div>`;
  };

  const editDevice = async (name) => {
    const r = await get("/api/v1/devices/" + enc(name));
    if (r.ok) setForm({ existing: true, doc: r.data.config, errors: {}, error: "" });
  };
  const removeDevice = async (name) => {
    if (!confirm(`Delete device ${name}?`)) return;
    await api("DELETE", "/api/v1/devices/" + enc(name));
    signature.current = "";
  };
  const removePart = async (path, what) => {
    if (!confirm(`Delete ${what}?`)) return;
    await api("DELETE", "/api/v1/devices/" + path);
    signature.current = "";
  };
  const doWrite = async () => {
    let value = writing.value;
    try { value = JSON.parse(value); } catch { /* a string stays a string */ }
    const r = await api("POST", `/api/v1/devices/${enc(writing.device)}/write`, { tag: writing.tag, value });
    const result = !r.ok ? r.data?.error ?? `failed (${r.status})`
      : r.data?.ok === false || r.data?.error ? `refused: ${r.data.error ?? JSON.stringify(r.data)}` : "written";
    setWriting({ ...writing, result });
  };

  return html`<div data-page="devices">
    <h1>Devices</h1>
    <div class="row-actions">
      ${can("admin") && html`<button class="primary" name="new-device" onClick=${() => setForm({ existing: false, doc: newDevice(), errors: {}, error: "" })}>New device</button>`}
      <span class="muted">${list.length} devices · ${list.reduce((a, d) => a + d.tags, 0)} tags</span>
    </div>
    ${writing && html`<div class="panel" data-write>
      <b>Write ${writing.device} / ${writing.tag}</b>
      <input name="write-value" value=${writing.value} onInput=${(e) => setWriting({ ...writing, value: e.target.value })} />
      <button class="primary" name="write-send" onClick=${doWrite}>Write</button>
      <button onClick=${() => setWriting(null)}>Close</button>
      <span data-write-result class=${writing.result === "written" ? "ok" : "bad"}>${writing.result}</span>
    </div>`}
    ${csv && html`<${CsvPanel} csv=${csv} setCsv=${setCsv} config=${configs.get(csv.device)} changed=${() => { signature.current = ""; }} />`}
    ${browsing && html`<${BrowsePanel} key=${browsing} device=${browsing} groups=${(configs.get(browsing)?.groups ?? []).map((g) => g.name)}
      close=${() => setBrowsing(null)} changed=${() => { signature.current = ""; }} />`}
    ${sub && html`<${PartForm} sub=${sub} setSub=${setSub} done=${() => { setSub(null); signature.current = ""; }} />`}
    ${form && html`<${DeviceForm} form=${form} setForm=${setForm} done=${() => { setForm(null); signature.current = ""; }} />`}
    <${VirtualList} count=${rows.length} renderRow=${renderRow} version=${version} />
  </div>`;
}

function newDevice() {
  return { name: "", driver: "sim", groups: [{ name: "fast", interval_ms: 1000, tags: [{ name: "", address: "", type: "float32", unit: "", access: "r" }] }] };
}

// One device with its first group and that group's tags, as the API takes it.
function DeviceForm({ form, setForm, done }) {
  const doc = form.doc;
  const group = doc.groups[0] ?? { name: "", interval_ms: 1000, tags: [] };
  const set = (k, v) => setForm({ ...form, doc: { ...doc, [k]: v } });
  const setGroup = (k, v) => set("groups", [{ ...group, [k]: v }, ...doc.groups.slice(1)]);
  const setTag = (i, k, v) => setGroup("tags", group.tags.map((t, j) => (j === i ? { ...t, [k]: v } : t)));
  const submit = async (e) => {
    e.preventDefault();
    const body = { ...doc };
    if (body.port !== undefined && body.port !== "") body.port = +body.port;
    else delete body.port;
    if (!body.host) delete body.host;
    body.groups = doc.groups.map((g) => ({ ...g, interval_ms: +g.interval_ms,
      tags: g.tags.filter((t) => t.name).map((t) => Object.fromEntries(Object.entries(t).filter(([, v]) => v !== "" && v !== undefined))) }));
    const r = form.existing ? await api("PUT", "/api/v1/devices/" + enc(doc.name), body) : await api("POST", "/api/v1/devices", body);
    if (r.ok) return done();
    const message = r.data?.error ?? `failed (${r.status})`;
    const field = fieldOfError(message, formFields);
    setForm({ ...form, errors: field ? { [field]: message } : {}, error: field ? "" : message });
  };
  const err = (k) => form.errors[k];
  return html`<form class="panel" onSubmit=${submit} data-device-form>
    <h2>${form.existing ? `Edit ${doc.name}` : "New device"}</h2>
    <div class="form">
      <${Field} label="name" name="name" value=${doc.name} error=${err("name")} onInput=${(v) => !form.existing && set("name", v)} />
      <${Field} label="driver" name="driver" value=${doc.driver} options=${drivers} error=${err("driver")} onInput=${(v) => set("driver", v)} />
      ${doc.driver !== "sim" && html`
        <${Field} label="host" name="host" value=${doc.host ?? ""} error=${err("host")} onInput=${(v) => set("host", v)} />
        <${Field} label="port" name="port" value=${doc.port ?? ""} error=${err("port")} onInput=${(v) => set("port", v)} />`}
      <${Field} label="group" name="group" value=${group.name} error=${err("group")} onInput=${(v) => setGroup("name", v)} />
      <${Field} label="interval (ms)" name="interval_ms" value=${group.interval_ms} error=${err("interval_ms")} onInput=${(v) => setGroup("interval_ms", v)} />
    </div>
    <h2>Tags</h2>
    <table><thead><tr><th>name</th><th>address</th><th>type</th><th>unit</th><th>access</th></tr></thead><tbody>
      ${group.tags.map((t, i) => html`<tr>
        <td><input name=${`tag-name-${i}`} value=${t.name} onInput=${(e) => setTag(i, "name", e.target.value)} /></td>
        <td><input name=${`tag-address-${i}`} value=${t.address} placeholder=${doc.driver === "sim" ? "sine:period=60" : "1!400001"} onInput=${(e) => setTag(i, "address", e.target.value)} /></td>
        <td><select name=${`tag-type-${i}`} value=${t.type} onChange=${(e) => setTag(i, "type", e.target.value)}>${types.map((x) => html`<option>${x}</option>`)}</select></td>
        <td><input name=${`tag-unit-${i}`} size="6" value=${t.unit ?? ""} onInput=${(e) => setTag(i, "unit", e.target.value)} /></td>
        <td><select name=${`tag-access-${i}`} value=${t.access ?? "r"} onChange=${(e) => setTag(i, "access", e.target.value)}><option>r</option><option>rw</option></select></td>
      </tr>`)}
    </tbody></table>
    <div class="field-error" data-error-for="tags">${err("tag") || err("address") || err("type") || err("unit") || err("access") || ""}</div>
    <div class="row-actions">
      <button type="button" onClick=${() => setGroup("tags", [...group.tags, { name: "", address: "", type: "float32", unit: "", access: "r" }])}>Add tag</button>
      <button class="primary" type="submit" name="save-device">${form.existing ? "Save" : "Create"}</button>
      <button type="button" onClick=${() => setForm(null)}>Cancel</button>
    </div>
    <div class="form-error">${form.error}</div>
  </form>`;
}

// A group (name, interval; its tags kept) or one tag, added to or replacing
// its place in a device; the API's message goes beside the field it names.
function PartForm({ sub, setSub, done }) {
  const doc = sub.doc;
  const set = (k, v) => setSub({ ...sub, doc: { ...doc, [k]: v } });
  const base = "/api/v1/devices/" + enc(sub.device);
  const submit = async (e) => {
    e.preventDefault();
    let r;
    if (sub.kind === "group") {
      const body = { ...doc, interval_ms: +doc.interval_ms };
      r = sub.group ? await api("PUT", `${base}/groups/${enc(sub.group)}`, body) : await api("POST", `${base}/groups`, body);
    } else {
      const body = Object.fromEntries(Object.entries(doc).filter(([, v]) => v !== ""));
      r = await api("POST", `${base}/groups/${enc(sub.group)}/tags`, body);
    }
    if (r.ok) return done();
    // Tags come back one result each; a group or device error is one message.
    const message = r.data?.results?.find((x) => !x.ok)?.error ?? r.data?.error ?? `failed (${r.status})`;
    const field = fieldOfError(message, formFields);
    setSub({ ...sub, errors: field ? { [field]: message } : {}, error: field ? "" : message });
  };
  const err = (k) => sub.errors[k];
  const title = sub.kind === "group" ? (sub.group ? `Edit group ${sub.group}` : `New group of ${sub.device}`) : `New tag in ${sub.device} / ${sub.group}`;
  return html`<form class="panel" onSubmit=${submit} data-part-form=${sub.kind}>
    <h2>${title}</h2>
    <div class="form">
      <${Field} label="name" name="name" value=${doc.name} error=${err("name") || err("group") || err("tag")} onInput=${(v) => set("name", v)} />
      ${sub.kind === "group" ? html`
        <${Field} label="interval (ms)" name="interval_ms" value=${doc.interval_ms} error=${err("interval_ms")} onInput=${(v) => set("interval_ms", v)} />` : html`
        <${Field} label="address" name="address" value=${doc.address} error=${err("address")} onInput=${(v) => set("address", v)} />
        <${Field} label="type" name="type" value=${doc.type} options=${types} error=${err("type")} onInput=${(v) => set("type", v)} />
        <${Field} label="unit" name="unit" value=${doc.unit} error=${err("unit")} onInput=${(v) => set("unit", v)} />
        <${Field} label="access" name="access" value=${doc.access} options=${["r", "rw"]} error=${err("access")} onInput=${(v) => set("access", v)} />`}
    </div>
    <div class="row-actions">
      <button class="primary" type="submit" name="save-part">Save</button>
      <button type="button" onClick=${() => setSub(null)}>Cancel</button>
    </div>
    <div class="form-error">${sub.error}</div>
  </form>`;
}

// Export: every tag of the device, one row each with its group. Import: rows
// added to the groups they name (each group's rows in one request), and the
// API's answer shown against each row.
function CsvPanel({ csv, setCsv, config, changed }) {
  const exported = toCsv((config?.groups ?? []).flatMap((g) => (g.tags ?? []).map((t) => ({ group: g.name, ...t }))));
  const download = `data:text/csv;charset=utf-8,${encodeURIComponent(exported)}`;
  const load = async (file) => setCsv({ ...csv, text: await file.text(), results: null });
  const importRows = async () => {
    const rows = fromCsv(csv.text);
    const results = rows.map(() => null);
    const byGroup = new Map();
    rows.forEach((row, i) => {
      if (!byGroup.has(row.group)) byGroup.set(row.group, []);
      byGroup.get(row.group).push(i);
    });
    for (const [group, indexes] of byGroup) {
      const tags = indexes.map((i) => {
        const { group: _, ...tag } = rows[i];
        for (const k of ["scale", "offset"]) if (tag[k] !== undefined && tag[k] !== "") tag[k] = +tag[k];
        return Object.fromEntries(Object.entries(tag).filter(([, v]) => v !== ""));
      });
      const r = await api("POST", `/api/v1/devices/${enc(csv.device)}/groups/${enc(group)}/tags`, tags);
      indexes.forEach((row, k) => {
        const one = r.data?.results?.[k];
        results[row] = one ? (one.ok ? "added" : one.error) : r.data?.error ?? `failed (${r.status})`;
      });
    }
    setCsv({ ...csv, results: rows.map((row, i) => ({ row, result: results[i] })) });
    changed();
  };
  return html`<div class="panel" data-csv>
    <h2>Tags of ${csv.device} as CSV</h2>
    <div class="row-actions">
      <a href=${download} download=${`${csv.device}-tags.csv`}><button type="button">Export ${config ? "" : "(loading)"}</button></a>
      <input type="file" accept=".csv,text/csv" onChange=${(e) => e.target.files[0] && load(e.target.files[0])} />
    </div>
    <textarea name="csv-text" rows="5" placeholder=${"group,name,address,type,unit,access\nfast,t1,counter,uint32,,r"}
      value=${csv.text} onInput=${(e) => setCsv({ ...csv, text: e.target.value, results: null })}></textarea>
    <div class="row-actions">
      <button class="primary" name="csv-import" onClick=${importRows} disabled=${!csv.text.trim()}>Import</button>
      <button onClick=${() => setCsv(null)}>Close</button>
    </div>
    ${csv.results && html`<table data-csv-results><tbody>${csv.results.map(({ row, result }) => html`<tr>
      <td class="mono">${row.group} / ${row.name}</td><td class=${result === "added" ? "ok" : "bad"}>${result}</td></tr>`)}</tbody></table>`}
  </div>`;
}
