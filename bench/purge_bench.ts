/**
 * `deno task bench:purge`: how long one roster script call blocks Redis,
 * measured by Redis itself (SLOWLOG with a 0 µs threshold), while a whole
 * fleet lapses at once and is purged, and while a live fleet is scanned,
 * listed and campaigned in. The target: no call over 5 ms, whatever the
 * fleet size, and a purge whose total work grows linearly with the fleet.
 *
 * Usage: `deno task bench:purge [--instances 50000] [--services 20]`.
 * Prints a table and saves bench/results/purge.{json,md}.
 */

import { parseArgs } from "node:util";
import type { Redis } from "ioredis";
import { RedisDriver } from "../drivers/redis/mod.ts";
import type { Registration } from "../contract/driver.ts";
import { RedisServer, sleep } from "../tests/_redis_server.ts";
import { createHash } from "node:crypto";
import * as scripts from "../drivers/redis/_scripts.ts";
import { machineLine } from "./_report.ts";

/** Each script's name by its SHA-1, as EVALSHA names it. */
const SCRIPT_NAMES = new Map(
  (Object.entries(scripts) as [string, unknown][])
    .filter((entry): entry is [string, string] =>
      typeof entry[1] === "string" && entry[1].startsWith("#!lua")
    )
    .map(([name, source]) => [
      createHash("sha1").update(source).digest("hex"),
      name,
    ]),
);

const { values } = parseArgs({
  args: Deno.args,
  options: {
    instances: { type: "string", default: "50000" },
    services: { type: "string", default: "20" },
  },
});
const INSTANCES = Number(values.instances);
const SERVICES = Number(values.services);
// Long enough that the live phases, SLOWLOG reads included, end before
// anything lapses.
const TTL_MS = 30_000;
const ENV = "bench";

/** SLOWLOG keeps the calls that took at least this long (µs). */
const SLOW_US = 500;

interface Phase {
  name: string;
  /** Script calls (`EVALSHA`, `EVAL` and their read-only forms). */
  calls: number;
  meanMs: number;
  totalMs: number;
  /** Calls that took SLOW_US or longer. */
  slowCalls: number;
  maxMs: number;
  /** The script of the longest call. */
  maxScript: string;
}

/**
 * What Redis spent on script calls since the last reset: counts and time
 * from INFO commandstats (a script's own commands are inside its time), the
 * longest calls from SLOWLOG, which holds only calls over SLOW_US, so that
 * logging the many short commands inside scripts adds no cost.
 */
async function measured(admin: Redis, name: string): Promise<Phase> {
  const stats = await admin.info("commandstats");
  let calls = 0, micros = 0;
  for (
    const [, , count, usec] of stats.matchAll(
      /cmdstat_(evalsha|eval|evalsha_ro|eval_ro):calls=(\d+),usec=(\d+)/g,
    )
  ) {
    calls += Number(count);
    micros += Number(usec);
  }
  const slow = (await admin.call("SLOWLOG", "GET", "-1") as [
    number,
    number,
    number,
    string[],
  ][]).filter(([, , , args]) => /^EVAL/i.test(args[0] ?? ""));
  let maxUs = 0, maxScript = "";
  for (const [, , us, args] of slow) {
    if (us > maxUs) {
      maxUs = us;
      maxScript = SCRIPT_NAMES.get(args[1] ?? "") ?? "EVAL (first load)";
    }
  }
  await reset(admin);
  return {
    name,
    calls,
    meanMs: calls ? micros / calls / 1000 : 0,
    totalMs: micros / 1000,
    slowCalls: slow.length,
    maxMs: maxUs / 1000,
    maxScript: maxScript || `under ${SLOW_US / 1000} ms`,
  };
}

async function reset(admin: Redis): Promise<void> {
  await admin.call("CONFIG", "RESETSTAT");
  await admin.call("SLOWLOG", "RESET");
}

function registrationOf(i: number): Registration {
  return {
    id: `i-${i}`,
    service: `svc-${i % SERVICES}`,
    env: ENV,
    version: "1.0.0",
    addr: `10.0.${(i >> 8) & 255}.${i & 255}:8080`,
    meta: {},
    hostname: "bench",
    pid: i,
    owner: `owner-${i}`,
    status: "healthy",
    ttl: TTL_MS,
    heartbeatInterval: 500,
  };
}

