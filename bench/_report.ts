/** Shared pieces of the benchmark reports. */

import type { DriverFigures } from "./driver_figures.ts";

/** A figure for a report: grouped digits, `-` when there is none. */
export function round(n: number | undefined, digits = 0): string {
  return n === undefined || Number.isNaN(n) ? "-" : n.toLocaleString("en", {
    maximumFractionDigits: digits,
    minimumFractionDigits: digits,
  });
}

/** Where and how the figures were taken. */
export function machineLine(quick: boolean, redis: string): string {
  return `${new Date().toISOString()} · ${
    quick ? "quick" : "full"
  } mode · Redis ${redis} · Deno ${Deno.version.deno} · ${navigator.hardwareConcurrency} CPUs (${Deno.build.os}/${Deno.build.arch}), client and server on one machine.`;
}

/** The driver figures as a Markdown table, one row per size. */
export function driverTable(figures: DriverFigures): string {
  const rows = Object.entries(figures.sizes).map(([size, f]) =>
    `| ${Number(size).toLocaleString("en")} | ${
      round(f.heartbeatsPerSecond?.median)
    } | ${round(f.ratioToEvalshaLimit, 2)} | ${
      round(f.evalshaPerHeartbeat, 2)
    } | ${round(f.redisUsecPerHeartbeat, 1)} | ${
      round(f.bytesInPerHeartbeat)
    } / ${round(f.bytesOutPerHeartbeat)} | ${
      round(f.usedMemoryPerInstance)
    } / ${round(f.usedMemoryAfterPassPerInstance)} (${
      round(f.keyMemoryPerInstance)
    }) | ${round(f.listAllMs?.p50, 2)} / ${round(f.listAllMs?.p99, 2)} | ${
      round(f.listOneServiceMs?.p50, 2)
    } / ${round(f.listOneServiceMs?.p99, 2)} | ${
      round(f.cachedListMs?.p50, 3)
    } / ${round(f.cachedListMs?.p99, 3)} |`
  );
  return `| instances | heartbeats/s (median) | × EVALSHA limit | Redis commands per heartbeat | Redis µs per heartbeat | bytes in / out per heartbeat | Redis memory per instance, B: used_memory after registering / after a purge pass (MEMORY USAGE) | list all, ms p50 / p99 | list one service (1/10), ms p50 / p99 | cached list, ms p50 / p99 |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
${rows.join("\n")}`;
}

/** Writes a report and its figures to bench/results/<name>.{md,json}. */
export async function saveReport(
  name: string,
  figures: unknown,
  report: string,
): Promise<void> {
  const dir = new URL("./results/", import.meta.url);
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(
    new URL(`${name}.json`, dir),
    JSON.stringify(figures, null, 2) + "\n",
  );
  await Deno.writeTextFile(new URL(`${name}.md`, dir), report);
}
