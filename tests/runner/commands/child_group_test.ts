/**
 * A sidecar's child runs in a process group of its own: a stop signal
 * reaches every process it started, and what ignores it is killed after
 * the kill timeout.
 */

import assert from "node:assert/strict";
import { startChildGroup } from "../../../runner/commands/child_group.ts";
import { eventually } from "../../discovery/_discovery_suite.ts";

function alive(pid: number): boolean {
  try {
    Deno.kill(pid, "SIGCONT");
    return true;
  } catch {
    return false;
  }
}

async function grandchild(path: string): Promise<number> {
  const text = await eventually("the grandchild's pid", async () => {
    const read = await Deno.readTextFile(path).catch(() => "");
    return read.trim() || undefined;
  });
  return Number(text);
}

Deno.test("a child group: SIGTERM reaches what the child started, and the exit code is 128 + the signal", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const child = await startChildGroup([
      "sh",
      "-c",
      `sleep 60 & echo $! > ${dir}/pid; wait`,
    ], 5_000);
    try {
      const pid = await grandchild(`${dir}/pid`);
      assert.ok(alive(pid));
      assert.equal(child.hasExited, false);
      assert.equal(await child.terminate("SIGTERM"), 128 + 15);
      assert.ok(child.hasExited);
      await eventually("the grandchild gone", () => !alive(pid));
    } finally {
      await child.release();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a child group: a grandchild that ignores SIGTERM is killed once the kill timeout passes", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const child = await startChildGroup([
      "sh",
      "-c",
      `sh -c 'trap "" TERM; echo $$ > ${dir}/pid; while :; do sleep 0.1; done' & exit 0`,
    ], 300);
    try {
      const pid = await grandchild(`${dir}/pid`);
      assert.equal(await child.exited, 0);
      // The child exited by itself; what it left running is stopped too.
      await child.terminate("SIGTERM", 300);
      await eventually("the stubborn grandchild killed", () => !alive(pid));
    } finally {
      await child.release();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a child group: a program that cannot start is an error, not a child", async () => {
  await assert.rejects(
    startChildGroup(["/nonexistent/program"], 1_000),
    /ENOENT/,
  );
});
