/**
 * How `list` prints instances: an aligned table for people, JSON for scripts.
 *
 * @module
 */

import { formatDuration, type Instance } from "../mod.ts";

/**
 * Renders instances as an aligned text table.
 *
 * @param instances The instances, in the order to print.
 * @param now The time to measure age and last heartbeat from, in ms.
 * @returns The table, ending in a newline.
 */
export function formatInstanceTable(
  instances: readonly Instance[],
  now: number,
): string {
  const ago = (at: number) =>
    `${formatDuration(Math.max(0, now - at) || 0)} ago`;
  const rows = [
    ["ID", "SERVICE", "STATUS", "VERSION", "ADDR", "AGE", "LAST HEARTBEAT"],
    ...instances.map((i) => [
      i.id,
      i.service,
      i.status,
      i.version || "-",
      i.addr || "-",
      formatDuration(Math.max(0, now - i.registeredAt)).replace(/^0ms$/, "0s"),
      ago(i.heartbeatAt),
    ]),
  ];
  const widths = rows[0]!.map((_, column) =>
    Math.max(...rows.map((row) => row[column]!.length))
  );
  return rows.map((row) =>
    row.map((cell, column) => cell.padEnd(widths[column]!)).join("  ").trimEnd()
  ).join("\n") + "\n";
}
