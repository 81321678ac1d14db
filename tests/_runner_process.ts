/** Spawns the runner as a real process, for end-to-end tests. */

const MAIN = new URL("../runner/main.ts", import.meta.url).pathname;

export interface RunnerProcess extends AsyncDisposable {
  child: Deno.ChildProcess;
  /** Every stdout line so far. */
  stdout: string[];
  /** Every stderr line so far. */
  stderr: string[];
  /** Resolves with the first stdout line matching `pattern`. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves with the exit status once the process ends. */
  status: Promise<Deno.CommandStatus>;
}

/** Starts `deno run -A runner/main.ts ...args`. */
export function spawnRunner(
  args: string[],
  env: Record<string, string> = {},
): RunnerProcess {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", MAIN, ...args],
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdout: string[] = [];
  const stderr: string[] = [];
  const waiters = new Set<() => void>();
  const pump = async (stream: ReadableStream<Uint8Array>, lines: string[]) => {
    let buffer = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      buffer += chunk;
      const parts = buffer.split("\n");
      buffer = parts.pop() ?? "";
      lines.push(...parts);
      for (const wake of waiters) wake();
    }
    if (buffer) lines.push(buffer);
    for (const wake of waiters) wake();
  };
  const pumps = Promise.all([
    pump(child.stdout, stdout),
    pump(child.stderr, stderr),
  ]);
  const status = pumps.then(() => child.status);
  let exited = false;
  status.then(() => exited = true);
  return {
    child,
    stdout,
    stderr,
    status,
    waitForLine(pattern, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const line = stdout.find((l) => pattern.test(l));
          if (line !== undefined) {
            done();
            resolve(line);
          } else if (exited) {
            done();
            reject(
              new Error(
                `runner exited before printing ${pattern}; stderr:\n${
                  stderr.join("\n")
                }`,
              ),
            );
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(
            new Error(
              `no line matching ${pattern} within ${timeoutMs}ms; stdout:\n${
                stdout.join("\n")
              }\nstderr:\n${stderr.join("\n")}`,
            ),
          );
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        status.then(check);
        check();
      });
    },
    async [Symbol.asyncDispose]() {
      if (!exited) {
        try {
          child.kill("SIGKILL");
        } catch { /* already gone */ }
      }
      await status;
    },
  };
}

/** Runs the runner to completion and returns its exit code and output. */
export async function runRunner(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  await using runner = spawnRunner(args, env);
  const status = await runner.status;
  return {
    code: status.code,
    stdout: runner.stdout.join("\n"),
    stderr: runner.stderr.join("\n"),
  };
}

const written = new Set<string>();
// Whatever a test file wrote is removed when it ends, pass or fail.
globalThis.addEventListener("unload", () => {
  for (const path of written) {
    try {
      Deno.removeSync(path);
    } catch { /* removed already */ }
  }
});

/**
 * Writes a config to a temporary file and returns its path; the file is
 * removed when the test file ends.
 */
export async function writeConfig(toml: string): Promise<string> {
  const path = await Deno.makeTempFile({ prefix: "roster-", suffix: ".toml" });
  written.add(path);
  await Deno.writeTextFile(path, toml);
  return path;
}
