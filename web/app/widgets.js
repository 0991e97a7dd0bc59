// Small pieces the pages share: a trend line, a form field with the API's
// message beside it, a list that renders only its visible rows, and a hook
// that repeats a fetch at a slow interval.
import { html, useEffect, useRef, useState } from "htm/preact";

// A small SVG trend line of the last values (no axes: the card names it).
export function Sparkline({ values, color = "#1f5fbf" }) {
  if (!values || values.length < 2) return html`<svg viewBox="0 0 100 30"></svg>`;
  const max = Math.max(...values, 1e-9);
  const min = Math.min(...values, 0);
  const span = max - min || 1;
  const pts = values.map((v, i) => `${(i / (values.length - 1)) * 100},${28 - ((v - min) / span) * 26}`).join(" ");
  return html`<svg viewBox="0 0 100 30" preserveAspectRatio="none">
    <polyline points=${pts} fill="none" stroke=${color} stroke-width="1.5" vector-effect="non-scaling-stroke" />
  </svg>`;
}

export function Card({ label, value, trend, cls = "", id }) {
  return html`<div class="card" data-card=${id}>
    <div class="label">${label}</div>
    <div class="value ${cls}">${value}</div>
    ${trend && html`<${Sparkline} values=${trend} />`}
  </div>`;
}

// One row of a form: label, input, and the API's message when it names this field.
export function Field({ label, name, value, onInput, error, type = "text", options, placeholder }) {
  const input = options
    ? html`<select name=${name} value=${value} onChange=${(e) => onInput(e.target.value)}>
        ${options.map((o) => html`<option value=${o}>${o}</option>`)}
      </select>`
    : html`<input name=${name} type=${type} value=${value} placeholder=${placeholder}
        onInput=${(e) => onInput(e.target.value)} />`;
  return html`<label for=${name}>${label}</label>${input}
    <div class="field-error" data-error-for=${name}>${error || ""}</div>`;
}

// Which field an API error message is about: the API names the key
// ("host: is required", "groups[0].tags[1].address: ...", "'name' ...").
export function fieldOfError(message, fields) {
  if (!message) return null;
  let best = null, at = Infinity;
  for (const f of fields) {
    const re = new RegExp(`(^|[^a-z_])${f}([^a-z_]|$)`);
    const m = re.exec(message);
    if (m && m.index < at) { best = f; at = m.index; }
  }
  return best;
}

// Renders only the rows in view (and a few around them), each `rowHeight`
// pixels high, so ten thousand tags cost what forty do.
export function VirtualList({ count, rowHeight = 28, renderRow, version }) {
  const box = useRef(null);
  const [top, setTop] = useState(0);
  const [height, setHeight] = useState(600);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const measure = () => setHeight(el.clientHeight);
    measure();
    const ro = new ResizeObserver(measure);
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  const first = Math.max(0, Math.floor(top / rowHeight) - 5);
  const last = Math.min(count, Math.ceil((top + height) / rowHeight) + 5);
  const rows = [];
  for (let i = first; i < last; i++) rows.push(renderRow(i, i * rowHeight));
  return html`<div class="vlist" ref=${box} onScroll=${(e) => setTop(e.target.scrollTop)} data-version=${version}>
    <div style=${`height:${count * rowHeight}px`}></div>${rows}</div>`;
}

// Calls `load` now and every `ms` while the page is shown (a REST list that
// has no event of its own: device states, bridges, rules).
export function usePoll(load, ms, deps = []) {
  useEffect(() => {
    let live = true;
    const run = () => live && load();
    run();
    const t = setInterval(run, ms);
    return () => { live = false; clearInterval(t); };
  }, deps);
}
