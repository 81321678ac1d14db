/**
 * `deno task bench` (quick, about two minutes) and `deno task bench:full`:
 * roster's speed and cost on a redis-server this starts itself on loopback,
 * beside Moleculer 0.15 with its Redis discoverer, in the same run. Prints
 * a report and writes bench/results/latest.{json,md}.
 */

import { RedisDriver } from "../drivers/redis/mod.ts";
import { Registry } from "../registry.ts";
import { freePort, RedisServer } from "../tests/_redis_server.ts";
import { type Lines, residentBytes, sleep, spawnLines } from "./_process.ts";
import { driverTable, machineLine, saveReport } from "./_report.ts";
import { measureDriver, quantile } from "./driver_figures.ts";
import {
  type FleetSystem,
  INTERVAL_S,
  measureFleet,
  TTL_S,
} from "./fleet_figures.ts";

const full = Deno.args.includes("--full");
const quick = !full;
const MEMBERS = 20;
const DEPARTURES = quick ? 4 : 8;
const WINDOW_MS = quick ? 3_000 : 10_000;
const RUNNER = new URL("../runner/main.ts", import.meta.url).pathname;
const PEER = new URL("./peer/", import.meta.url).pathname;

async function ensurePeer(): Promise<void> {
  try {
    await Deno.stat(`${PEER}node_modules/moleculer`);
  } catch {
    console.error("bench: installing the peer (npm ci in bench/peer)");
    const { success } = await new Deno.Command("npm", {
      args: ["ci", "--no-audit", "--no-fund"],
      cwd: PEER,
      stdout: "null",
      stderr: "inherit",
    }).output();
    if (!success) throw new Error("npm ci in bench/peer failed");
  }
}

await ensurePeer();
await using redis = await RedisServer.start();
const admin = await redis.admin();
const redisVersion =
  (await admin.info("server")).match(/redis_version:(\S+)/)?.[1] ?? "?";
const natsPort = freePort();
const nats = new Deno.Command("/usr/sbin/nats-server", {
  args: ["-a", "127.0.0.1", "-p", String(natsPort)],
  stdout: "null",
  stderr: "null",
}).spawn();
await sleep(300);

const started = Date.now();
console.error("bench: driver figures");
const driver = await measureDriver(redis, {
  quick,
  sizes: quick ? [1_000, 10_000] : [1_000, 10_000, 50_000],
  listSizes: quick ? [] : [100_000],
});

const configFile = await Deno.makeTempFile({ suffix: ".toml" });
await Deno.writeTextFile(
  configFile,
  `[cluster]
driver = "redis"
service = "bench"
heartbeat_interval = ${INTERVAL_S}
ttl = ${TTL_S}
[cluster.redis]
url = "${redis.url}"
`,
);

const rosterDriver = await RedisDriver.connect({ url: redis.url });
const cached = new Registry({
  driver: rosterDriver,
  env: "default",
  cache: true,
});
const roster: FleetSystem = {
  name: "roster",
  async startMember(id) {
    const process = spawnLines(Deno.execPath(), [
      "run",
      "-A",
      "--quiet",
      RUNNER,
      "--config",
      configFile,
      "--log-level",
      "error",
    ], { env: { ROSTER_ID: id } });
    const line = await process.waitFor(/^roster: registered/);
    return { process, upAt: line.at };
  },
  async startWatcher() {
    const process = spawnLines(Deno.execPath(), [
      "run",
      "-A",
      "--quiet",
      RUNNER,
      "watch",
      "--config",
      configFile,
      "--json",
      "--log-level",
      "error",
    ]);
    await process.waitFor(/"type":"join"/);
    return process;
  },
  parseEvent(text) {
    if (!text.startsWith("{")) return undefined;
    const event = JSON.parse(text);
    return {
      type: event.type === "leave" ? "leave" : "join",
      id: event.instance.id,
      at: Date.parse(event.at),
      since: event.instance.registeredAt,
    };
  },
  async listOnce() {
    const start = performance.now();
    await rosterDriver.list({ env: "default" });
    return performance.now() - start;
  },
};
const peer: FleetSystem = {
  name: "moleculer",
  async startMember(id) {
    const process = spawnLines("node", [
      "moleculer_node.mjs",
      id,
      redis.url,
      `nats://127.0.0.1:${natsPort}`,
      String(INTERVAL_S),
      String(TTL_S),
    ], { cwd: PEER });
    const line = await process.waitFor(/"type":"started"/);
    return { process, upAt: JSON.parse(line.text).at };
  },
  async startWatcher() {
    const process = spawnLines("node", [
      "moleculer_node.mjs",
      "watcher",
      redis.url,
      `nats://127.0.0.1:${natsPort}`,
      String(INTERVAL_S),
      String(TTL_S),
      "watch",
    ], { cwd: PEER });
    await process.waitFor(/"type":"started"/);
    return process;
  },
  parseEvent(text) {
    if (!text.startsWith("{")) return undefined;
    const event = JSON.parse(text);
    return event.type === "join" || event.type === "leave" ? event : undefined;
  },
  async listOnce(watcher: Lines) {
    const count = watcher.lines.length;
    await watcher.write("list\n");
    const deadline = Date.now() + 5_000;
    while (Date.now() < deadline) {
      const line = watcher.lines.slice(count).find((l) =>
        l.text.includes('"type":"list"')
      );
      if (line) return JSON.parse(line.text).ms;
      await sleep(2);
    }
    return NaN;
  },
};

