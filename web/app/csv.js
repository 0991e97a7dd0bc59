// CSV for a device's tags (RFC 4180: fields with a comma, quote or line break
// are quoted, a quote doubled). Import and export use the same columns.
export const tagColumns = ["group", "name", "address", "type", "unit", "access", "scale", "offset"];

export function toCsv(rows, columns = tagColumns) {
  const field = (v) => {
    const s = v === undefined || v === null ? "" : String(v);
    return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [columns.join(","), ...rows.map((r) => columns.map((c) => field(r[c])).join(","))].join("\n") + "\n";
}

// Rows as objects keyed by the header line's names; blank lines skipped.
export function fromCsv(text) {
  const records = [];
  let row = [], f = "", quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') { f += '"'; i++; }
      else if (ch === '"') quoted = false;
      else f += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") { row.push(f); f = ""; }
    else if (ch === "\n" || ch === "\r") {
      if (ch === "\r" && text[i + 1] === "\n") i++;
      row.push(f); f = "";
      if (row.some((x) => x !== "")) records.push(row);
      row = [];
    } else f += ch;
  }
  row.push(f);
  if (row.some((x) => x !== "")) records.push(row);
  if (records.length === 0) return [];
  const header = records[0].map((h) => h.trim());
  return records.slice(1).map((r) => Object.fromEntries(header.map((h, i) => [h, (r[i] ?? "").trim()])));
}
