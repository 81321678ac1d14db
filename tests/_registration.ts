import type { Driver, Registration } from "../contract/driver.ts";
import type { Registry } from "../mod.ts";

/** A registration for tests that talk to a driver directly: a fresh owner each time. */
export function registration(
  overrides: Partial<Registration> = {},
): Registration {
  return {
    id: "api-1",
    service: "api",
    env: "default",
    version: "",
    addr: "",
    meta: {},
    hostname: "h",
    pid: 1,
    owner: crypto.randomUUID(),
    status: "healthy",
    ttl: 3000,
    heartbeatInterval: 1000,
    ...overrides,
  };
}

/** Registers many, 200 at a time; returns each id's seq. */
export async function registerAll(
  driver: Driver,
  registrations: Registration[],
): Promise<Map<string, number>> {
  const seqs = new Map<string, number>();
  for (let i = 0; i < registrations.length; i += 200) {
    const batch = registrations.slice(i, i + 200);
    const instances = await Promise.all(batch.map((r) => driver.register(r)));
    for (const instance of instances) seqs.set(instance.id, instance.seq);
  }
  return seqs;
}

/**
 * Starts a registry that a test's setup needs, trying again (with a new
 * registry) when a start fails: the short command timeouts that fault tests
 * use can fail a start on a loaded machine, as a process would start again.
 * The fleet is the setup, not what such a test checks.
 *
 * @param make Makes the registry to start.
 * @param attempts How many starts to try.
 * @param waitMs How long to wait before trying again: a start that timed
 *   out on the client may have landed, and its entry (another owner's, to
 *   the next try) lives until its ttl unless the failed start's cleanup
 *   removes it first, so pass at least the ttl where that can happen.
 * @returns The started registry.
 */
export async function startForSetup(
  make: () => Registry,
  attempts = 3,
  waitMs = 100,
): Promise<Registry> {
  for (let attempt = 1;; attempt++) {
    const registry = make();
    try {
      await registry.start();
      return registry;
    } catch (error) {
      await registry.stop();
      if (attempt >= attempts) throw error;
      await new Promise((resolve) => setTimeout(resolve, waitMs));
    }
  }
}

/**
 * Starts a registry on a driver of the test's own for its setup, as
 * {@linkcode startForSetup} does; when no start succeeds the driver is
 * closed before the error is thrown, so a failed setup leaves no
 * connection or timer behind for the next test to be blamed for.
 *
 * @param driver The driver, which the caller closes once the registry stops.
 * @param make Makes the registry to start on it.
 * @param waitMs How long to wait before trying again (at least the ttl).
 * @returns The started registry.
 */
export async function startOnDriverForSetup(
  driver: { close(): Promise<void> },
  make: () => Registry,
  waitMs: number,
): Promise<Registry> {
  try {
    return await startForSetup(make, 3, waitMs);
  } catch (error) {
    await driver.close();
    throw error;
  }
}
