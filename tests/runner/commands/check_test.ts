import assert from "node:assert/strict";
import { runRunner, writeConfig } from "../../_runner_process.ts";

const CONFIG = `[cluster]
service = "api"
id = "api-e2e"
heartbeat_interval = "200ms"
ttl = "1s"
`;

Deno.test("check validates and exits 0", async () => {
  const config = await writeConfig(CONFIG);
  const { code, stdout } = await runRunner(["check", "--config", config]);
  assert.equal(code, 0);
  assert.match(
    stdout,
    /is valid \(service=api env=default driver=memory interval=200ms ttl=1s\)/,
  );
  await Deno.remove(config);
});
