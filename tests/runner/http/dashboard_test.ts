import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { REDIS_BINARY, RedisServer } from "../../_redis_server.ts";
import { spawnRunner, writeConfig } from "../../_runner_process.ts";
import { Registry } from "../../../mod.ts";
import { MemoryDriver } from "../../../testing/mod.ts";
import { RunnerMetrics } from "../../../runner/http/metrics.ts";
import { startStatusServer } from "../../../runner/http/status_server.ts";
import { eventually } from "../../discovery/_discovery_suite.ts";

const CHROMIUM = "/usr/bin/chromium";
const CI = Deno.env.get("CI") === "true";
const hasChromium = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();

function config(url: string, id: string, http = ""): Promise<string> {
  return writeConfig(`[cluster]
driver = "redis"
service = "api"
id = "${id}"
version = "2.0.0"
heartbeat_interval = "200ms"
ttl = "1s"
[cluster.meta]
zone = "eu-1"
[cluster.redis]
url = "${url}"
${http}
`);
}

/** A test that drives Chromium against a real Redis; under CI=true it never skips. */
function browserTest(name: string, fn: () => Promise<void>): void {
  Deno.test({
    name,
    ignore: (!hasChromium || !REDIS_BINARY) && !CI,
    // The browser driver keeps its own sockets and timers open between calls.
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      if (!hasChromium) {
        throw new Error(
          `${CHROMIUM} is not installed; under CI=true the browser test fails rather than skips`,
        );
      }
      await fn();
    },
  });
}

/**
 * Counts a PNG's green and red pixels, run in a page of its own (the
 * dashboard's CSP rightly refuses data: images): what Chromium drew.
 */
const COUNT_COLOURS = `async (b64) => {
  const image = new Image();
  image.src = "data:image/png;base64," + b64;
  await image.decode();
  const canvas = document.createElement("canvas");
  canvas.width = image.width;
  canvas.height = image.height;
  const context = canvas.getContext("2d");
  context.drawImage(image, 0, 0);
  const { data } = context.getImageData(0, 0, canvas.width, canvas.height);
  let green = 0, red = 0;
  for (let i = 0; i < data.length; i += 4) {
    const r = data[i], g = data[i + 1], b = data[i + 2];
    if (g > 100 && g > r + 40 && g > b + 20) green++;
    if (r > 150 && r > g + 80 && r > b + 60) red++;
  }
  return { green, red };
}`;

/** Headless Debian Chromium. */
function launchChromium() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run"],
  });
}

/** `roster serve` on a free port; `base` is its dashboard's URL. */
async function serveDashboard(url: string, http = "") {
  const runner = spawnRunner([
    "serve",
    "--config",
    await config(
      url,
      "unused",
      `[cluster.http]\nlisten = "127.0.0.1:0"\n${http}`,
    ),
  ]);
  const line = await runner.waitForLine(/^roster: status server on /);
  return Object.assign(runner, {
    base: line.replace(/^roster: status server on /, ""),
  });
}

