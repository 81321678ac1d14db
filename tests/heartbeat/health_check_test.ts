import assert from "node:assert/strict";
import { HealthCheck, type InstanceStatus, Registry } from "../../mod.ts";
import { MemoryDriver } from "../../testing/mod.ts";
import { eventually } from "../discovery/_discovery_suite.ts";

const FAST = { interval: 30, timeout: 200, failures: 2, successes: 2 };

async function flapping(
  check: HealthCheck,
  setHealthy: (healthy: boolean) => void | Promise<void>,
): Promise<InstanceStatus[]> {
  const changes: InstanceStatus[] = [];
  check.on("change", ({ status }) => changes.push(status));
  await setHealthy(true);
  check.start();
  await eventually("healthy", () => check.status === "healthy");
  await setHealthy(false);
  await eventually("unhealthy", () => check.status === "unhealthy");
  await setHealthy(true);
  await eventually("healthy again", () => check.status === "healthy");
  await check.stop();
  return changes;
}

Deno.test("an http check flaps with its endpoint, counting 2xx as healthy", async () => {
  let healthy = true;
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response("ok", { status: healthy ? 200 : 503 }),
  );
  const check = new HealthCheck({
    http: `http://127.0.0.1:${server.addr.port}/healthz`,
    ...FAST,
  });
  assert.deepEqual(await flapping(check, (h) => void (healthy = h)), [
    "healthy",
    "unhealthy",
    "healthy",
  ]);
  healthy = false;
  assert.match((await check.checkOnce()).error ?? "", /answered 503/);
});

