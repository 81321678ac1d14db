/**
 * The memory engine for the robustness harness. Its backend lives in one
 * process, so every node runs in the harness's process, each behind a gate
 * on its driver: a paused node's calls wait until it resumes, a killed
 * node's calls fail and it reports nothing more. Unlike a real SIGSTOP, a
 * paused node's own timers still run. The backend itself cannot be broken.
 *
 * @module
 */

import { MemoryDriver } from "../../drivers/memory/mod.ts";
import type { Driver } from "../../contract/driver.ts";
import type { NodeHandle, NodeReport, RobustnessEngine } from "./engine.ts";
import { type NodeSpec, startNode } from "./node_program.ts";
import type { FenceRequest } from "./node_program.ts";

class Gate {
  paused: PromiseWithResolvers<void> | undefined;
  killed = false;

  async pass(): Promise<void> {
    if (this.paused) await this.paused.promise;
    if (this.killed) throw new Error("the process was killed");
  }
}

function gated(driver: Driver, gate: Gate, keepOpen: boolean): Driver {
  return new Proxy(driver, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== "function") return value;
      if (property === "close" && keepOpen) return () => Promise.resolve();
      return async (...args: unknown[]) => {
        await gate.pass();
        const result = await value.apply(target, args);
        await gate.pass();
        return result;
      };
    },
  });
}

/** Starts the memory engine. */
export function memoryEngine(): RobustnessEngine {
  const driver = new MemoryDriver();
  return {
    name: "memory",
    limits: [
      "one process: nodes share the harness's process, and a paused node's timers still run",
      "no backend faults: the store cannot freeze, restart or lose data",
    ],
    faults: [],
    connect: () => Promise.resolve(gated(driver, new Gate(), true)),
    async spawn(
      spec: NodeSpec,
      sink: (report: NodeReport) => void,
      fence: { write(request: unknown): boolean },
    ): Promise<NodeHandle> {
      const gate = new Gate();
      const control = await startNode(spec, gated(driver, gate, true), {
        report: (line) => {
          if (!gate.killed) sink(line as NodeReport);
        },
        async fence(write: FenceRequest) {
          await gate.pass();
          fence.write(write);
        },
        connect: () => Promise.resolve(gated(driver, gate, true)),
      });
      const resume = () => {
        gate.paused?.resolve();
        gate.paused = undefined;
      };
      return {
        spec,
        pause: () => gate.paused ??= Promise.withResolvers<void>(),
        resume,
        async kill() {
          gate.killed = true;
          resume();
          await control.stop().catch(() => {});
        },
        setStatus: (status) => control.setStatus(status),
        drain: () => control.drain(),
        stop: () => control.stop(),
        state: () => Promise.resolve(control.state()),
      };
    },
    async [Symbol.asyncDispose]() {
      await driver.close();
    },
  };
}