browserTest(
  "the dashboard shows instances joining and leaving live, in a real browser",
  async () => {
    await using server = await RedisServer.start();
    await using first = spawnRunner([
      "--config",
      await config(
        server.url,
        "api-a",
        `[cluster.http]\nlisten = "127.0.0.1:0"`,
      ),
    ]);
    const line = await first.waitForLine(/^roster: status server on /);
    await first.waitForLine(/^roster: registered/);
    const base = line.replace(/^roster: status server on /, "");
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    try {
      const page = await browser.newPage();
      await page.goto(base);
      await page.waitForSelector('tr[data-id="api-a"]', { timeout: 10_000 });
      // A condition with a deadline: on a loaded machine a page update can
      // arrive while a beat is late, and the next one says healthy again.
      await page.locator('tr[data-id="api-a"]', {
        hasText: /api-aleader\s*healthy/,
      }).waitFor({ timeout: 10_000 });
      assert.match(
        await page.textContent('tr[data-id="api-a"]') ?? "",
        /2\.0\.0.*zone=eu-1/,
      );
      // The runner details its own instance: latency of its beats.
      await page.click('tr[data-id="api-a"]');
      await page.locator("#detail", { hasText: "heartbeat latency" }).waitFor({
        timeout: 5_000,
      });

      await using second = spawnRunner([
        "--config",
        await config(server.url, "api-b"),
      ]);
      await second.waitForLine(/^roster: registered/);
      await page.waitForSelector('tr[data-id="api-b"]', { timeout: 10_000 });
      await page.screenshot({
        path: "tests/screenshots/dashboard.png",
        fullPage: true,
      });

      second.child.kill("SIGTERM");
      await second.status;
      await page.waitForSelector('tr[data-id="api-b"]', {
        state: "detached",
        timeout: 10_000,
      });
      assert.equal(
        await page.locator('tr[data-id="api-a"]').count(),
        1,
        "no reload lost the rest",
      );
    } finally {
      await browser.close();
    }
    first.child.kill("SIGTERM");
    await first.status;
  },
);

browserTest(
  "hostile version, addr and meta show as text in the dashboard and never execute",
  async () => {
    await using server = await RedisServer.start();
    // Ids are [A-Za-z0-9._-] by validation; every free-text field is hostile.
    const { RedisDriver } = await import("../../../drivers/redis/mod.ts");
    const { Registry } = await import("../../../mod.ts");
    const driver = await RedisDriver.connect({ url: server.url });
    const hostile = new Registry({
      driver,
      service: "api",
      id: "evil",
      version: `"><img src=x onerror="window.__xss=1">`,
      addr: `<script>window.__xss=2</script>`,
      meta: { "<b>k": `"><svg onload="window.__xss=3">` },
      heartbeatInterval: 200,
      ttl: 1000,
    });
    await hostile.start();
    await using dashboard = await serveDashboard(server.url);
    const { base } = dashboard;
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      let dialogs = 0;
      page.on("dialog", (dialog) => {
        dialogs++;
        dialog.dismiss().catch(() => {});
      });
      await page.goto(base);
      await page.waitForSelector('tr[data-id="evil"]', { timeout: 10_000 });
      const row = await page.textContent('tr[data-id="evil"]') ?? "";
      assert.ok(row.includes(`<script>window.__xss=2</script>`), row);
      assert.ok(row.includes(`onerror="window.__xss=1"`), row);
      assert.ok(row.includes(`<b>k=`), row);
      await page.waitForTimeout(300);
      assert.equal(await page.evaluate("window.__xss"), undefined);
      assert.equal(await page.locator("tr[data-id=evil] img").count(), 0);
      assert.equal(await page.locator("tr[data-id=evil] script").count(), 0);
      assert.equal(dialogs, 0);
    } finally {
      await browser.close();
      await hostile.stop();
      await driver.close();
    }
    dashboard.child.kill("SIGTERM");
    await dashboard.status;
  },
);

