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

Deno.test({
  name:
    "the dashboard shows instances joining and leaving live, in a real browser",
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
});
