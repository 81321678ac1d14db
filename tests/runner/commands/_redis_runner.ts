/**
 * What the drain and maintenance command tests share: a runner config on a
 * test's Redis, and the statuses `roster list --all` shows.
 *
 * @module
 */

import assert from "node:assert/strict";
import { runRunner, writeConfig } from "../../_runner_process.ts";

/**
 * Writes a runner config for service `api` on Redis at `url`: instance
 * `id` (the default id when undefined), with `extra` lines of `[cluster]`.
 */
export function redisRunnerConfig(
  url: string,
  id?: string,
  extra = "",
): Promise<string> {
  return writeConfig(`[cluster]
driver = "redis"
service = "api"
${id === undefined ? "" : `id = "${id}"`}
heartbeat_interval = "200ms"
ttl = "1s"
${extra}
[cluster.redis]
url = "${url}"
`);
}

/** `[id, status]` of each instance `roster list --all` shows. */
export async function listedStatuses(file: string): Promise<string[][]> {
  const { code, stdout, stderr } = await runRunner([
    "list",
    "--config",
    file,
    "--all",
    "--json",
  ]);
  assert.equal(code, 0, stderr);
  return (JSON.parse(stdout) as { id: string; status: string }[]).map((
    i,
  ) => [i.id, i.status]);
}