browserTest(
  "the dashboard shows counts, a filter, late beats, the event log, an outage and its end, and fits a phone",
  async () => {
    await using server = await RedisServer.start();
    const { RedisDriver } = await import("../../../drivers/redis/mod.ts");
    const { Registry } = await import("../../../mod.ts");
    const driver = await RedisDriver.connect({ url: server.url });
    const registry = (service: string, id: string, zone: string) =>
      new Registry({
        driver,
        service,
        id,
        meta: { zone },
        version: "2.0.0",
        heartbeatInterval: 200,
        ttl: 1000,
      });
    const apiA = registry("api", "api-a", "eu-1");
    const web1 = registry("web", "web-1", "us-1");
    const web2 = registry("web", "web-2", "us-1");
    for (const r of [apiA, web1, web2]) await r.start();
    // An instance that registers and then never beats: late before it expires.
    const silent = {
      id: "api-silent",
      service: "api",
      env: "default",
      version: "1.0.0",
      addr: "",
      meta: { zone: "eu-2" },
      hostname: "h",
      pid: 1,
      status: "healthy" as const,
      owner: crypto.randomUUID(),
      // Long enough to stay listed (and late) while a loaded machine drives
      // the page through the filter; its expiry is awaited below.
      ttl: 6_000,
      heartbeatInterval: 200,
    };
    await driver.register(silent);
    await using dashboard = await serveDashboard(server.url);
    const { base } = dashboard;
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({
        viewport: { width: 390, height: 844 },
      });
      await page.goto(base);
      await page.waitForSelector('tr[data-id="web-2"]', { timeout: 10_000 });

      // Counts per service.
      await page.locator('#counts li[data-service="web"]', {
        hasText: /web 2\/2/,
      }).waitFor({ timeout: 5_000 });
      // Late: listed, not yet expired, but its beat is overdue.
      await page.waitForSelector(
        'tr[data-id="api-silent"][data-status="late"]',
        {
          timeout: 5_000,
        },
      );
      await page.waitForSelector(
        'tr[data-id="api-a"][data-status="healthy"]',
        { timeout: 5_000 },
      );

      // A phone: nothing scrolls sideways.
      const overflow = await page.evaluate<number>(
        "document.documentElement.scrollWidth - innerWidth",
      );
      assert.ok(
        overflow <= 0,
        `the page is ${overflow}px wider than the screen`,
      );
      await page.screenshot({
        path: "tests/screenshots/dashboard_390.png",
        fullPage: true,
      });

      // The filter: meta, a field, free text.
      await page.fill("#filter", "zone=eu");
      await page.waitForSelector('tr[data-id="web-1"]', { state: "detached" });
      assert.deepEqual(
        (await Promise.all(
          (await page.locator("tr[data-id]").all()).map((row) =>
            row.getAttribute("data-id")
          ),
        )).sort(),
        ["api-a", "api-silent"],
      );
      await page.fill("#filter", "status:late");
      await page.waitForSelector('tr[data-id="api-a"]', { state: "detached" });
      // Only late rows, the silent one among them (on a loaded machine
      // another instance's beat may be overdue too).
      const shown = await Promise.all(
        (await page.locator("tr[data-id]").all()).map(async (row) => ({
          id: await row.getAttribute("data-id"),
          status: await row.getAttribute("data-status"),
        })),
      );
      assert.ok(
        shown.some((row) => row.id === "api-silent") &&
          shown.every((row) => row.status === "late"),
        JSON.stringify(shown),
      );
      await page.fill("#filter", "");

      // The detail of an instance.
      await page.click('tr[data-id="api-a"]');
      const detail = await page.textContent("#detail") ?? "";
      assert.match(detail, /api \/ api-a/);
      assert.match(detail, /pid/);
      assert.match(detail, /seq/);
      assert.match(detail, /heartbeat interval\s*0s|heartbeat interval/);

      // Leader changes, leaves with reasons, and a service emptied to 0.
      await web1.stop();
      await page.waitForSelector("#log li[data-type=leader]", {
        timeout: 5_000,
      });
      assert.match(
        await page.textContent("#log") ?? "",
        /web: web-2 leads \(was web-1\)/,
      );
      await web2.stop();
      await page.locator('#counts li[data-service="web"]', {
        hasText: /^web 0\/0$/,
      }).waitFor({ timeout: 5_000 });
      await page.locator("#log li", {
        hasText: "leave api/api-silent (expired)",
      }).waitFor({ timeout: 8_000 });
      const log = await page.textContent("#log") ?? "";
      assert.match(log, /leave web\/web-1 \(deregistered\)/);
      assert.match(log, /web: no leader \(was web-2\)/);

      // An outage shows as a banner with rows marked last known, and ends.
      const restarting = server.restart(2_500);
      await page.waitForSelector("#banner:not([hidden])", { timeout: 5_000 });
      assert.match(
        await page.textContent("#banner") ?? "",
        /cannot be reached.*stale since.*Last error: /,
      );
      assert.ok(await page.locator("tr.last-known").count() >= 1);
      await restarting;
      await page.waitForSelector("#banner", {
        state: "hidden",
        timeout: 10_000,
      });
      await page.waitForSelector('tr[data-id="api-a"]:not(.last-known)', {
        timeout: 10_000,
      });
    } finally {
      await browser.close();
      await apiA.stop();
      await web1.stop();
      await web2.stop();
      await driver.close();
    }
    dashboard.child.kill("SIGTERM");
    await dashboard.status;
  },
);

