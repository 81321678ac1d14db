/**
 * The invariants a fault must leave intact, checked after it ends: every
 * live process listed, no dead one listed, no process crashed, and a
 * watcher's event stream, replayed, ending in the server's state.
 */

import assert from "node:assert/strict";
import type { Driver, Instance, Registry, WatchEvent } from "../mod.ts";

export async function assertInvariants(options: {
  driver: Driver;
  env?: string;
  live: readonly Registry[];
  dead?: readonly string[];
  events?: readonly WatchEvent[];
}): Promise<void> {
  const env = options.env ?? "default";
  const listed = await options.driver.list({ env });
  const ids = new Set(listed.map((i) => i.id));
  for (const registry of options.live) {
    assert.ok(ids.has(registry.id as string), `${registry.id} is listed`);
    assert.equal(registry.state, "running", `${registry.id} did not crash`);
  }
  for (const id of options.dead ?? []) {
    assert.ok(!ids.has(id), `dead ${id} is not listed`);
  }
  if (options.events) {
    const replayed = new Map<string, Instance>();
    for (const event of options.events) {
      if (event.type === "leave") replayed.delete(event.instance.id);
      else replayed.set(event.instance.id, event.instance);
    }
    assert.deepEqual(
      [...replayed.values()].map((i) => `${i.id}:${i.seq}:${i.status}`).sort(),
      listed.map((i) => `${i.id}:${i.seq}:${i.status}`).sort(),
      "the watcher's events replay to the server's state",
    );
  }
}