console.error("bench: runner footprint");
const startups: number[] = [];
const rss: number[] = [];
for (let i = 0; i < (quick ? 3 : 7); i++) {
  const begin = Date.now();
  const { process, upAt } = await roster.startMember(`footprint-${i}`);
  startups.push(upAt - begin);
  await sleep(2_000);
  rss.push(await residentBytes(process.child.pid));
  process.child.kill("SIGTERM");
  await process.status;
}

console.error("bench: roster fleet");
const rosterFleet = await measureFleet(roster, admin, {
  members: MEMBERS,
  departures: DEPARTURES,
  windowMs: WINDOW_MS,
  heartbeatsOf: (mix) => mix.get("evalsha") ?? NaN,
});
await admin.flushall();
await cached.instances();
const cachedList: number[] = [];
for (let i = 0; i < 200; i++) {
  const start = performance.now();
  await cached.instances();
  cachedList.push(performance.now() - start);
}
await cached.stop();
await rosterDriver.close();

console.error("bench: moleculer fleet");
const peerFleet = await measureFleet(peer, admin, {
  members: MEMBERS,
  departures: DEPARTURES,
  windowMs: WINDOW_MS,
  // Each Moleculer heartbeat writes the node's BEAT key with SETEX.
  heartbeatsOf: (mix) => mix.get("setex") ?? NaN,
});
nats.kill("SIGTERM");
await nats.status;
await Deno.remove(configFile);

const fmt = (n: number | undefined, digits = 0) =>
  n === undefined || Number.isNaN(n) ? "-" : n.toLocaleString("en", {
    maximumFractionDigits: digits,
    minimumFractionDigits: digits,
  });
