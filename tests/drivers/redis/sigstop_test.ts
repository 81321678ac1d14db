import assert from "node:assert/strict";
import { RedisServer, redisTest, sleep } from "../../_redis_server.ts";
import { RedisDriver } from "../../../drivers/redis/mod.ts";
import { eventually } from "../../discovery/_discovery_suite.ts";

const FIXTURE =
  new URL("../../fixtures/leader_process.ts", import.meta.url).pathname;

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

Deno.test(redisTest(
  "a leader stopped with SIGSTOP past its ttl does no leader work on SIGCONT, steps down, and its successor's term is higher",
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
      const number = (lines: string[], prefix: string) =>
        Number(lines.find((l) => l.startsWith(prefix))!.split("=")[1]);
      const aTerm = number(a.lines, "leading");
      const bSeq = number(b.lines, "registered");
      a.child.kill("SIGSTOP");
      const stoppedAt = Date.now();
      await sleep(800 + 700); // past a's ttl
      await eventually(
        "b leads",
        () => b.lines.some((l) => l.startsWith("leading")),
        5_000,
      );
      const bTerm = number(b.lines, "leading");
      assert.ok(bTerm > aTerm, "terms only rise");
      a.child.kill("SIGCONT");
      await eventually(
        "a steps down",
        () => a.lines.some((l) => l.startsWith("stepped down")),
        5_000,
      );
      // The zombie checked its lease before its next unit of work: no check
      // passed after the resume. (A line may still arrive after it, from a
      // check that passed before the stop: the stop can land between the
      // check and the print, as it can between a check and any side effect,
      // which is what terms are for.)
      const checked = a.lines.filter((l) => l.startsWith("work")).map((l) =>
        Number(l.split("at=")[1])
      );
      assert.ok(checked.length > 0, "a did leader work before the stop");
      assert.ok(
        checked.every((at) => at <= stoppedAt),
        `no leader work checked after the resume: ${
          checked.at(-1)
        } > ${stoppedAt}`,
      );
      await eventually(
        "a re-registers",
        () => a.lines.some((l) => l.startsWith("reregistered")),
        5_000,
      );
      const newSeq = number(a.lines, "reregistered");
      assert.ok(newSeq > bSeq, "the returning process gets a new, higher seq");
      await sleep(500);
      assert.equal(
        a.lines.filter((l) => l.startsWith("leading")).length,
        1,
        "a does not lead again while b lives",
      );
      // Both are listed, a under its new seq; b leads.
      const reader = await RedisDriver.connect({ url: server.url });
      try {
        const listed = await reader.list({ env: "default" });
        assert.deepEqual(listed.map((i) => `${i.id}:${i.seq}`), [
          `b:${bSeq}`,
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
));
