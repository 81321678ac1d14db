import assert from "node:assert/strict";
import { EventEmitter } from "../_event_emitter.ts";
import { captureLogs } from "./_log_capture.ts";

interface Events {
  beat: { n: number };
  stop: undefined;
}

Deno.test("listeners get each event in the order they were added; off and the returned function remove one", () => {
  const emitter = new EventEmitter<Events>();
  const seen: string[] = [];
  const first = ({ n }: { n: number }) => seen.push(`first ${n}`);
  emitter.on("beat", first);
  const removeSecond = emitter.on("beat", ({ n }) => seen.push(`second ${n}`));
  emitter.on("stop", () => seen.push("stop"));
  emitter.emit("beat", { n: 1 });
  removeSecond();
  emitter.emit("beat", { n: 2 });
  emitter.off("beat", first);
  emitter.emit("beat", { n: 3 });
  emitter.emit("stop", undefined);
  assert.deepEqual(seen, ["first 1", "second 1", "first 2", "stop"]);
});

Deno.test("a listener that throws is logged and skipped; the others still run", async () => {
  const emitter = new EventEmitter<Events>();
  const seen: number[] = [];
  await using logs = await captureLogs();
  emitter.on("beat", () => {
    throw new Error("handler bug");
  });
  emitter.on("beat", ({ n }) => seen.push(n));
  emitter.emit("beat", { n: 7 });
  assert.deepEqual(seen, [7]);
  assert.ok(
    logs.messages().some((line) => line.includes("A 'beat' listener threw")),
  );
});

Deno.test("a listener that removes itself while an event is emitted does not stop the others", () => {
  const emitter = new EventEmitter<Events>();
  const seen: string[] = [];
  const off = emitter.on("beat", () => {
    seen.push("once");
    off();
  });
  emitter.on("beat", () => seen.push("always"));
  emitter.emit("beat", { n: 1 });
  emitter.emit("beat", { n: 2 });
  assert.deepEqual(seen, ["once", "always", "always"]);
});
