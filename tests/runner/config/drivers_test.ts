import assert from "node:assert/strict";
import {
  DRIVER_CONFIGS,
  DRIVER_NAMES,
  driverConfig,
} from "../../../runner/config/drivers.ts";

Deno.test("the driver table: memory first (the default), each name once, found by name", () => {
  assert.deepEqual(DRIVER_NAMES, ["memory", "redis", "postgres", "etcd"]);
  assert.equal(new Set(DRIVER_NAMES).size, DRIVER_CONFIGS.length);
  for (const name of DRIVER_NAMES) assert.equal(driverConfig(name)?.name, name);
  assert.equal(driverConfig("consul"), undefined);
});
