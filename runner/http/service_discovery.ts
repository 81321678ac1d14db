/**
 * Prometheus HTTP service discovery (`http_sd_configs`): the live instances
 * of the env as scrape targets, one target group each, with their service,
 * env, version, zone, status and meta as `__meta_roster_*` labels.
 *
 * The target is the host and port of the instance's `addr`. Meta keys
 * choose another endpoint on the same host: `metrics_port` (the port),
 * `metrics_path` (`__metrics_path__`) and `metrics_scheme` (`__scheme__`).
 * An instance without an `addr` that has a host is left out.
 *
 * @module
 */

import type { Instance } from "../../mod.ts";
import { parseInstanceAddress } from "../instance_address.ts";

/** One target group of Prometheus's HTTP service discovery format. */
export interface TargetGroup {
  /** `host:port` to scrape. */
  targets: string[];
  /** Labels of every target in the group. */
  labels: Record<string, string>;
}

/** The meta keys that choose the scrape endpoint; not repeated as labels. */
const ENDPOINT_KEYS = new Set([
  "metrics_port",
  "metrics_path",
  "metrics_scheme",
]);

/**
 * Renders instances as Prometheus target groups.
 *
 * @param instances The live instances, healthy or not: a scrape shows an
 *   unhealthy one's metrics too; relabel on `__meta_roster_status` to drop
 *   them.
 * @param options `stale`: whether the list is the last known one, read before the
 *   backend became unreachable: every group then says so in
 *   `__meta_roster_stale`, since Prometheus keeps the targets of an SD
 *   endpoint that answers, and drops them when it fails.
 * @returns One group for each instance that has a target.
 *
 * @example
 * ```ts
 * import { targetGroups } from "./service_discovery.ts";
 * import assert from "node:assert/strict";
 *
 * const [group] = targetGroups([{
 *   id: "api-1", service: "api", env: "prod", version: "1.4.0",
 *   addr: "http://10.0.0.7:8080/", meta: { zone: "eu-1", metrics_port: "9100" },
 *   status: "healthy", weight: 100, seq: 1, hostname: "h", pid: 1,
 *   registeredAt: 0, heartbeatAt: 0, expiresAt: 0, heartbeatInterval: 5_000,
 * }]);
 * assert.deepEqual(group?.targets, ["10.0.0.7:9100"]);
 * assert.equal(group?.labels.__meta_roster_zone, "eu-1");
 * ```
 */
export function targetGroups(
  instances: readonly Instance[],
  options: { stale?: boolean } = {},
): TargetGroup[] {
  const stale = options.stale ?? false;
  const groups: TargetGroup[] = [];
  for (const instance of instances) {
    const target = targetOf(instance);
    if (target === undefined) continue;
    const { meta } = instance;
    const labels: Record<string, string> = {
      __meta_roster_id: instance.id,
      __meta_roster_service: instance.service,
      __meta_roster_env: instance.env,
      __meta_roster_version: instance.version,
      __meta_roster_status: instance.status,
      __meta_roster_zone: meta.zone ?? "",
      __meta_roster_stale: String(stale),
    };
    for (const [key, value] of Object.entries(meta)) {
      if (key === "zone" || ENDPOINT_KEYS.has(key)) continue;
      labels[`__meta_roster_meta_${labelName(key)}`] = value;
    }
    if (meta.metrics_path) labels.__metrics_path__ = meta.metrics_path;
    if (meta.metrics_scheme) labels.__scheme__ = meta.metrics_scheme;
    groups.push({ targets: [target], labels });
  }
  return groups;
}

/** `host:port` from the instance's `addr` and its `metrics_port`. */
function targetOf(instance: Instance): string | undefined {
  const address = parseInstanceAddress(instance.addr);
  if (!address) return undefined;
  const port = /^\d{1,5}$/.test(instance.meta.metrics_port ?? "")
    ? instance.meta.metrics_port
    : address.port;
  const host = address.host.includes(":") ? `[${address.host}]` : address.host;
  return `${host}:${port}`;
}

/** A meta key as a label name: `[a-zA-Z0-9_]`, anything else `_`. */
function labelName(key: string): string {
  return key.replace(/[^a-zA-Z0-9_]/g, "_");
}
