// Rules: the list with counters, status and last error (polled every 3 s),
// and an SQL editor that test-runs a rule (/api/v1/rules/test) against sample
// messages or the last live messages of its FROM topic, before it is created
// or saved; start, stop and delete.
import { html, useState } from "htm/preact";
import { ago, api, can, enc, events, fmt, get } from "../api.js";
import { usePoll } from "../widgets.js";

const sample = JSON.stringify([{ topic: "ib/data/demo/fast", payload: { device: "demo", values: { temperature: 21.5 } } }], null, 1);
const blank = { id: "", sql: 'SELECT values.temperature AS t FROM "ib/data/+/fast" WHERE values.temperature > 20', actions: '[{"publish": {"topic": "alerts/${t}"}}]' };

export function Rules() {
  const [rules, setRules] = useState([]);
  const [edit, setEdit] = useState(null); // {id, sql, actions, existing}
  const [result, setResult] = useState(null);
  const [messages, setMessages] = useState(sample);
  const [notice, setNotice] = useState("");
  usePoll(async () => { const r = await get("/api/v1/rules"); if (r.ok) setRules(r.data); }, 3000);

  const body = () => {
    let actions;
    try { actions = JSON.parse(edit.actions || "[]"); } catch (e) { return { error: "actions: not JSON: " + e.message }; }
    return { id: edit.id, sql: edit.sql, actions };
  };
  const test = async () => {
    const b = body();
    if (b.error) return setResult({ ok: false, data: { error: b.error } });
    let msgs;
    try { msgs = JSON.parse(messages); } catch (e) { return setResult({ ok: false, data: { error: "messages: not JSON: " + e.message } }); }
    setResult(await api("POST", "/api/v1/rules/test", { sql: b.sql, messages: msgs }));
  };
  const save = async () => {
    const b = body();
    if (b.error) return setResult({ ok: false, data: { error: b.error } });
    const r = edit.existing ? await api("PUT", "/api/v1/rules/" + enc(edit.id), b) : await api("POST", "/api/v1/rules", b);
    if (r.ok) { setNotice(`rule ${edit.id} saved`); setEdit(null); setResult(null); refresh(); }
    else setResult(r);
  };
  // The last messages of the rule's FROM filter, listened to for a few seconds.
  const [listening, setListening] = useState(false);
  const useLive = () => {
    const from = /FROM\s+"((?:[^"\\]|\\.)*)"/i.exec(edit.sql);
    if (!from) return setResult({ ok: false, data: { error: 'the SQL has no FROM "<filter>" to listen to' } });
    const got = [];
    setListening(true);
    const stop = events(from[1], {
      message: (m) => { got.push({ topic: m.topic, payload: m.json ?? m.payload }); if (got.length > 10) got.shift(); },
    });
    setTimeout(() => {
      stop();
      setListening(false);
      if (got.length) setMessages(JSON.stringify(got, null, 1));
      else setResult({ ok: false, data: { error: `no message on ${from[1]} in 3 s` } });
    }, 3000);
  };
  const refresh = async () => { const r = await get("/api/v1/rules"); if (r.ok) setRules(r.data); };
  const act = async (id, what) => {
    const r = what === "delete" ? await api("DELETE", "/api/v1/rules/" + enc(id)) : await api("POST", `/api/v1/rules/${enc(id)}/${what}`);
    setNotice(r.ok ? `rule ${id}: ${what} done` : `rule ${id}: ${r.data?.error ?? r.status}`);
    refresh();
  };
  const open = async (id) => {
    const r = await get("/api/v1/rules/" + enc(id));
    if (!r.ok) return setNotice(r.data?.error);
    const rule = r.data.rule ?? {};
    setEdit({ id, sql: rule.sql ?? r.data.sql, actions: JSON.stringify(rule.actions ?? [], null, 1), existing: true });
    setResult(null);
  };

  return html`<div data-page="rules">
    <h1>Rules</h1>
    <div class="row-actions">
      ${can("admin") && html`<button class="primary" name="new-rule" onClick=${() => { setEdit({ ...blank }); setResult(null); }}>New rule</button>`}
      <span class="muted" data-notice>${notice}</span>
    </div>
    <table><thead><tr><th>id</th><th>status</th><th>in</th><th>out</th><th>errors</th><th>last error</th><th></th></tr></thead><tbody>
      ${rules.map((r) => {
        const errors = Object.values(r.errors ?? {}).reduce((a, b) => a + b, 0);
        return html`<tr data-rule=${r.id}>
          <td><a href="#/rules" onClick=${() => open(r.id)}>${r.id}</a> <span class="muted">${r.source}</span></td>
          <td><span class="pill ${r.status === "running" ? "ok" : ""}">${r.status}</span></td>
          <td>${fmt(r.messages?.in)}</td><td>${fmt(r.messages?.out)}</td>
          <td class=${errors ? "bad" : ""}>${fmt(errors)}</td>
          <td class="bad">${r.last_error ? `${r.last_error.message} (${ago(r.last_error.at_ms)})` : ""}</td>
          <td>${can("operator") && html`<button onClick=${() => act(r.id, r.status === "running" ? "stop" : "start")}>${r.status === "running" ? "stop" : "start"}</button>`}
              ${can("admin") && r.source !== "file" && html` <button class="danger" onClick=${() => confirm(`Delete rule ${r.id}?`) && act(r.id, "delete")}>delete</button>`}</td>
        </tr>`;
      })}
    </tbody></table>
    ${edit && html`<div class="panel" style="margin-top:12px" data-editor>
      <h2>${edit.existing ? `Edit ${edit.id}` : "New rule"}</h2>
      <div class="form">
        <label>id</label><input name="rule-id" value=${edit.id} disabled=${edit.existing} onInput=${(e) => setEdit({ ...edit, id: e.target.value })} /><div></div>
      </div>
      <h2>SQL</h2>
      <textarea name="sql" rows="4" value=${edit.sql} onInput=${(e) => setEdit({ ...edit, sql: e.target.value })}></textarea>
      <h2>Actions (JSON)</h2>
      <textarea name="actions" rows="3" value=${edit.actions} onInput=${(e) => setEdit({ ...edit, actions: e.target.value })}></textarea>
      <h2>Sample messages for a test run</h2>
      <textarea name="messages" rows="4" value=${messages} onInput=${(e) => setMessages(e.target.value)}></textarea>
      <div class="row-actions">
        <button name="live" disabled=${listening} onClick=${useLive}>${listening ? "Listening…" : "Use live messages"}</button>
        <button name="test" onClick=${test}>Test run</button>
        ${can("admin") && html`<button class="primary" name="save" onClick=${save}>${edit.existing ? "Save" : "Create"}</button>`}
        <button onClick=${() => { setEdit(null); setResult(null); }}>Cancel</button>
      </div>
      ${result && html`<div data-test-result>
        ${result.ok ? html`<p class="ok">${result.data.rows.length} output rows${result.data.message_errors?.length ? `, ${result.data.message_errors.length} message errors` : ""}:</p>` : html`<p class="form-error">${result.data?.error ?? result.status}</p>`}
        ${result.ok && html`<pre>${result.data.rows.map((r) => JSON.stringify(r)).join("\n")}${result.data.message_errors?.length ? "\n" + JSON.stringify(result.data.message_errors) : ""}</pre>`}
      </div>`}
    </div>`}
  </div>`;
}
