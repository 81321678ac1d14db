import type { Registration } from "../driver/driver.ts";

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
