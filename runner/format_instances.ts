/**
 * How `list`, `wait` and `watch` print instances for people: one aligned
 * table grouped by service, ages like `2m31s`, the status coloured on a
 * terminal, every value from the registry made safe to print.
 *
 * @module
 */

import type { Instance } from "../mod.ts";
import { paint, terminalSafe } from "./output.ts";
import { isLate } from "./http/status_view.ts";

/** How to print a table. */
export interface TableOptions {
  /** The time to measure ages from, in ms. */
  now: number;
  /** Add the META column (`-o wide`). */
  wide?: boolean;
  /** Colour the status. */
  color?: boolean;
}

/**
 * An age for people: `0s`, `45s`, `2m31s`, `3h4m`, `2d5h`.
 *
 * @param ms The age, in ms.
 * @returns The age, to the second.
 */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${Math.floor(s % 3600 / 60)}m`;
  return `${Math.floor(s / 86400)}d${Math.floor(s % 86400 / 3600)}h`;
}

/**
 * An instance's status for people: `healthy`, `unhealthy`, or `late` when
 * its beat is more than 1.5 of its intervals overdue.
 *
 * @param instance The instance.
 * @param now The time, in ms.
 * @returns The status.
 */
export function displayStatus(instance: Instance, now: number): string {
  return isLate(instance, now) ? "late" : instance.status;
}

/**
 * Renders instances as an aligned text table, grouped by service.
 *
 * @param instances The instances.
 * @param options The time, and whether wide and coloured.
 * @returns The table, ending in a newline.
 */
export function formatInstanceTable(
  instances: readonly Instance[],
  options: TableOptions,
): string {
  const { now, wide = false, color = false } = options;
  const sorted = [...instances].sort((a, b) =>
    a.service < b.service ? -1 : a.service > b.service ? 1 : a.seq - b.seq
  );
  const header = [
    "SERVICE",
    "ID",
    "STATUS",
    "AGE",
    "LAST BEAT",
    "VERSION",
    "ADDR",
    ...(wide ? ["META"] : []),
  ];
  const rows = sorted.map((i) =>
    [
      i.service,
      i.id,
      displayStatus(i, now),
      formatAge(now - i.registeredAt),
      `${formatAge(now - i.heartbeatAt)} ago`,
      i.version || "-",
      i.addr || "-",
      ...(wide
        ? [
          Object.entries(i.meta).map(([k, v]) => `${k}=${v}`).join(",") ||
          "-",
        ]
        : []),
    ].map(terminalSafe)
  );
  const widths = header.map((_, column) =>
    Math.max(...[header, ...rows].map((row) => row[column]!.length))
  );
  const statusColor = {
    healthy: "green",
    warning: "yellow",
    unhealthy: "red",
    draining: "yellow",
    maintenance: "yellow",
    late: "yellow",
  };
  const line = (row: string[], isHeader: boolean) =>
    row.map((cell, column) => {
      const padded = cell.padEnd(widths[column]!);
      if (isHeader) return paint(padded, "dim", { enabled: color });
      const tint = column === 2
        ? statusColor[cell as keyof typeof statusColor]
        : undefined;
      return tint ? paint(padded, tint as "green", { enabled: color }) : padded;
    }).join("  ").trimEnd();
  return [line(header, true), ...rows.map((row) => line(row, false))].join(
    "\n",
  ) + "\n";
}