const ratio = (ours: number, theirs: number, lowerIsBetter = true) => {
  if (!Number.isFinite(ours) || !Number.isFinite(theirs) || ours === 0) {
    return "-";
  }
  const r = lowerIsBetter ? theirs / ours : ours / theirs;
  return `${r.toFixed(2)}×`;
};
const ten = driver.sizes[10_000]!;
const goals: [string, string, string, boolean][] = [
  [
    "heartbeat throughput ≥ 0.7 × EVALSHA limit",
    "≥ 0.70",
    fmt(ten.ratioToEvalshaLimit, 2),
    (ten.ratioToEvalshaLimit ?? 0) >= 0.7,
  ],
  [
    "Redis commands per heartbeat",
    "1",
    fmt(rosterFleet.commandsPerHeartbeat, 2),
    Math.abs(rosterFleet.commandsPerHeartbeat - 1) < 0.01,
  ],
  [
    "list 10k, direct, p99",
    "< 15 ms",
    `${fmt(ten.listAllMs?.p99, 1)} ms`,
    (ten.listAllMs?.p99 ?? Infinity) < 15,
  ],
  [
    "list 10k, cached, p99",
    "< 0.1 ms",
    `${fmt(ten.cachedListMs?.p99, 3)} ms`,
    (ten.cachedListMs?.p99 ?? Infinity) < 0.1,
  ],
  [
    "graceful leave seen, p99",
    "≤ 50 ms",
    `${fmt(rosterFleet.leaveSeenMs.p99)} ms`,
    rosterFleet.leaveSeenMs.p99 <= 50,
  ],
  [
    "crash seen, p99",
    `≤ ttl + 1 s (${TTL_S + 1} s)`,
    `${fmt(rosterFleet.crashSeenMs.p99)} ms`,
    rosterFleet.crashSeenMs.p99 <= (TTL_S + 1) * 1000,
  ],
  [
    "Redis memory per instance, before meta",
    "≤ 300 B",
    `${fmt(ten.keyMemoryPerInstance)} B (keys), ${
      fmt(ten.usedMemoryPerInstance)
    } B (used_memory)`,
    (ten.usedMemoryPerInstance ?? Infinity) <= 300,
  ],
];
const sideBySide: [string, number, number, boolean][] = [
  [
    "Redis commands per heartbeat",
    rosterFleet.commandsPerHeartbeat,
    peerFleet.commandsPerHeartbeat,
    true,
  ],
  [
    "Redis µs per heartbeat",
    rosterFleet.redisUsecPerHeartbeat,
    peerFleet.redisUsecPerHeartbeat,
    true,
  ],
  [
    "bytes on the wire per heartbeat",
    rosterFleet.bytesPerHeartbeat,
    peerFleet.bytesPerHeartbeat,
    true,
  ],
  [
    "Redis dataset memory per instance, B",
    rosterFleet.memoryPerInstance,
    peerFleet.memoryPerInstance,
    true,
  ],
  [
    "join seen, p50 ms",
    rosterFleet.joinSeenMs.p50,
    peerFleet.joinSeenMs.p50,
    true,
  ],
  [
    "join seen, p99 ms",
    rosterFleet.joinSeenMs.p99,
    peerFleet.joinSeenMs.p99,
    true,
  ],
  [
    "graceful leave seen, p50 ms",
    rosterFleet.leaveSeenMs.p50,
    peerFleet.leaveSeenMs.p50,
    true,
  ],
  [
    "graceful leave seen, p99 ms",
    rosterFleet.leaveSeenMs.p99,
    peerFleet.leaveSeenMs.p99,
    true,
  ],
  [
    "crash seen, p50 ms",
    rosterFleet.crashSeenMs.p50,
    peerFleet.crashSeenMs.p50,
    true,
  ],
  [
    "crash seen, p99 ms",
    rosterFleet.crashSeenMs.p99,
    peerFleet.crashSeenMs.p99,
    true,
  ],
  [
    "list the fleet, p50 ms (roster: direct from Redis)",
    rosterFleet.listMs.p50,
    peerFleet.listMs.p50,
    true,
  ],
  [
    "list the fleet, p50 ms (roster: cached view)",
    quantile(cachedList, 0.5),
    peerFleet.listMs.p50,
    true,
  ],
];
const report = `# roster benchmark

${machineLine(quick, redisVersion)}
Took ${
  Math.round((Date.now() - started) / 1000)
} s. Heartbeat interval ${INTERVAL_S} s and ttl/timeout ${TTL_S} s for both systems; ${MEMBERS} processes each; ${DEPARTURES} clean leaves, ${DEPARTURES} crashes and ${DEPARTURES} joins timed.

## Goals

| goal | target | measured | met |
| --- | --- | --- | --- |
${
  goals.map(([name, target, measured, met]) =>
    `| ${name} | ${target} | ${measured} | ${met ? "yes" : "**no**"} |`
  ).join("\n")
}

## Driver, in one process

EVALSHA limit (\`redis-benchmark\`, same script): **${
  fmt(driver.evalshaLimit.median)
}/s** median.

${driverTable(driver)}

## Side by side with Moleculer 0.15 (Redis discoverer, NATS transporter, Node.js ${await nodeVersion()})

| measure | roster | Moleculer | roster ahead by |
| --- | --- | --- | --- |
${
  sideBySide.map(([name, ours, theirs]) =>
    `| ${name} | ${fmt(ours, ours < 10 ? 2 : 0)} | ${
      fmt(theirs, theirs < 10 ? 2 : 0)
    } | ${ratio(ours, theirs)} |`
  ).join("\n")
}

Client commands in a ${WINDOW_MS / 1000} s window: roster ${
  JSON.stringify(rosterFleet.commandMix)
}; Moleculer ${JSON.stringify(peerFleet.commandMix)}.

## Runner footprint

Start-up until registered: p50 ${fmt(quantile(startups, 0.5))} ms, p99 ${
  fmt(quantile(startups, 0.99))
} ms. Resident memory idle: ${
  fmt(quantile(rss, 0.5) / 1048576, 1)
} MiB (median of ${rss.length}).
`;
console.log(report);
const results = {
  date: new Date().toISOString(),
  mode: quick ? "quick" : "full",
  redis: redisVersion,
  driver,
  roster: rosterFleet,
  moleculer: peerFleet,
  cachedListMs: {
    p50: quantile(cachedList, 0.5),
    p99: quantile(cachedList, 0.99),
  },
  footprint: { startupMs: startups, rssBytes: rss },
  goals,
};
await saveReport("latest", results, report);

async function nodeVersion(): Promise<string> {
  const { stdout } = await new Deno.Command("node", {
    args: ["--version"],
    stdout: "piped",
  }).output();
  return new TextDecoder().decode(stdout).trim();
}
