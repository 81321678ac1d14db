/**
 * One node of a robustness run as a process of its own, so the harness can
 * pause it (SIGSTOP) and kill it (SIGKILL) for real. It reads its spec and
 * its engine's connection from its arguments, reports JSON lines on stdout,
 * writes fenced terms over HTTP, and takes `status S`, `drain`, `stop` and
 * `state` on stdin.
 *
 * @module
 */

import { createInterface } from "node:readline";
import process from "node:process";
import { connectEngineDriver, type EngineConnection } from "./engine.ts";
import { type NodeSpec, startNode } from "./node_program.ts";
import type { HealthStatus } from "../../instance.ts";

const spec = JSON.parse(Deno.args[0]!) as NodeSpec;
const connection = JSON.parse(
  Deno.args[1] ?? "{}",
) as EngineConnection & { fenceUrl: string };

function report(line: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(line) + "\n");
}

const driver = await connectEngineDriver(connection);
const control = await startNode(spec, driver, {
  report,
  async fence(write) {
    const response = await fetch(connection.fenceUrl, {
      method: "POST",
      body: JSON.stringify(write),
    });
    await response.body?.cancel();
  },
  connect: () => connectEngineDriver(connection),
});
report({ t: Date.now(), node: spec.name, kind: "ready" });

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  const [command, argument] = line.trim().split(" ");
  if (command === "status") control.setStatus(argument as HealthStatus);
  else if (command === "state") {
    report({
      t: Date.now(),
      node: spec.name,
      kind: "state",
      state: control.state(),
    });
  } else if (command === "drain" || command === "stop") {
    await (command === "drain" ? control.drain() : control.stop());
    await driver.close();
    report({ t: Date.now(), node: spec.name, kind: "exited" });
    process.exit(0);
  }
}
