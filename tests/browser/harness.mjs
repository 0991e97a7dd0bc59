// What the browser tests and the console measurements share: the paths they
// need (or a skip, exit 77), free ports, and processes started in a temp
// folder and stopped by PID.
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

export const SKIP = 77;
export const chromiumPath = process.env.IB_CHROMIUM || "/usr/bin/chromium";
export const bin = process.env.IRONBRIDGE_BIN && path.resolve(process.env.IRONBRIDGE_BIN);
if (!bin) { console.log("skip: IRONBRIDGE_BIN is not set"); process.exit(SKIP); }
if (!fs.existsSync(chromiumPath)) { console.log(`skip: no chromium at ${chromiumPath} (scripts/install-deps.sh)`); process.exit(SKIP); }
let playwright;
try { playwright = await import("playwright-core"); } catch {
  console.log("skip: playwright-core is not installed (npm ci in tests/browser)"); process.exit(SKIP);
}

export const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ibconsole-"));
const children = [];

export function launchBrowser() {
  // --no-sandbox: CI runs as root, where chromium's sandbox refuses to start.
  return playwright.chromium.launch({ executablePath: chromiumPath, headless: true, args: ["--no-sandbox", "--disable-gpu"] });
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => resolve(port)); });
    s.on("error", reject);
  });
}

export async function waitForPort(port, ms = 10000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const ok = await new Promise((r) => {
      const c = net.connect(port, "127.0.0.1", () => { c.destroy(); r(true); });
      c.on("error", () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on 127.0.0.1:${port} after ${ms} ms`);
}

// Output goes to <tmp>/<name>.log.
export function start(name, cmd, args) {
  const log = fs.openSync(path.join(tmp, name + ".log"), "a");
  const child = spawn(cmd, args, { cwd: tmp, stdio: ["ignore", log, log] });
  children.push(child);
  return child;
}

// By PID: SIGTERM, then SIGKILL after 5 s.
export async function stop(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const t = setTimeout(() => child.kill("SIGKILL"), 5000);
  await gone;
  clearTimeout(t);
}

let instances = 0;
// Ironbridge with `extra` TOML appended to a config of its own ports and data
// folder; its first lines land in [api].
export async function startIronbridge(extra) {
  const mqttPort = await freePort(), apiPort = await freePort();
  const name = instances++ ? `ironbridge-${instances}` : "ironbridge";
  const config = path.join(tmp, name + ".toml");
  fs.writeFileSync(config, `data_dir = "${tmp}/${name}-data"
[log]
level = "info"
[[broker.listeners]]
name = "default"
bind = "127.0.0.1"
port = ${mqttPort}
[api]
enabled = true
bind = "127.0.0.1"
port = ${apiPort}
${extra}`);
  const child = start(name, bin, ["run", "-c", config]);
  await waitForPort(apiPort);
  return { child, base: `http://127.0.0.1:${apiPort}` };
}

// The last lines of every log, for a failure's report; then the folder goes.
export function cleanUp(printLogs) {
  if (printLogs) {
    for (const f of fs.readdirSync(tmp).filter((f) => f.endsWith(".log"))) {
      console.log(`----- ${f}\n` + fs.readFileSync(path.join(tmp, f), "utf8").split("\n").slice(-40).join("\n"));
    }
  }
  fs.rmSync(tmp, { recursive: true, force: true });
}