browserTest(
  "the dashboard says when eviction protection holds a crashed fleet, marks the held rows, and clears when the bound passes",
  async () => {
    await using server = await RedisServer.start();
    const { RedisDriver } = await import("../../../drivers/redis/mod.ts");
    const { registration } = await import("../../_registration.ts");
    const driver = await RedisDriver.connect({ url: server.url });
    await driver.register(registration({ id: "stays", ttl: 60_000 }));
    await using dashboard = await serveDashboard(server.url);
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.goto(dashboard.base);
      await page.waitForSelector('tr[data-id="stays"]', { timeout: 10_000 });
      for (const id of ["a", "b", "c", "d"]) {
        await driver.register(
          registration({ id, ttl: 500, heartbeatInterval: 100 }),
        );
      }
      const banner = page.locator("#banner", {
        hasText: "Eviction protection for api",
      });
      await banner.waitFor({ timeout: 10_000 });
      await page.locator("td.held").first().waitFor({ timeout: 5_000 });
      assert.equal(await page.locator("td.held").count(), 2);
      await page.screenshot({
        path: "tests/screenshots/dashboard_protection.png",
        fullPage: true,
      });
      await banner.waitFor({ state: "hidden", timeout: 10_000 });
      await page.locator("td.held").first().waitFor({
        state: "detached",
        timeout: 5_000,
      });
      assert.equal(await page.locator("tr[data-id]").count(), 1);
    } finally {
      await browser.close();
      await driver.close();
    }
    dashboard.child.kill("SIGTERM");
    await dashboard.status;
  },
);

browserTest(
  "with a token, a reload keeps reading, a bookmark asks for the token, and controls in meta show as escapes",
  async () => {
    await using server = await RedisServer.start();
    const { RedisDriver } = await import("../../../drivers/redis/mod.ts");
    const { registration } = await import("../../_registration.ts");
    const driver = await RedisDriver.connect({ url: server.url });
    await driver.register(
      registration({
        id: "api-1",
        ttl: 60_000,
        meta: { note: "abc\u202Eexe.txt\u0007" },
      }),
    );
    const token = "dashboard-token-0123456789";
    await using dashboard = await serveDashboard(
      server.url,
      `token = "${token}"`,
    );
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.goto(`${dashboard.base}?token=${token}`);
      await page.waitForSelector('tr[data-id="api-1"]', { timeout: 10_000 });
      assert.equal(new URL(page.url()).search, "", "the token left the URL");
      const row = await page.locator('tr[data-id="api-1"]').innerText();
      assert.match(row, /abc\\u202eexe\.txt\\u0007/);
      assert.doesNotMatch(row, /\u202E/);
      // A reload in the same tab reads on.
      await page.reload();
      await page.waitForSelector('tr[data-id="api-1"]', { timeout: 10_000 });
      // A bookmark in a new tab: the page, asking for the token.
      const fresh = await (await browser.newContext()).newPage();
      await fresh.goto(dashboard.base);
      await fresh.locator("#token").waitFor({ timeout: 10_000 });
      assert.match(
        await fresh.locator("#state").innerText(),
        /needs its token/,
      );
      await fresh.fill("#token", token);
      await fresh.click("#state button");
      await fresh.waitForSelector('tr[data-id="api-1"]', { timeout: 10_000 });
    } finally {
      await browser.close();
      await driver.close();
    }
    dashboard.child.kill("SIGTERM");
    await dashboard.status;
  },
);