await using redis = await RedisServer.start([
  "--slowlog-log-slower-than",
  String(SLOW_US),
  "--slowlog-max-len",
  "1000000",
]);
const admin = await redis.admin();
const driver = await RedisDriver.connect({ url: redis.url });
const report: Phase[] = [];
try {
  const all = Array.from({ length: INSTANCES }, (_, i) => registrationOf(i));
  await reset(admin);
  const started = performance.now();
  for (let i = 0; i < all.length; i += 500) {
    await Promise.all(all.slice(i, i + 500).map((r) => driver.register(r)));
  }
  const registerSeconds = (performance.now() - started) / 1000;
  report.push(await measured(admin, "register"));

  // A live fleet: beat once, then scan when everything is due, list every
  // service, and campaign.
  for (let i = 0; i < all.length; i += 500) {
    await Promise.all(all.slice(i, i + 500).map((r) => driver.heartbeat(r)));
  }
  report.push(await measured(admin, "heartbeat"));
  for (let s = 0; s < SERVICES; s++) {
    await driver.list({ env: ENV, services: [`svc-${s}`] });
  }
  report.push(await measured(admin, "list a service"));
  // Every service due at once: the scans that find nothing to remove.
  for (let s = 0; s < SERVICES; s++) {
    await admin.hset(`roster:{${ENV}}:meta`, `d:svc-${s}`, "0");
  }
  await reset(admin);
  for (let calls = 0; calls < 10_000; calls++) {
    if (await driver.purge(ENV) > 100) break;
  }
  report.push(await measured(admin, "scan a live fleet"));
  // The eldest campaigns: no older instance stops it early, so it reads
  // every piece of its service's slots.
  await driver.campaign(all[0]!);
  report.push(await measured(admin, "campaign"));

  // One service's records lost: the purge flags its slots a piece per call,
  // then each instance writes its record again with its next beat.
  const meta = `roster:{${ENV}}:meta`;
  await admin.del(`roster:{${ENV}}:p:svc-0`);
  await admin.hset(meta, "d:svc-0", "0");
  await reset(admin);
  do await driver.purge(ENV); while (await admin.hexists(meta, "m:svc-0"));
  const svc0 = all.filter((r) => r.service === "svc-0");
  for (let i = 0; i < svc0.length; i += 500) {
    await Promise.all(svc0.slice(i, i + 500).map((r) => driver.heartbeat(r)));
  }
  report.push(await measured(admin, "records lost: flag, write again"));

  // The id index lost: a listing finds it short, and repairs it a piece per
  // call.
  await admin.del(`roster:{${ENV}}:ids`);
  await reset(admin);
  await driver.list({ env: ENV });
  while (Number(await admin.hlen(`roster:{${ENV}}:ids`)) < INSTANCES) {
    await sleep(20);
  }
  report.push(await measured(admin, "id index lost: repair"));

  // The whole fleet lapses at once: purge until nothing is left.
  await sleep(TTL_MS + 1_500);
  await reset(admin);
  const purgeStarted = performance.now();
  let left = INSTANCES;
  while (left > 0 && performance.now() - purgeStarted < 600_000) {
    const wait = await driver.purge(ENV);
    left = Number(await admin.hlen(`roster:{${ENV}}:ids`));
    if (left > 0) await sleep(Math.min(wait, 20));
  }
  const purgeSeconds = (performance.now() - purgeStarted) / 1000;
  report.push(await measured(admin, "purge a mass lapse"));

  const lines = [
    `# Purge and call cost, ${INSTANCES} instances over ${SERVICES} services`,
    "",
    machineLine(
      true,
      (await admin.info("server")).match(/redis_version:(\S+)/)?.[1] ?? "?",
    ),
    "",
    `Redis time of script calls, from INFO commandstats and SLOWLOG. Registering took ${
      registerSeconds.toFixed(1)
    } s; purging the lapsed fleet took ${purgeSeconds.toFixed(1)} s (${
      left === 0 ? "all removed" : `${left} left`
    }).`,
    "",
    "The longest call of a phase is wall time inside Redis, so on a shared machine it includes the moments the OS took Redis off its core: the heartbeat's fast path (three commands) shows what that alone adds.",
    "",
    `| phase | script calls | mean (ms) | calls ≥ ${
      SLOW_US / 1000
    } ms | longest (ms) | longest was | total (ms) |`,
    "|---|---:|---:|---:|---:|---|---:|",
    ...report.map((p) =>
      `| ${p.name} | ${p.calls} | ${p.meanMs.toFixed(3)} | ${p.slowCalls} | ${
        p.maxMs.toFixed(3)
      } | ${p.maxScript} | ${p.totalMs.toFixed(0)} |`
    ),
    "",
  ];
  console.log(lines.join("\n"));
  const dir = new URL("./results/", import.meta.url).pathname;
  await Deno.writeTextFile(`${dir}purge.md`, lines.join("\n"));
  await Deno.writeTextFile(
    `${dir}purge.json`,
    JSON.stringify(
      { instances: INSTANCES, services: SERVICES, phases: report },
      null,
      2,
    ),
  );
} finally {
  await driver.close();
}
