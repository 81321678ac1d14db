/**
 * Choosing instances: by meta, by version, and not this process.
 *
 * @module
 */

import type { Instance } from "../instance.ts";

/** What to select instances by. Every criterion given must hold. */
export interface Selector {
  /** Exact matches on meta keys, all of them. */
  meta?: Readonly<Record<string, string>>;
  /** An exact version, or a test of the version. */
  version?: string | ((version: string) => boolean);
  /** Ids to leave out, such as this process's own. */
  exclude?: readonly string[];
}

/**
 * Filters instances by meta, version and id, keeping their order.
 *
 * @param instances The instances to filter.
 * @param selector What must hold.
 * @returns The instances that match.
 *
 * @example
 * ```ts
 * import { selectInstances, type Instance } from "@roster/roster";
 * import assert from "node:assert/strict";
 *
 * const base = { service: "api", env: "default", addr: "", hostname: "h", pid: 1, status: "healthy" as const, registeredAt: 0, heartbeatAt: 0, expiresAt: 1, heartbeatInterval: 0, weight: 100 };
 * const instances: Instance[] = [
 *   { ...base, id: "a", seq: 1, version: "1.0.0", meta: { zone: "eu", tier: "gold" } },
 *   { ...base, id: "b", seq: 2, version: "2.0.0", meta: { zone: "eu" } },
 *   { ...base, id: "c", seq: 3, version: "2.0.0", meta: { zone: "us" } },
 * ];
 * const picked = selectInstances(instances, { meta: { zone: "eu" }, version: (v) => v.startsWith("2."), exclude: ["a"] });
 * assert.deepEqual(picked.map((i) => i.id), ["b"]);
 * ```
 */
export function selectInstances(
  instances: readonly Instance[],
  selector: Selector,
): Instance[] {
  const meta = Object.entries(selector.meta ?? {});
  const { version } = selector;
  const exclude = new Set(selector.exclude ?? []);
  return instances.filter((instance) =>
    !exclude.has(instance.id) &&
    meta.every(([key, value]) => instance.meta[key] === value) &&
    (version === undefined ||
      (typeof version === "function"
        ? version(instance.version)
        : instance.version === version))
  );
}