Deno.test("a command check flaps with its exit code", async () => {
  const dir = await Deno.makeTempDir();
  const flag = `${dir}/healthy`;
  const check = new HealthCheck({
    command: ["sh", "-c", `test -f ${flag}`],
    ...FAST,
  });
  const set = async (healthy: boolean) => {
    if (healthy) await Deno.writeTextFile(flag, "");
    else await Deno.remove(flag);
  };
  assert.deepEqual(await flapping(check, set), [
    "healthy",
    "unhealthy",
    "healthy",
  ]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a tcp check is healthy while the port accepts connections", async () => {
  let listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const check = new HealthCheck({ tcp: `127.0.0.1:${port}`, ...FAST });
  const accepting = (async () => {
    for await (const conn of listener) conn.close();
  })();
  assert.deepEqual(await check.checkOnce(), { ok: true });
  listener.close();
  await accepting;
  assert.equal((await check.checkOnce()).ok, false);
  listener = Deno.listen({ hostname: "127.0.0.1", port });
  listener.close();
});

Deno.test("a check that hangs fails at its timeout", async () => {
  const check = new HealthCheck({
    command: ["sleep", "5"],
    interval: 1000,
    timeout: 100,
    failures: 1,
    successes: 1,
  });
  const started = Date.now();
  const result = await check.checkOnce();
  assert.equal(result.ok, false);
  assert.match(result.error ?? "", /timed out after 100ms/);
  assert.ok(Date.now() - started < 2000);
});

Deno.test("a single failure below the threshold does not flap the status", async () => {
  let failNext = 0;
  const dir = await Deno.makeTempDir();
  const check = new HealthCheck({
    command: ["sh", "-c", `test ! -f ${dir}/fail`],
    interval: 20,
    timeout: 200,
    failures: 3,
    successes: 1,
  });
  const changes: string[] = [];
  check.on("change", ({ status }) => changes.push(status));
  check.on("check", ({ ok }) => {
    if (!ok) failNext++;
  });
  check.start();
  await eventually("healthy", () => check.status === "healthy");
  await Deno.writeTextFile(`${dir}/fail`, "");
  await eventually("two failures", () => failNext >= 2);
  await Deno.remove(`${dir}/fail`);
  await new Promise((resolve) => setTimeout(resolve, 100));
  await check.stop();
  assert.deepEqual(changes, ["healthy"]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a registry with a health check registers unhealthy and follows the check", async () => {
  const dir = await Deno.makeTempDir();
  const flag = `${dir}/healthy`;
  const driver = new MemoryDriver();
  await using registry = new Registry({
    driver,
    service: "api",
    env: "health",
    heartbeatInterval: 100,
    ttl: 400,
    health: { command: ["sh", "-c", `test -f ${flag}`], ...FAST },
  });
  const me = await registry.start();
  assert.equal(me.status, "unhealthy");
  assert.deepEqual(await registry.instances("api"), []);
  await Deno.writeTextFile(flag, "");
  await eventually(
    "listed",
    async () => (await registry.instances("api")).length === 1,
  );
  await Deno.remove(flag);
  await eventually(
    "left out",
    async () => (await registry.instances("api")).length === 0,
  );
  assert.equal((await registry.allInstances("api"))[0]?.status, "unhealthy");
  await registry.stop();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a command check keeps the last KiB of what it printed, and says why it failed", async () => {
  const failing = new HealthCheck({
    command: [
      "sh",
      "-c",
      "echo starting; echo 'db: connection refused' >&2; exit 3",
    ],
    ...FAST,
  });
  const result = await failing.checkOnce();
  assert.equal(result.ok, false);
  assert.match(result.output ?? "", /starting/);
  assert.match(result.output ?? "", /db: connection refused/);
  assert.match(result.error ?? "", /exited with 3: db: connection refused$/);

  const chatty = new HealthCheck({
    command: [
      "sh",
      "-c",
      "i=0; while [ $i -lt 500 ]; do echo line-$i; i=$((i+1)); done",
    ],
    ...FAST,
  });
  const long = await chatty.checkOnce();
  assert.equal(long.ok, true);
  assert.ok((long.output ?? "").length <= 1024);
  assert.match(long.output ?? "", /line-499$/);

  // A background process that keeps the pipe open cannot stall the check.
  const lingering = new HealthCheck({
    command: ["sh", "-c", "sleep 2 & echo ok"],
    ...FAST,
    timeout: 1_000,
  });
  const started = Date.now();
  const quick = await lingering.checkOnce();
  assert.equal(quick.ok, true, quick.error ?? "");
  assert.equal(quick.output, "ok");
  assert.ok(Date.now() - started < 1_900, "it waited for the background sleep");
});

Deno.test("a check may warn: HTTP 429 and a command's warnExitCode turn the status to warning, which stays listed", async () => {
  let answer = 200;
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response("ok", { status: answer }),
  );
  const http = new HealthCheck({
    http: `http://127.0.0.1:${server.addr.port}/healthz`,
    ...FAST,
  });
  const changes: string[] = [];
  http.on("change", ({ status, error }) => changes.push(`${status} ${error}`));
  http.start();
  await eventually("healthy", () => http.status === "healthy");
  answer = 429;
  await eventually("warning", () => http.status === "warning");
  answer = 500;
  await eventually("unhealthy", () => http.status === "unhealthy");
  await http.stop();
  assert.deepEqual(changes.map((c) => c.replace(/http\S+/, "URL")), [
    "healthy undefined",
    "warning URL answered 429",
    "unhealthy URL answered 500",
  ]);

  const dir = await Deno.makeTempDir();
  const code = `${dir}/code`;
  await Deno.writeTextFile(code, "1");
  const driver = new MemoryDriver();
  await using registry = new Registry({
    driver,
    service: "api",
    env: "health-warning",
    heartbeatInterval: 100,
    ttl: 400,
    health: {
      command: ["sh", "-c", `echo degraded; exit $(cat ${code})`],
      warnExitCode: 1,
      ...FAST,
    },
  });
  await registry.start();
  await eventually(
    "listed as warning",
    async () => (await registry.instances("api"))[0]?.status === "warning",
  );
  await Deno.writeTextFile(code, "2");
  await eventually(
    "left out once it fails",
    async () => (await registry.instances("api")).length === 0,
  );
  await Deno.writeTextFile(code, "0");
  await eventually(
    "healthy again",
    async () => (await registry.instances("api"))[0]?.status === "healthy",
  );
  await registry.stop();
  await Deno.remove(dir, { recursive: true });
});
