import assert from "node:assert/strict";
import { MemoryDriver } from "../../../drivers/memory/mod.ts";
import { type Instance, Registry } from "../../../mod.ts";
import {
  isLate,
  type StatusSnapshot,
  StatusView,
} from "../../../runner/http/status_view.ts";
import { eventually } from "../../discovery/_discovery_suite.ts";
import { registration } from "../../_registration.ts";
import { RunnerMetrics } from "../../../runner/http/metrics.ts";

Deno.test("an instance is late once its beat is 1.5 of its own intervals overdue", () => {
  const instance = { heartbeatAt: 1_000, heartbeatInterval: 200 } as Instance;
  assert.equal(isLate(instance, 1_300), false);
  assert.equal(isLate(instance, 1_301), true);
  assert.equal(
    isLate({ ...instance, heartbeatInterval: 0 }, 99_999),
    false,
    "an unknown interval never reads as late",
  );
});

Deno.test("the status view logs joins, leaves and leader changes, and keeps emptied services at 0", async () => {
  const driver = new MemoryDriver();
  const start = (id: string) =>
    new Registry({
      driver,
      service: "web",
      id,
      heartbeatInterval: 50,
      ttl: 300,
    });
  const reader = new Registry({ driver });
  const view = new StatusView(reader);
  view.start();
  const seen: StatusSnapshot[] = [];
  const unfollow = view.follow((snapshot) => seen.push(snapshot));
  const a = start("web-1");
  const b = start("web-2");
  try {
    await a.start();
    await b.start();
    await eventually(
      "two listed",
      () => view.snapshot().instances.length === 2,
    );
    await a.stop();
    await eventually(
      "a new leader",
      () =>
        view.snapshot().events.some((e) =>
          e.type === "leader" && e.id === "web-2"
        ),
    );
    await b.stop();
    await eventually(
      "web empty",
      () => view.snapshot().services.web?.live === 0,
    );
    const { events, services, leaders } = view.snapshot();
    assert.deepEqual(services, { web: { live: 0, healthy: 0 } });
    assert.deepEqual(leaders, {});
    const lines = events.map((e) => `${e.type} ${e.id} ${e.reason}`);
    for (
      const line of [
        "join web-1 registered",
        "join web-2 registered",
        "leave web-1 deregistered",
        "leader web-2 web-1",
        "leave web-2 deregistered",
        "leader  web-2",
      ]
    ) assert.ok(lines.includes(line), `${line} in ${lines.join(", ")}`);
    // Numbered in order; a follower's later snapshots carry only new events.
    assert.deepEqual(events.map((e) => e.n), events.map((_, i) => i + 1));
    const numbers = seen.flatMap((s) => s.events.map((e) => e.n));
    assert.deepEqual(numbers, [...new Set(numbers)].sort((x, y) => x - y));
  } finally {
    unfollow();
    view.close();
    await a.stop();
    await b.stop();
    await reader.stop();
  }
});

Deno.test("the status view shows eviction protection: the service, its bound, the held instances, and /metrics says so", async () => {
  const driver = new MemoryDriver();
  const reader = new Registry({ driver, env: "guard" });
  const view = new StatusView(reader);
  view.start();
  try {
    for (const id of ["a", "b", "c", "d"]) {
      await driver.register(
        registration({ id, env: "guard", ttl: 300, heartbeatInterval: 100 }),
      );
    }
    await eventually(
      "protection",
      () => Object.keys(view.snapshot().protection).length > 0,
    );
    const snapshot = await view.refresh();
    const { since, until } = snapshot.protection.api!;
    assert.ok(since <= until && until > Date.now());
    assert.deepEqual(
      snapshot.instances.filter((i) => i.held).map((i) => i.id).length,
      2,
    );
    assert.ok(
      snapshot.events.some((e) => e.type === "protection" && e.reason === "on"),
    );
    const metrics = new RunnerMetrics().render(snapshot.instances, {
      up: true,
      view: "live",
      ageSeconds: 0,
      protected: Object.keys(snapshot.protection),
    });
    assert.match(metrics, /^roster_protection\{service="api"\} 1$/m);
    // Held is not live: the counts, the leader and the metrics leave the
    // held out (the other two have lapsed and gone).
    const held = snapshot.instances.filter((i) => i.held).map((i) => i.id);
    assert.deepEqual(snapshot.services.api, { live: 0, healthy: 0 });
    assert.ok(
      !held.includes(snapshot.leaders.api ?? ""),
      `the leader ${snapshot.leaders.api} is not held`,
    );
    assert.match(
      metrics,
      /^roster_instances\{service="api",status="held"\} 2$/m,
    );
    assert.doesNotMatch(
      metrics,
      /^roster_instances\{service="api",status="healthy"\}/m,
    );
    await eventually(
      "protection over",
      () => Object.keys(view.snapshot().protection).length === 0,
      3_000,
    );
    assert.ok(
      view.snapshot().events.some((e) =>
        e.type === "protection" && e.reason === "bound passed"
      ),
    );
  } finally {
    view.close();
    await reader.stop();
  }
});
