// OPC UA devices on the Devices page: the server's address space as a tree
// that asks the node for one level at a time (GET .../browse?node=), and the
// variables ticked in it added to a group as tags in one request, with the
// API's answer shown against each.
import { html, useEffect, useState } from "htm/preact";
import { api, enc, get } from "./api.js";

// The tag's type from the node's DataType (src/drivers/opcua/README.md's
// table): OPC UA values keep their own type, so this only says what a reader
// of the tag list expects; anything unknown reads as a number.
const typeOf = {
  Boolean: "bool", SByte: "int8", Byte: "uint8", Int16: "int16", UInt16: "uint16", Int32: "int32",
  UInt32: "uint32", Int64: "int64", UInt64: "uint64", Float: "float32", Double: "float64",
  String: "string", LocalizedText: "string", QualifiedName: "string", Guid: "string", NodeId: "string",
  DateTime: "int64", StatusCode: "uint32", ByteString: "bytes",
};
export const tagType = (dataType) => typeOf[dataType] ?? "float64";

// A tag name is 1 to 64 letters, digits, '_' or '-' (it becomes a topic level).
export const tagName = (browseName) =>
  browseName.replace(/^\d+:/, "").replace(/[^A-Za-z0-9_-]+/g, "_").replace(/^_+|_+$/g, "").slice(0, 64) || "tag";

export function tagOf(ref, name) {
  return { name, address: ref.node_id, type: tagType(ref.data_type), access: ref.access_level === "rw" ? "rw" : "read" };
}

const kRoot = ""; // the Objects folder: the route's default

export function BrowsePanel({ device, groups, close, changed }) {
  const [levels, setLevels] = useState(new Map()); // node -> {children} | {error} | {loading}
  const [open, setOpen] = useState(new Set([kRoot]));
  const [chosen, setChosen] = useState(new Map()); // node_id -> {ref, name}
  const [group, setGroup] = useState(groups[0] ?? "");
  const [results, setResults] = useState(null); // [{name, result}]

  const load = async (node) => {
    setLevels((m) => new Map(m).set(node, { loading: true }));
    const r = await get(`/api/v1/devices/${enc(device)}/browse` + (node ? "?node=" + enc(node) : ""));
    setLevels((m) => new Map(m).set(node, r.ok ? { children: r.data } : { error: r.data?.error ?? `failed (${r.status})` }));
  };
  useEffect(() => { load(kRoot); }, [device]);

  const toggle = (node) => {
    const s = new Set(open);
    if (s.has(node)) s.delete(node);
    else { s.add(node); if (!levels.get(node)?.children) load(node); }
    setOpen(s);
  };
  const choose = (ref, on) => {
    const m = new Map(chosen);
    on ? m.set(ref.node_id, { ref, name: tagName(ref.browse_name) }) : m.delete(ref.node_id);
    setChosen(m);
  };
  const rename = (id, name) => setChosen(new Map(chosen).set(id, { ...chosen.get(id), name }));

  const add = async () => {
    const picked = [...chosen.values()];
    const r = await api("POST", `/api/v1/devices/${enc(device)}/groups/${enc(group)}/tags`,
      picked.map((c) => tagOf(c.ref, c.name)));
    setResults(picked.map((c, i) => {
      const one = r.data?.results?.[i];
      return { name: c.name, result: one ? (one.ok ? "added" : one.error) : r.data?.error ?? `failed (${r.status})` };
    }));
    // What was added leaves the selection; what was refused stays, to be fixed.
    setChosen(new Map(picked.filter((_, i) => !r.data?.results?.[i]?.ok).map((c) => [c.ref.node_id, c])));
    changed();
  };

  const level = (node, depth) => {
    const l = levels.get(node);
    if (!l || l.loading) return html`<div class="muted" style=${`padding-left:${depth}em`}>loading…</div>`;
    if (l.error) return html`<div class="bad" style=${`padding-left:${depth}em`} data-browse-error>${l.error}</div>`;
    if (!l.children.length) return html`<div class="muted" style=${`padding-left:${depth}em`}>(no children)</div>`;
    return l.children.map((ref) => {
      const variable = ref.node_class === "Variable";
      return html`<div key=${ref.node_id}>
        <div class="browse-row" style=${`padding-left:${depth}em`} data-node=${ref.node_id}>
          <a href=${"#/devices"} onClick=${(e) => { e.preventDefault(); toggle(ref.node_id); }}>${open.has(ref.node_id) ? "▾" : "▸"}</a>
          ${variable ? html`<input type="checkbox" name="pick" checked=${chosen.has(ref.node_id)} onChange=${(e) => choose(ref, e.target.checked)} />` : html`<span></span>`}
          <span>${ref.browse_name}</span>
          <span class="muted">${ref.node_class}</span>
          <span class="mono">${ref.data_type ?? ""}</span>
          <span class="muted">${ref.access_level ?? ""}</span>
        </div>
        ${open.has(ref.node_id) && level(ref.node_id, depth + 1.2)}
      </div>`;
    });
  };

  return html`<div class="panel" data-browse=${device}>
    <h2>Address space of ${device}</h2>
    <div class="browse-tree">${level(kRoot, 0)}</div>
    ${chosen.size > 0 && html`<table data-chosen><thead><tr><th>tag name</th><th>node</th><th>type</th><th>access</th></tr></thead><tbody>
      ${[...chosen.entries()].map(([id, c]) => html`<tr key=${id}>
        <td><input name=${"browse-name-" + id} value=${c.name} onInput=${(e) => rename(id, e.target.value)} /></td>
        <td class="mono">${id}</td><td>${tagType(c.ref.data_type)}</td><td>${tagOf(c.ref, c.name).access}</td></tr>`)}
    </tbody></table>`}
    <div class="row-actions">
      <label>to group <select name="browse-group" value=${group} onChange=${(e) => setGroup(e.target.value)}>
        ${groups.map((g) => html`<option value=${g}>${g}</option>`)}</select></label>
      <button class="primary" name="browse-add" disabled=${!chosen.size || !group} onClick=${add}>Add ${chosen.size} as tags</button>
      <button onClick=${close}>Close</button>
    </div>
    ${results && html`<table data-browse-results><tbody>${results.map(({ name, result }) => html`<tr>
      <td class="mono">${name}</td><td class=${result === "added" ? "ok" : "bad"}>${result}</td></tr>`)}</tbody></table>`}
  </div>`;
}
