import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { REDIS_BINARY, RedisServer } from "./_redis_server.ts";
import { spawnRunner, writeConfig } from "./_runner_process.ts";

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
      assert.match(
        await page.textContent('tr[data-id="api-a"]') ?? "",
        /api-aleader\s*healthy/,
      );
      assert.match(
        await page.textContent('tr[data-id="api-a"]') ?? "",
        /2\.0\.0.*zone=eu-1/,
      );

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
    const { RedisDriver } = await import("../drivers/redis/mod.ts");
    const { Registry } = await import("../mod.ts");
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
    await using dashboard = spawnRunner([
      "serve",
      "--config",
      await config(
        server.url,
        "unused",
        `[cluster.http]\nlisten = "127.0.0.1:0"`,
      ),
    ]);
    const line = await dashboard.waitForLine(/^roster: status server on /);
    const base = line.replace(/^roster: status server on /, "");
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--no-first-run"],
    });
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
