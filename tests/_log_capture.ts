import { configure, type LogRecord, reset } from "@logtape/logtape";

/** Captures roster's log records for the length of one test. */
export async function captureLogs(): Promise<
  {
    records: LogRecord[];
    messages(): string[];
    [Symbol.asyncDispose](): Promise<void>;
  }
> {
  const records: LogRecord[] = [];
  await configure({
    reset: true,
    sinks: { memory: (record) => records.push(record) },
    loggers: [
      { category: ["roster"], lowestLevel: "debug", sinks: ["memory"] },
      { category: ["logtape", "meta"], lowestLevel: "error", sinks: [] },
    ],
  });
  return {
    records,
    messages: () =>
      records.map((r) =>
        `${r.level}: ${
          r.message.map((part) =>
            typeof part === "string" || part instanceof Error
              ? String(part)
              : JSON.stringify(part) ?? String(part)
          ).join("")
        }`
      ),
    [Symbol.asyncDispose]: () => reset(),
  };
}
