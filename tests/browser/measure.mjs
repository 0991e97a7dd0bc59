// Figures for BENCHMARKS.md (not a test): the console's transferred size on
// first load, the time to a usable Overview, and the Devices page with 10
// simulated devices × 1,000 tags changing every second (frames per second while
// scrolling, time per redraw, and the age of the newest reading when drawn).
//   IRONBRIDGE_BIN=build/ironbridge node tests/browser/measure.mjs
import { cleanUp, launchBrowser, startIronbridge, stop } from "./harness.mjs";

const kDevices = 10, kTags = 1000;
let config = "";
for (let d = 0; d < kDevices; d++) {
  const tags = Array.from({ length: kTags }, (_, t) => `  { name = "t${t}", address = "random:start=${t},step=1", type = "float32" },`);
  config += `[[devices]]\nname = "sim${d}"\ndriver = "sim"\n[[devices.groups]]\nname = "fast"\ninterval_ms = 1000\ntags = [\n${tags.join("\n")}\n]\n`;
}

const { child, base } = await startIronbridge(config);
const browser = await launchBrowser();
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  let bytes = 0, files = 0;
  page.on("requestfinished", async (req) => {
    if (req.url().includes("/api/v1/events")) return;
    const s = await req.sizes();
    bytes += s.responseBodySize + s.responseHeadersSize;
    files++;
  });
  const t0 = Date.now();
  await page.goto(base + "/");
  await page.waitForFunction((n) => document.querySelector('[data-card="devices"] .value')?.textContent === `${n} / ${n}`
    && document.querySelector('[data-card="health"] .value')?.textContent === "ok", kDevices, { timeout: 20000 });
  const usable = Date.now() - t0;
  await page.waitForTimeout(500);
  console.log(`first load: ${files} responses, ${(bytes / 1024).toFixed(1)} KiB transferred (gzip); usable Overview after ${usable} ms`);

  await page.goto(base + "/#/devices");
  await page.waitForFunction(() => /\d/.test(document.querySelector('[data-tag="sim0/fast/t0"] [data-value]')?.textContent ?? ""), null, { timeout: 20000 });
  const result = await page.evaluate(async () => {
    const p = window.__ibDevices;
    Object.assign(p, { renders: 0, maxRenderMs: 0 });
    const list = document.querySelector(".vlist");
    let frames = 0, longest = 0, last = performance.now();
    const lags = [];
    let live = true;
    const frame = (t) => { frames++; longest = Math.max(longest, t - last); last = t; if (live) requestAnimationFrame(frame); };
    requestAnimationFrame(frame);
    const start = performance.now();
    const scroll = setInterval(() => { list.scrollTop = (list.scrollTop + 900) % list.scrollHeight; lags.push(p.lagMs); }, 100);
    await new Promise((r) => setTimeout(r, 10000));
    live = false;
    clearInterval(scroll);
    const seconds = (performance.now() - start) / 1000;
    lags.sort((a, b) => a - b);
    return { fps: frames / seconds, longestFrameMs: longest, renders: p.renders, maxRenderMs: p.maxRenderMs,
             lagMedianMs: lags[lags.length >> 1], lagMaxMs: lags[lags.length - 1], messages: p.messages,
             rows: list.scrollHeight / 28 };
  });
  console.log(`devices page, ${kDevices}x${kTags} tags every 1 s, 10 s scrolling: ${result.fps.toFixed(1)} fps, longest frame ${result.longestFrameMs.toFixed(0)} ms, ` +
    `${result.renders} redraws (slowest ${result.maxRenderMs.toFixed(1)} ms to paint), reading age when drawn median ${result.lagMedianMs} ms / max ${result.lagMaxMs} ms, ${result.rows} rows`);
} finally {
  await browser.close();
  await stop(child);
  cleanUp(false);
}
