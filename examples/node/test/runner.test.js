// The runner as the package's bin: `npx roster`.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { startRedis } from "./_redis.js";

const BIN = fileURLToPath(
  new URL("../node_modules/.bin/roster", import.meta.url),
);

function roster(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => stdout += chunk);
    child.stderr.on("data", (chunk) => stderr += chunk);
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}

test("npx roster: --version, check, run until SIGTERM, list --redis-url", async () => {
  const dir = await mkdtemp(join(tmpdir(), "roster-node-"));
  const redis = await startRedis();
  try {
    const version = await roster(["--version"]);
    assert.equal(version.code, 0);
    assert.match(version.stdout, /^roster \d+\.\d+\.\d+/);

    const config = join(dir, "cluster.toml");
    await writeFile(
      config,
      `[cluster]\ndriver = "redis"\nservice = "api"\nid = "node-1"\nheartbeat_interval = "100ms"\nttl = "1s"\n[cluster.redis]\nurl = "${redis.url}"\n`,
    );
    const check = await roster(["check", "--config", config]);
    assert.equal(check.code, 0, check.stderr);
    assert.match(check.stdout, /is valid/);

    const bad = await roster(["lsit"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /did you mean 'list'/);

    // Registers, is listed by another process, and deregisters on SIGTERM.
    const child = spawn(BIN, ["--config", config], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    child.stdout.on("data", (chunk) => stdout += chunk);
    const closed = new Promise((resolve) => child.once("close", resolve));
    while (
      !/roster: registered id=node-1/.test(stdout) && child.exitCode === null
    ) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const list = await roster(["list", "--redis-url", redis.url, "--json"]);
    assert.deepEqual(JSON.parse(list.stdout).map((i) => i.id), ["node-1"]);
    child.kill("SIGTERM");
    assert.equal(await closed, 0);
    assert.match(stdout, /stopped on SIGTERM; id=node-1 deregistered/);

    const after = await roster(["list", "--redis-url", redis.url, "--json"]);
    assert.equal(after.code, 0, after.stderr);
    assert.deepEqual(JSON.parse(after.stdout), []);
  } finally {
    await redis.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
