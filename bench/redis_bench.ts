/**
 * `deno task bench:redis`: what the Redis driver costs, on a redis-server it
 * starts itself on a free loopback port. Prints a Markdown report and writes
 * it, with the raw figures, to bench/results/redis.{md,json}.
 */

import { RedisServer } from "../tests/_redis_server.ts";
import {
  CONNECTIONS,
  IN_FLIGHT_PER_CONNECTION,
  measureDriver,
} from "./driver_figures.ts";
import { driverTable, machineLine, saveReport } from "./_report.ts";

const quick = Deno.args.includes("--quick");
await using server = await RedisServer.start();
const redis =
  (await (await server.admin()).info("server")).match(/redis_version:(\S+)/)
    ?.[1] ?? "?";
const figures = await measureDriver(server, { quick, sizes: [1_000, 10_000] });
const report = `# Redis driver benchmark

${machineLine(quick, redis)}
Heartbeats through the driver use ${CONNECTIONS} connections × ${IN_FLIGHT_PER_CONNECTION} in flight; the limit is
\`redis-benchmark\` running the same upsert script with \`EVALSHA\` (${CONNECTIONS} clients, pipeline ${IN_FLIGHT_PER_CONNECTION}):
**${Math.round(figures.evalshaLimit.median).toLocaleString("en")}/s** (median).

${driverTable(figures)}
`;
console.log(report);
await saveReport("redis", figures, report);
