import assert from "node:assert/strict";
import { type Instance, ZoneAwarePicker } from "../../mod.ts";

function at(
  id: string,
  seq: number,
  zone: string,
  status: "healthy" | "unhealthy" = "healthy",
): Instance {
  return {
    id,
    seq,
    weight: 100,
    status,
    meta: { zone },
  } as unknown as Instance;
}

const ids = (picker: ZoneAwarePicker, set: Instance[], n: number) =>
  [...new Set(Array.from({ length: n }, () => picker.pick(set)?.id))].sort();

Deno.test("the caller's zone is preferred while it has enough healthy instances", () => {
  const picker = new ZoneAwarePicker({ zone: "eu", minInstances: 2 });
  const set = [at("eu-1", 1, "eu"), at("eu-2", 2, "eu"), at("us-1", 3, "us")];
  assert.deepEqual(ids(picker, set, 20), ["eu-1", "eu-2"]);
});

Deno.test("too few healthy in the zone, by count or by share: every zone takes part, and the zone is back once it recovers", () => {
  const byCount = new ZoneAwarePicker({ zone: "eu", minInstances: 2 });
  const thin = [at("eu-1", 1, "eu"), at("us-1", 3, "us"), at("us-2", 4, "us")];
  assert.deepEqual(ids(byCount, thin, 30), ["eu-1", "us-1", "us-2"]);

  const byShare = new ZoneAwarePicker({ zone: "eu", minHealthyFraction: 0.5 });
  const sick = [
    at("eu-1", 1, "eu"),
    at("eu-2", 2, "eu", "unhealthy"),
    at("eu-3", 3, "eu", "unhealthy"),
    at("us-1", 4, "us"),
  ];
  assert.deepEqual(ids(byShare, sick, 30), ["eu-1", "us-1"]);
  const recovered = sick.map((i) => ({ ...i, status: "healthy" as const }));
  assert.deepEqual(ids(byShare, recovered, 30), ["eu-1", "eu-2", "eu-3"]);
});

Deno.test("an unhealthy instance is never picked, and an empty set picks nothing", () => {
  const picker = new ZoneAwarePicker({ zone: "eu" });
  assert.equal(picker.pick([at("eu-1", 1, "eu", "unhealthy")]), undefined);
  assert.equal(picker.pick([]), undefined);
  assert.deepEqual(
    ids(picker, [at("eu-1", 1, "eu", "unhealthy"), at("us-1", 2, "us")], 5),
    ["us-1"],
  );
});
