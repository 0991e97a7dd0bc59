// The web console in a real browser: Debian's chromium, driven headless by
// playwright-core (no browser download), against a real Ironbridge with a sim
// device, a Modbus server (libmodbus), a bridge to a real mosquitto and an OPC UA server (node-opcua), all started here on 127.0.0.1 and
// stopped by PID. Each step asserts on what the page shows and saves a
// screenshot to $IB_SCREENSHOTS (build/screenshots). Exit 77: skipped.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { cleanUp, freePort, launchBrowser, start, startIronbridge, stop, tmp, waitForPort } from "./harness.mjs";

const shots = process.env.IB_SCREENSHOTS || path.resolve("screenshots");
fs.mkdirSync(shots, { recursive: true });

const upstreamPort = await freePort();
const mosquittoConf = path.join(tmp, "mosquitto.conf");
fs.writeFileSync(mosquittoConf, `listener ${upstreamPort} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
const startMosquitto = async () => {
  const m = start("mosquitto", "/usr/sbin/mosquitto", ["-c", mosquittoConf]);
  await waitForPort(upstreamPort);
  return m;
};

// The OPC UA peer starts with the rest and is waited for in its own step; its
// key pair is made once and kept beside the binary, shared with the other tests.
const opcuaServer = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../peers/opcua/server.js");
const opcuaInstalled = fs.existsSync(path.join(path.dirname(opcuaServer), "node_modules", "node-opcua"));
const opcuaPort = await freePort();
const opcuaPki = path.join(path.dirname(process.env.IRONBRIDGE_BIN), "tests", "opcua-peer-pki");
// A real PLC's stand-in: the libmodbus server the Modbus tests use (ib_modbus_peer),
// holding register 10 preloaded.
const modbusPeer = path.join(path.dirname(process.env.IRONBRIDGE_BIN), "tests", "ib_modbus_peer");
const modbusPort = await freePort();

const config = `
[[devices]]
name = "demo"
driver = "sim"
[[devices.groups]]
name = "fast"
interval_ms = 500
tags = [
  { name = "temperature", address = "sine:period=60,amplitude=5,offset=21", type = "float32", unit = "degC" },
  { name = "count", address = "counter", type = "uint32" },
  { name = "setpoint", address = "memory:initial=20", type = "float32", access = "rw" },
]
[[bridges]]
name = "cloud"
servers = ["127.0.0.1:${upstreamPort}"]
reconnect_min_ms = 200
reconnect_max_ms = 1000
keep_alive_s = 2
[[bridges.forwards]]
local = "ib/data/#"
remote = "edge/\${topic}"
qos = 1
[fleet]
site = "console"
edge = "browser"
bridge = "cloud"
probe_window = 1
`;

let failures = 0, browser, page, base;
const consoleErrors = [];

async function step(name, f) {
  const t0 = Date.now();
  try {
    await f();
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    failures++;
    console.log(`FAIL ${name}: ${e.message.split("\n").slice(0, 6).join("\n     ")}`);
  }
  if (page) await page.screenshot({ path: path.join(shots, name.replace(/\W+/g, "-") + ".png"), fullPage: true }).catch(() => {});
}


let mosquitto, ironbridge, opcua, modbus;
try {
  if (opcuaInstalled) opcua = start("opcua-peer", process.execPath, [opcuaServer, String(opcuaPort), opcuaPki]);
  modbus = start("modbus-peer", modbusPeer, ["--port", String(modbusPort), "--set", "10=1234"]);
  mosquitto = await startMosquitto();
  ({ child: ironbridge, base } = await startIronbridge(config));
  browser = await launchBrowser();
  page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  page.setDefaultTimeout(10000);
  // A failed request is logged by the browser as a console error; those the
  // console expects are not errors: /api/v1/auth/me and /api/v1/audit answer
  // 404 on a node without access control, and the form steps post a bad device and a bad tag.
  // The closed node answers 401 to auth/me, which is how the console knows to ask.
  // The login step's wrong token answers 401 on purpose.
  const expected = [/\/api\/v1\/auth\/me$/, /\/api\/v1\/audit\?/, /\/api\/v1\/devices$/, /\/groups\/fast\/tags$/,
                    /\/api\/v1\/auth\/login$/, /\/api\/v1\/config\/revisions$/];
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    const from = m.location()?.url ?? "";
    if (m.text().startsWith("Failed to load resource") && expected.some((re) => re.test(from))) return;
    consoleErrors.push(`${page.url()}: ${m.text()} (${from})`);
  });
  page.on("pageerror", (e) => consoleErrors.push(`${page.url()}: ${e.message}`));

  await step("overview shows the node live", async () => {
    await page.goto(base + "/");
    await page.locator('[data-page="overview"]').waitFor();
    await page.waitForFunction(() => /^1 \/ 1$/.test(document.querySelector('[data-card="devices"] .value')?.textContent ?? ""));
    await page.waitForFunction(() => document.querySelector('[data-card="health"] .value')?.textContent === "ok");
    // The health inspection: its score, and each check with its status.
    await page.waitForFunction(() => /^\d+ \/ 100$/.test(document.querySelector('[data-card="score"] .value')?.textContent ?? ""));
    await page.waitForFunction(() => document.querySelector('[data-check="cloud_link"] td:nth-child(2)')?.textContent === "pass");
  });

  for (const id of ["devices", "rules", "bridges", "trends", "mqtt", "logs", "settings"]) {
    await step(`page ${id} loads`, async () => {
      await page.goto(`${base}/#/${id}`);
      await page.locator(`[data-page="${id}"]`).waitFor();
      await page.waitForTimeout(300);
    });
  }

  await step("a device created in the form publishes live values", async () => {
    await page.goto(base + "/#/devices");
    await page.click('button[name="new-device"]');
    await page.fill('[data-device-form] input[name="name"]', "line2");
    await page.fill('input[name="tag-name-0"]', "speed");
    await page.fill('input[name="tag-address-0"]', "sine:wrong");
    await page.click('button[name="save-device"]');
    // The API's own message, shown beside the form's tags.
    const msg = page.locator('[data-error-for="tags"]');
    await msg.filter({ hasText: /sine:wrong/ }).waitFor();
    await page.fill('input[name="tag-address-0"]', "sine:period=10,amplitude=5,offset=50");
    await page.click('button[name="save-device"]');
    await page.locator('[data-device-form]').waitFor({ state: "detached" });
    const cell = page.locator('[data-tag="line2/fast/speed"] [data-value]');
    await page.waitForFunction(() => /\d/.test(document.querySelector('[data-tag="line2/fast/speed"] [data-value]')?.textContent ?? ""));
    const first = await cell.innerText();
    await page.waitForFunction((v) => {
      const t = document.querySelector('[data-tag="line2/fast/speed"] [data-value]')?.textContent;
      return t && t !== v && /\d/.test(t);
    }, first);
  });

  await step("a tag added to a group shows the API's message beside its field, then reads", async () => {
    await page.goto(base + "/#/devices");
    await page.locator('[data-group="line2/fast"] button[name="add-tag"]').click();
    await page.fill('[data-part-form] input[name="name"]', "torque");
    await page.fill('[data-part-form] input[name="address"]', "bogus");
    await page.click('button[name="save-part"]');
    await page.locator('[data-part-form] [data-error-for="address"]').filter({ hasText: "bogus" }).waitFor();
    await page.fill('[data-part-form] input[name="address"]', "counter");
    await page.click('button[name="save-part"]');
    await page.waitForFunction(() => /\d/.test(document.querySelector('[data-tag="line2/fast/torque"] [data-value]')?.textContent ?? ""));
  });

  await step("tags imported from CSV get a result per row", async () => {
    await page.goto(base + "/#/devices");
    await page.locator('[data-device="line2"] button[name="csv"]').click();
    await page.fill('textarea[name="csv-text"]', "group,name,address,type\nfast,flow,counter,uint32\nfast,level,nonsense,float32\n");
    await page.click('button[name="csv-import"]');
    const results = page.locator("[data-csv-results] tr");
    await results.nth(1).waitFor();
    if (!/flow\s+added/.test(await results.nth(0).innerText())) throw new Error("row 1: " + (await results.nth(0).innerText()));
    if (!/nonsense/.test(await results.nth(1).innerText())) throw new Error("row 2: " + (await results.nth(1).innerText()));
    await page.locator('[data-tag="line2/fast/flow"]').waitFor();
  });

  await step("an OPC UA server's variable, browsed and added as a tag, shows its live value", async () => {
    if (!opcua) return console.log("skip: tests/peers/opcua/node_modules is missing (scripts/install-deps.sh)");
    await waitForPort(opcuaPort, 60000);
    const device = { name: "plc", driver: "opcua", endpoint: `opc.tcp://127.0.0.1:${opcuaPort}/UA/Ironbridge`,
                     security_policy: "None", groups: [{ name: "line", interval_ms: 200, tags: [] }] };
    const created = await fetch(`${base}/api/v1/devices`, { method: "POST", body: JSON.stringify(device) });
    if (created.status !== 201) throw new Error("creating the device: " + (await created.text()));
    await page.goto(base + "/#/devices");
    await page.locator('[data-device="plc"] [data-state]').filter({ hasText: "connected" }).waitFor();
    await page.locator('[data-device="plc"] button[name="browse"]').click();
    const panel = page.locator('[data-browse="plc"]');
    await panel.locator(".browse-row", { hasText: "1:Line1" }).locator("a").click();
    const tick = panel.locator('[data-node="ns=1;s=Line1.Tick"]');
    await tick.filter({ hasText: "UInt32" }).waitFor();
    await tick.locator('input[name="pick"]').check();
    await panel.locator('button[name="browse-add"]').click();
    await panel.locator("[data-browse-results] tr", { hasText: "Tick" }).filter({ hasText: "added" }).waitFor();
    await page.waitForFunction(() => /\d/.test(document.querySelector('[data-tag="plc/line/Tick"] [data-value]')?.textContent ?? ""));
  });

  await step("a write from the page lands on the device", async () => {
    await page.goto(base + "/#/devices");
    await page.locator('[data-tag="demo/fast/setpoint"] button[name="write"]').click();
    await page.fill('input[name="write-value"]', "42.5");
    await page.click('button[name="write-send"]');
    await page.locator("[data-write-result]").filter({ hasText: "written" }).waitFor();
    await page.waitForFunction(() => document.querySelector('[data-tag="demo/fast/setpoint"] [data-value]')?.textContent === "42.5");
    const values = await (await fetch(`${base}/api/v1/devices/demo/values`)).json();
    if (values.groups.fast.values.setpoint !== 42.5) throw new Error("the device holds " + JSON.stringify(values.groups.fast.values));
  });

  await step("a Modbus device's register shows live, and a write from the page lands on the PLC", async () => {
    await waitForPort(modbusPort);
    const device = { name: "press", driver: "modbus-tcp", host: "127.0.0.1", port: modbusPort,
                     groups: [{ name: "regs", interval_ms: 300,
                                tags: [{ name: "pressure", address: "1!400011", type: "uint16", access: "rw" }] }] };
    const created = await fetch(`${base}/api/v1/devices`, { method: "POST", body: JSON.stringify(device) });
    if (created.status !== 201) throw new Error("creating the device: " + (await created.text()));
    await page.goto(base + "/#/devices");
    // Integers are shown with the browser's digit grouping ("1,234").
    const shows = (v) => page.waitForFunction((v) =>
      document.querySelector('[data-tag="press/regs/pressure"] [data-value]')?.textContent.replace(/\D/g, "") === v, v);
    await shows("1234");
    await page.locator('[data-tag="press/regs/pressure"] button[name="write"]').click();
    await page.fill('input[name="write-value"]', "4321");
    await page.click('button[name="write-send"]');
    await page.locator("[data-write-result]").filter({ hasText: "written" }).waitFor();
    // The next poll reads the register back from the server: the write is on the PLC.
    await shows("4321");
  });

  await step("a rule tested and created in the editor produces output", async () => {
    await page.goto(base + "/#/rules");
    await page.click('button[name="new-rule"]');
    await page.fill('input[name="rule-id"]', "hot");
    await page.fill('textarea[name="sql"]', 'SELECT values.temperature AS t FROM "ib/data/demo/fast" WHERE values.temperature > 0');
    await page.fill('textarea[name="actions"]', '[{"publish": {"topic": "alerts/hot"}}]');
    await page.fill('textarea[name="messages"]', '[{"topic": "ib/data/demo/fast", "payload": {"values": {"temperature": 21.5}}}]');
    await page.click('button[name="test"]');
    await page.locator("[data-test-result] pre").filter({ hasText: "21.5" }).waitFor();
    // Then against the last live messages of its FROM topic.
    await page.click('button[name="live"]');
    await page.waitForFunction(() => document.querySelector('textarea[name="messages"]').value.includes('"device": "demo"'));
    await page.click('button[name="test"]');
    await page.locator("[data-test-result]").filter({ hasText: /^[1-9]\d* output rows/ }).waitFor();
    await page.click('button[name="save"]');
    await page.locator('[data-rule="hot"]').filter({ hasText: "running" }).waitFor();
    await page.goto(base + "/#/mqtt");
    await page.fill('input[name="filter"]', "alerts/#");
    await page.click("text=Watch");
    await page.locator('[data-topic="alerts/hot"]').waitFor();
  });

  await step("the bridge goes down with its upstream, queues, drains when it returns, and lists the disconnect", async () => {
    await page.goto(base + "/#/bridges");
    const link = page.locator('[data-bridge="cloud"] [data-link]');
    await link.filter({ hasText: "linked" }).waitFor();
    await stop(mosquitto);
    await link.filter({ hasText: "down" }).waitFor();
    const backlog = () => page.locator('[data-bridge="cloud"] [data-backlog]').getAttribute("data-backlog").then(Number);
    await page.waitForFunction(() => +document.querySelector('[data-bridge="cloud"] [data-backlog]').dataset.backlog > 3);
    const queued = await backlog();
    const disconnect = page.locator('[data-bridge="cloud"] [data-disconnect]').first();
    await disconnect.filter({ hasText: "still down" }).waitFor();
    await page.screenshot({ path: path.join(shots, "bridge-down.png"), fullPage: true });
    mosquitto = await startMosquitto();
    await link.filter({ hasText: "linked" }).waitFor();
    await page.waitForFunction((q) => +document.querySelector('[data-bridge="cloud"] [data-backlog]').dataset.backlog < q, queued);
    await disconnect.filter({ hasNotText: "still down" }).waitFor();
  });

  await step("the overview counts readings per second", async () => {
    await page.goto(base + "/");
    await page.waitForFunction(() => parseFloat(document.querySelector('[data-card="readings"] .value')?.textContent) > 0);
  });

  await step("a node without anonymous access asks who you are, keeps the session, and logs out", async () => {
    const closed = await startIronbridge('allow_anonymous = false\ntokens = ["console-test", "viewer:console-view"]\n');
    try {
      await page.goto(closed.base + "/");
      const token = page.locator('form.login input[name="token"]');
      await token.fill("not-a-token");
      await page.locator("form.login button").click();
      await page.locator("form.login .form-error", { hasText: "invalid credentials" }).waitFor();
      await token.fill("console-view");
      await page.locator("form.login button").click();
      await page.locator("nav .who", { hasText: "viewer" }).waitFor();
      // The session lives in a cookie scripts cannot read, sent to this site only.
      const cookie = (await page.context().cookies(closed.base)).find((c) => c.name === "ib_session");
      if (!cookie || !cookie.httpOnly || cookie.sameSite !== "Strict") throw new Error("session cookie: " + JSON.stringify(cookie));
      await page.reload();
      await page.locator("nav .who", { hasText: "viewer" }).waitFor();
      // A viewer's Settings page does not list users and tokens; an admin's does.
      await page.goto(closed.base + "/#/settings");
      await page.locator('[data-page="settings"]').waitFor();
      if (await page.locator("[data-principals]").count()) throw new Error("a viewer sees the users and tokens");
      await page.locator("nav .who a", { hasText: "log out" }).click();
      await token.waitFor();
      await token.fill("console-test");
      await page.locator("form.login button").click();
      await page.locator("nav .who", { hasText: "admin" }).waitFor();
      await page.goto(closed.base + "/#/settings");
      const principals = page.locator("[data-principals]");
      await principals.locator("tr", { hasText: /token:[0-9a-f]{8}/ }).filter({ hasText: "viewer" }).waitFor();
      if (/console-(test|view)/.test(await principals.innerText())) throw new Error("a token's secret is shown");
    } finally {
      await page.context().clearCookies();
      await stop(closed.child);
    }
  });

  await step("settings lists the fleet revision pushed from the cloud", async () => {
    const desired = JSON.stringify({ revision: 1, base: 0, config: "acl = []\n" });
    execFileSync("mosquitto_pub", ["-h", "127.0.0.1", "-p", String(upstreamPort), "-q", "1", "-r",
                                   "-t", "ib/fleet/v1/console/browser/desired", "-m", desired]);
    await page.goto(base + "/#/settings");
    await page.locator('[data-revisions] tr[data-revision="1"]', { hasText: "applied" }).waitFor();
    await page.locator("[data-revisions-in-force]", { hasText: "revision 1" }).waitFor();
    // A second revision, then the first one's button rolls back to it (probe_window = 1).
    const second = JSON.stringify({ revision: 2, base: 1, config: "acl = []\n# second\n" });
    execFileSync("mosquitto_pub", ["-h", "127.0.0.1", "-p", String(upstreamPort), "-q", "1", "-r",
                                   "-t", "ib/fleet/v1/console/browser/desired", "-m", second]);
    await page.locator("[data-revisions-in-force]", { hasText: "revision 2" }).waitFor();
    await page.locator('[data-revisions] tr[data-revision="1"] button[name="rollback"]').click();
    await page.locator("[data-revisions-in-force]", { hasText: "revision 1" }).waitFor();
  });

  await step("no console errors on any page", async () => {
    if (consoleErrors.length) throw new Error(consoleErrors.join("\n"));
  });
} catch (e) {
  failures++;
  console.log("FAIL setting up: " + e.message);
} finally {
  await browser?.close().catch(() => {});
  await stop(ironbridge);
  await stop(mosquitto);
  await stop(opcua);
  await stop(modbus);
  cleanUp(failures > 0);
}
console.log(failures ? `${failures} failed; screenshots in ${shots}` : `all passed; screenshots in ${shots}`);
process.exit(failures ? 1 : 0);
