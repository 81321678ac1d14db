/**
 * `deno task bench:pickers`: what one pick costs over 100 instances, with
 * every instance taking work and with a tenth draining and a tenth in
 * warning (the pickers skip or down-weight them). Compare within one run.
 */

import {
  type Instance,
  type InstanceStatus,
  RandomPicker,
  RoundRobinPicker,
  WeightedPicker,
  ZoneAwarePicker,
} from "../mod.ts";

function fleet(statusOf: (i: number) => InstanceStatus): Instance[] {
  return Array.from({ length: 100 }, (_, i) => ({
    id: `api-${i}`,
    service: "api",
    env: "default",
    version: "1.0.0",
    addr: `http://10.0.0.${i}:8080`,
    meta: { zone: i % 3 === 0 ? "eu" : "us" },
    hostname: `h${i}`,
    pid: i,
    status: statusOf(i),
    seq: i + 1,
    registeredAt: 0,
    heartbeatAt: 0,
    expiresAt: 1,
    heartbeatInterval: 1000,
    weight: 100 + (i % 5) * 50,
  }));
}

const healthy = fleet(() => "healthy");
const mixed = fleet((i) =>
  i % 10 === 0 ? "draining" : i % 10 === 1 ? "warning" : "healthy"
);

for (
  const [name, make] of [
    ["RoundRobinPicker", () => new RoundRobinPicker()],
    ["RandomPicker", () => new RandomPicker()],
    ["WeightedPicker", () => new WeightedPicker()],
    ["ZoneAwarePicker", () => new ZoneAwarePicker({ zone: "eu" })],
  ] as const
) {
  for (
    const [set, instances] of [["all take work", healthy], [
      "10% draining, 10% warning",
      mixed,
    ]] as const
  ) {
    const picker = make();
    Deno.bench({
      name: `${name}: 100 instances, ${set}`,
      group: name,
      baseline: instances === healthy,
      fn: () => {
        picker.pick(instances);
      },
    });
  }
}
