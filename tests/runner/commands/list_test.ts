import assert from "node:assert/strict";
import { runRunner, writeConfig } from "../../_runner_process.ts";

const CONFIG = `[cluster]
service = "api"
id = "api-e2e"
heartbeat_interval = "200ms"
ttl = "1s"
`;

Deno.test("list with the memory driver says only the current process is seen", async () => {
  const config = await writeConfig(CONFIG);
  const table = await runRunner(["list", "--config", config]);
  assert.equal(table.code, 0);
  assert.match(table.stderr, /memory driver lives inside one process/);
  assert.match(table.stdout, /no live instances/);
  const json = await runRunner([
    "list",
    "--config",
    config,
    "--service",
    "api",
    "--json",
  ]);
  assert.equal(json.code, 0);
  assert.deepEqual(JSON.parse(json.stdout), []);
  await Deno.remove(config);
});
