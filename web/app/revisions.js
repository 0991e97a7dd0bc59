// The fleet's configuration revisions on the Settings page (docs/fleet.md):
// GET /api/v1/config/revisions lists them (hidden on 404: a node without
// [fleet]), a row opens its TOML (secrets masked for non-admins) and its diff
// against the revision in force, and an admin can roll back to one (POST
// .../rollback: the same transaction and probe as a push from the cloud).
import { html, useState } from "htm/preact";
import { api, can, get } from "./api.js";
import { usePoll } from "./widgets.js";

export function Revisions() {
  const [list, setList] = useState(null);
  const [open, setOpen] = useState(null);
  const [notice, setNotice] = useState("");
  usePoll(async () => {
    const r = await get("/api/v1/config/revisions");
    setList(r.status === 200 ? r.data : null);
  }, 3000);
  if (!list) return null;
  const show = async (rev) => {
    const [body, diff] = await Promise.all([
      get(`/api/v1/config/revisions/${rev}`),
      get(`/api/v1/config/revisions/diff?from=${list.in_force}&to=${rev}`),
    ]);
    setOpen({ rev, config: body.ok ? body.data.config : body.data?.error, diff: diff.ok ? diff.data.diff : null });
  };
  const rollback = async (rev) => {
    const r = await api("POST", `/api/v1/config/revisions/${rev}/rollback`);
    setNotice(r.ok ? `rolling back to revision ${rev} (applying, then the probe)` : r.data?.error ?? `failed (${r.status})`);
  };
  return html`<h2>Fleet revisions</h2>
    <p class="muted" data-revisions-in-force>In force: revision ${list.in_force}${list.in_force === 0 ? " (the configuration file)" : ""}. ${notice}</p>
    <table data-revisions><thead><tr><th>revision</th><th>base</th><th>status</th><th>reason</th><th>sha256</th><th></th></tr></thead><tbody>
      ${list.revisions.map((r) => html`<tr data-revision=${r.revision}>
        <td><a href="#/settings" onClick=${(e) => { e.preventDefault(); show(r.revision); }}>${r.revision}</a>${r.in_force ? " (in force)" : ""}</td>
        <td>${r.base ?? "—"}</td><td>${r.status}</td><td>${r.reason ?? ""}</td>
        <td class="mono muted" title=${r.sha256}>${r.sha256.slice(0, 12)}</td>
        <td>${can("admin") && !r.in_force && r.status === "applied" && html`<button name="rollback" onClick=${() => rollback(r.revision)}>Roll back to it</button>`}</td>
      </tr>`)}
      ${!list.revisions.length && html`<tr><td colspan="6" class="muted">no revision received yet</td></tr>`}
      ${list.in_force !== 0 && can("admin") && html`<tr data-revision="0"><td>0</td><td>—</td><td colspan="3" class="muted">the configuration file, without any revision</td>
        <td><button name="rollback" onClick=${() => rollback(0)}>Roll back to it</button></td></tr>`}
    </tbody></table>
    ${open && html`<h3>Revision ${open.rev}</h3>
      ${open.diff && html`<p class="mono" data-revision-diff>${JSON.stringify(open.diff)}</p>`}
      <pre class="mono" data-revision-config>${open.config}</pre>`}`;
}
