import type { Driver, Registration } from "../contract/driver.ts";

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
