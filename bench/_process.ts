/** A child process whose output lines are collected as they arrive, with the time each arrived. */
export interface Lines extends AsyncDisposable {
  child: Deno.ChildProcess;
  lines: { at: number; text: string }[];
  waitFor(
    pattern: RegExp,
    timeoutMs?: number,
  ): Promise<{ at: number; text: string }>;
  status: Promise<Deno.CommandStatus>;
  write(text: string): Promise<void>;
}

export function spawnLines(
  program: string,
  args: string[],
  options: { env?: Record<string, string>; cwd?: string } = {},
): Lines {
  const child = new Deno.Command(program, {
    args,
    env: { NO_COLOR: "1", ...options.env },
    cwd: options.cwd,
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const lines: { at: number; text: string }[] = [];
  const wakers = new Set<() => void>();
  const pump = (async () => {
    let buffer = "";
    for await (
      const chunk of child.stdout.pipeThrough(new TextDecoderStream())
    ) {
      buffer += chunk;
      const parts = buffer.split("\n");
      buffer = parts.pop() ?? "";
      const at = Date.now();
      for (const text of parts) lines.push({ at, text });
      for (const wake of wakers) wake();
    }
  })();
  const status = pump.then(() => child.status);
  let exited = false;
  status.then(() => {
    exited = true;
    for (const wake of wakers) wake();
  });
  const writer = child.stdin.getWriter();
  return {
    child,
    lines,
    status,
    write: (text) => writer.write(new TextEncoder().encode(text)),
    waitFor(pattern, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () =>
            done(
              new Error(`no line matching ${pattern} within ${timeoutMs}ms`),
            ),
          timeoutMs,
        );
        const check = () => {
          const line = lines.find((l) => pattern.test(l.text));
          if (line) done(undefined, line);
          else if (exited) done(new Error(`exited before printing ${pattern}`));
        };
        const done = (error?: Error, line?: { at: number; text: string }) => {
          clearTimeout(timer);
          wakers.delete(check);
          if (error) reject(error);
          else resolve(line!);
        };
        wakers.add(check);
        check();
      });
    },
    async [Symbol.asyncDispose]() {
      await writer.close().catch(() => {});
      if (!exited) {
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
      }
      await status;
    },
  };
}

/** Resident memory of a process in bytes, from /proc. */
export async function residentBytes(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) * 1024;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
