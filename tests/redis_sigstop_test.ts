import assert from "node:assert/strict";
import { RedisServer, redisTest, sleep } from "./_redis_server.ts";
import { RedisDriver } from "../drivers/redis/mod.ts";
import { eventually } from "./_discovery_suite.ts";

const FIXTURE =
  new URL("./fixtures/leader_process.ts", import.meta.url).pathname;

function start(url: string, id: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", FIXTURE, url, id],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const lines: string[] = [];
  const done = (async () => {
    for await (
      const chunk of child.stdout.pipeThrough(new TextDecoderStream())
    ) {
      lines.push(...chunk.split("\n").filter(Boolean));
    }
  })();
  return { child, lines, done };
}

redisTest(
  "a leader stopped with SIGSTOP past its ttl learns on SIGCONT that its lease was lost: new fencing number, steps down",
  async () => {
    await using server = await RedisServer.start();
    const a = start(server.url, "a");
    // a starts first, so it is the oldest and leads.
    await eventually(
      "a leads",
      () => a.lines.some((l) => l.startsWith("leading")),
      15_000,
    );
    const b = start(server.url, "b");
    try {
      await eventually(
        "b registered",
        () => b.lines.some((l) => l.startsWith("registered")),
        10_000,
      );
      const oldFencing = Number(
        a.lines.find((l) => l.startsWith("leading"))!.split("=")[1],
      );
      a.child.kill("SIGSTOP");
      await sleep(800 + 700); // past a's ttl
      await eventually(
        "b leads",
        () => b.lines.some((l) => l.startsWith("leading")),
        5_000,
      );
      const bFencing = Number(
        b.lines.find((l) => l.startsWith("leading"))!.split("=")[1],
      );
      assert.ok(bFencing > oldFencing);
      a.child.kill("SIGCONT");
      await eventually(
        "a steps down",
        () => a.lines.some((l) => l.startsWith("stepped down")),
        5_000,
      );
      await eventually(
        "a re-registers",
        () => a.lines.some((l) => l.startsWith("reregistered")),
        5_000,
      );
      const newSeq = Number(
        a.lines.find((l) => l.startsWith("reregistered"))!.split("=")[1],
      );
      assert.ok(
        newSeq > bFencing,
        "the returning process gets a new, higher number",
      );
      await sleep(500);
      assert.equal(
        a.lines.filter((l) => l.startsWith("leading")).length,
        1,
        "a does not lead again while b lives",
      );
      // Both are listed, a under its new number; b leads.
      const reader = await RedisDriver.connect({ url: server.url });
      try {
        const listed = await reader.list({ env: "default" });
        assert.deepEqual(listed.map((i) => `${i.id}:${i.seq}`), [
          `b:${bFencing}`,
          `a:${newSeq}`,
        ]);
      } finally {
        await reader.close();
      }
    } finally {
      for (const p of [a, b]) {
        p.child.kill("SIGTERM");
        await p.child.status;
        await p.done;
      }
    }
  },
);