Deno.test("the page's inline script and style hold no control characters, so a browser hashes what the CSP names", async () => {
  const { DASHBOARD_HTML } = await import("../../../runner/http/dashboard.ts");
  for (const tag of ["script", "style"]) {
    const text = DASHBOARD_HTML.match(
      new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`),
    )?.[1] ?? "";
    assert.ok(text.length > 0, tag);
    // deno-lint-ignore no-control-regex
    assert.doesNotMatch(text, /[\u0000-\u0009\u000b-\u001f]/, tag);
  }
});

browserTest(
  "the dashboard draws the last hour in SVG: each service's live count with its joins and leaves, and this process's heartbeat latency, seen in a Chromium screenshot",
  async () => {
    const driver = new MemoryDriver();
    const metrics = new RunnerMetrics();
    const member = (id: string) =>
      new Registry({
        driver,
        service: "api",
        id,
        heartbeatInterval: 50,
        ttl: 500,
      });
    const self = member("api-1");
    const others = [member("api-2"), member("api-3")];
    await self.start();
    metrics.follow(self);
    await using status = await startStatusServer(
      { hostname: "127.0.0.1", port: 0, token: undefined },
      self,
      new RunnerMetrics(),
      metrics.self,
    );
    const base = `http://127.0.0.1:${status.port}/`;
    const browser = await launchChromium();
    try {
      // The view keeps the hour from its start: one page opens it.
      const page = await browser.newPage();
      await page.goto(base);
      await page.waitForSelector('tr[data-id="api-1"]', { timeout: 10_000 });
      for (const other of others) await other.start();
      await others[1]!.stop();
      const history = await eventually("the history", async () => {
        const h = await (await fetch(`${base}history`)).json();
        const api = h.services.api;
        return api?.joins.length >= 2 && api.leaves.length >= 1 &&
            h.latency.length >= 5
          ? h
          : undefined;
      }, 10_000);
      await page.reload();
      const chart = page.locator('svg[data-chart^="api:"]');
      await chart.waitFor({ timeout: 10_000 });
      // A step line over the hour, a tick per join and per leave.
      const points = await chart.locator("polyline.count").getAttribute(
        "points",
      );
      assert.ok((points?.split(" ").length ?? 0) >= 4, points ?? "");
      assert.ok(
        await chart.locator("line.join").count() >=
          history.services.api.joins.length,
      );
      assert.ok(await chart.locator("line.leave").count() >= 1);
      const latency = page.locator('svg[data-chart^="heartbeat latency"]');
      assert.ok(
        ((await latency.locator("polyline").getAttribute("points"))?.split(
          " ",
        ).length ?? 0) >= 5,
      );
      assert.match(
        await page.locator("#charts").innerText(),
        /api: 2 live now, at most 3; \d+ joins, 1 leaves/,
      );
      // What Chromium drew: the count's green and the leave's red are on
      // screen, decoded from the screenshot in a page of its own.
      const png = await page.locator("#charts").screenshot();
      if (Deno.env.get("ROSTER_SCREENSHOT")) {
        await Deno.writeFile(Deno.env.get("ROSTER_SCREENSHOT")!, png);
      }
      const canvas = await browser.newPage();
      const colours = await canvas.evaluate(
        `(${COUNT_COLOURS})(${
          JSON.stringify(btoa(String.fromCharCode(...png)))
        })`,
      ) as { green: number; red: number };
      assert.ok(colours.green > 20, `green pixels: ${colours.green}`);
      assert.ok(colours.red > 0, `red pixels: ${colours.red}`);
    } finally {
      await browser.close();
      await others[0]!.stop();
      await self.stop();
    }
  },
);
