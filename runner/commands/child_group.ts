/**
 * A sidecar's child: started in a process group of its own, so a stop
 * signal reaches every process it started, and watched by a small guard
 * process that stops the group if the runner itself is killed.
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import { constants } from "node:os";
import process from "node:process";
import { formatDuration } from "../../mod.ts";
import { fail } from "../output.ts";

/** A running child and its process group. */
export interface ChildGroup {
  /** The child's pid, which is also its process group's id. */
  readonly pid: number;
  /** Resolves with the exit code: the child's own, or 128 + the signal that ended it. */
  readonly exited: Promise<number>;
  /** Whether it has exited. */
  readonly hasExited: boolean;
  /**
   * Sends a signal to the whole group.
   *
   * @param signal The signal, such as `SIGTERM`.
   */
  kill(signal: NodeJS.Signals): void;
  /**
   * Sends `signal` to the group, waits up to `timeout` ms for the child and
   * every process of its group to exit, then kills the group. After the
   * child exited by itself, it stops what the child left running.
   *
   * @param signal The signal to pass on.
   * @param timeout How long the child may take, in ms.
   * @returns The exit code.
   */
  terminate(signal: string, timeout?: number): Promise<number>;
  /**
   * Stops the guard; call once the child is done with.
   *
   * @returns Resolves once the guard has exited, so nothing of ours runs on.
   */
  release(): Promise<void>;
}

/**
 * Starts a command in a new process group, with a guard that sends the
 * group SIGTERM, then SIGKILL after `killTimeout`, if this process dies
 * without saying so (SIGKILL, a crash): its end of a pipe closes, and the
 * guard, blocked reading it, wakes.
 *
 * @param command The program and its arguments.
 * @param killTimeout How long the group may take to exit after SIGTERM, in ms.
 * @returns The running child.
 * @throws {Error} When the program cannot be started.
 */
export async function startChildGroup(
  command: readonly string[],
  killTimeout: number,
): Promise<ChildGroup> {
  const [program, ...args] = command as [string, ...string[]];
  const child = spawn(program, args, { stdio: "inherit", detached: true });
  await new Promise<void>((resolve, reject) => {
    child.once("spawn", resolve);
    child.once("error", reject);
  });
  const pid = child.pid as number;
  let hasExited = false;
  const exited = new Promise<number>((resolve) => {
    child.once("exit", (code, signal) => {
      hasExited = true;
      resolve(
        code ?? 128 + ((signal && constants.signals[signal]) || 0),
      );
    });
  });
  const guard = startGuard(pid, killTimeout);
  const guardExited = new Promise<void>((resolve) => {
    guard.once("exit", () => resolve());
    guard.once("error", () => resolve());
  });
  return {
    pid,
    exited,
    get hasExited() {
      return hasExited;
    },
    kill: (signal) => signalGroup(pid, signal),
    terminate: (signal, timeout = killTimeout) =>
      terminateGroup(pid, exited, signal as NodeJS.Signals, timeout),
    async release() {
      try {
        guard.kill("SIGKILL");
      } catch { /* gone */ }
      guard.stdin?.destroy();
      // Awaited, so the guard's end is seen before the caller goes on:
      // a process still reaped later would outlive the runner's shutdown.
      await guardExited;
    },
  };
}

/**
 * Signals a process group. The group outlives its leader while any process
 * it started runs: a signal goes to the group, not only to the command.
 */
function signalGroup(pid: number, signal: NodeJS.Signals | 0): void {
  try {
    process.kill(-pid, signal);
  } catch { /* the group is gone */ }
}

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Sends the group `signal`, then SIGKILL to whatever of it is left after
 * `timeout`: the command's exit status.
 */
async function terminateGroup(
  pid: number,
  exited: Promise<number>,
  signal: NodeJS.Signals,
  timeout: number,
): Promise<number> {
  signalGroup(pid, signal);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((resolve) => {
    timer = setTimeout(() => resolve("late"), timeout);
  });
  const deadline = Date.now() + timeout;
  const result = await Promise.race([exited, late]);
  clearTimeout(timer);
  if (result === "late") {
    fail(
      `the command did not exit within ${
        formatDuration(timeout)
      }; killing its process group`,
    );
    signalGroup(pid, "SIGKILL");
    return await exited;
  }
  // The command exited; what it started in its group gets the rest of the
  // time, then SIGKILL, so nothing is left running after us.
  while (groupAlive(pid) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  if (groupAlive(pid)) {
    fail(
      `processes the command started were still running ${
        formatDuration(timeout)
      } after the signal; killing its process group`,
    );
    signalGroup(pid, "SIGKILL");
  }
  return result;
}

/** The guard: `sh` blocked on a pipe only this process writes to. */
function startGuard(group: number, killTimeout: number): ChildProcess {
  const seconds = Math.max(1, Math.ceil(killTimeout / 1000));
  const guard = spawn("sh", [
    "-c",
    `read _ignored; kill -15 -${group} 2>/dev/null; sleep ${seconds}; kill -9 -${group} 2>/dev/null`,
  ], { stdio: ["pipe", "ignore", "ignore"], detached: true });
  guard.on("error", () => {});
  return guard;
}
