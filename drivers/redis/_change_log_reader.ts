/**
 * Reads an env's change log, the capped stream `log`, by cursor
 * (`epoch:n`), and waits for the next change with `XREAD BLOCK` on a
 * connection of its own (or polls when the client cannot make one).
 *
 * @module
 */

import type { Change, ChangeBatch } from "../../contract/driver.ts";
import { ChangeLogGapError } from "../../errors.ts";
import { readChange } from "./_codec.ts";
import { type RedisCalls, SCRIPTS } from "./_calls.ts";
import { closeClient, type IoRedisClient } from "./connect.ts";

/**
 * The longest a blocking read of the change log waits. Changes and aborts
 * end it early, so it only bounds how often an idle watcher asks.
 */
export const MAX_BLOCK_MS = 5_000;
/** The most changes read at once. */
const CHANGES_PER_READ = 1_000;

/** What the reader needs of its driver. */
export interface ChangeLogReaderOptions {
  /** Sends its reads. */
  calls: RedisCalls;
  /** An env's key prefix, hash tag included. */
  base(env: string): string;
  /** Opens a connection for blocking reads, when the client can. */
  connector(): (() => Promise<IoRedisClient>) | undefined;
  /** Runs work that the driver's `close()` waits for. */
  inBackground(start: () => Promise<unknown>): void;
}

/** The driver's reads of change logs, and its one blocking connection. */
export class ChangeLogReader {
  readonly #options: ChangeLogReaderOptions;
  #blocking: Promise<IoRedisClient> | undefined;
  #closed = false;

  /** @param options What it needs of its driver. */
  constructor(options: ChangeLogReaderOptions) {
    this.#options = options;
  }

  /**
   * Changes after `cursor`, waiting up to `waitMs` (at most
   * {@linkcode MAX_BLOCK_MS}) when there are none yet.
   *
   * @param env The env.
   * @param cursor `epoch:n` from a snapshot or an earlier call.
   * @param options The wait, and a signal to end it.
   * @returns The changes and the next cursor.
   * @throws {ChangeLogGapError} When changes after the cursor were lost.
   */
  async changes(
    env: string,
    cursor: string,
    options: { waitMs: number; signal?: AbortSignal },
  ): Promise<ChangeBatch> {
    const batch = await this.#read(env, cursor);
    if (
      batch.changes.length > 0 || batch.cursor !== cursor ||
      options.waitMs <= 0 || options.signal?.aborted
    ) return batch;
    await this.#waitForChanges(
      env,
      cursor.slice(cursor.lastIndexOf(":") + 1),
      Math.min(options.waitMs, MAX_BLOCK_MS),
      options.signal,
    );
    return await this.#read(env, cursor);
  }

  async #read(env: string, cursor: string): Promise<ChangeBatch> {
    const split = cursor.lastIndexOf(":");
    const epoch = cursor.slice(0, split);
    const known = Number(cursor.slice(split + 1));
    if (split < 0 || !Number.isInteger(known) || known < 0) {
      throw new ChangeLogGapError(env, cursor, { dataLost: true });
    }
    const base = this.#options.base(env);
    const { calls } = this.#options;
    const [current, recorded, entries, began] = await calls.call(
      calls.client,
      SCRIPTS.readChanges,
      [`${base}meta`, `${base}log`],
      [known, CHANGES_PER_READ],
    ) as [string, number, [string, string[]][], number];
    const firstNumber = entries.length
      ? Number(entries[0]![0].split("-")[0])
      : undefined;
    if (current !== epoch) {
      // A log that had no epoch yet may begin one. A new epoch that began
      // right after this reader's last change (a restart, a failover or a
      // slot moved to another node, with nothing lost before it) goes on
      // from there; any other change of epoch means the backend lost
      // changes (and maybe more).
      const begun = epoch === "" && known === 0 &&
        (firstNumber === undefined ? recorded === 0 : firstNumber === 1);
      const continues = epoch !== "" && Number(began) === known;
      if (!begun && !continues) {
        throw new ChangeLogGapError(env, cursor, { dataLost: true });
      }
    }
    if (firstNumber === undefined) {
      if (recorded !== known) {
        throw new ChangeLogGapError(env, cursor, {
          dataLost: recorded < known,
        });
      }
      return { changes: [], cursor: `${current}:${known}` };
    }
    const changes: Change[] = [];
    let expected = known + 1;
    for (const [entryId, fields] of entries) {
      const n = Number(entryId.split("-")[0]);
      // Trimmed past the cursor: the snapshot a reader takes is complete.
      if (n !== expected++) throw new ChangeLogGapError(env, cursor);
      const text = fields[0] === "c" ? fields[1] : undefined;
      const change = text === undefined ? undefined : readChange(env, text);
      if (change) changes.push(change);
    }
    return { changes, cursor: `${current}:${expected - 1}` };
  }

  async #waitForChanges(
    env: string,
    after: string,
    waitMs: number,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const connect = this.#options.connector();
    if (!connect || this.#closed) {
      await new Promise((resolve) =>
        setTimeout(resolve, Math.min(waitMs, 100))
      );
      return;
    }
    // A blocked XREAD cannot be cancelled; an abort closes its connection,
    // so stopping a watch never waits out the block.
    let opening: Promise<IoRedisClient> | undefined;
    const cancel = () => {
      if (this.#blocking === opening) this.#blocking = undefined;
      this.#options.inBackground(() => opening!.then(closeClient, () => {}));
    };
    try {
      opening = this.#blocking ??= connect();
      // A connection that failed to open is not kept: the next wait retries.
      opening.catch(() => {
        if (this.#blocking === opening) this.#blocking = undefined;
      });
      const blocking = await opening;
      if (signal?.aborted) return;
      signal?.addEventListener("abort", cancel, { once: true });
      await blocking.call(
        "XREAD",
        "BLOCK",
        // Whole milliseconds: Redis refuses a fraction (and 0 is forever).
        Math.max(1, Math.ceil(waitMs)),
        "STREAMS",
        `${this.#options.base(env)}log`,
        `${after}-0`,
      );
    } catch {
      // The caller reads again either way; a broken connection shows there.
      if (signal?.aborted) return;
      await new Promise((resolve) =>
        setTimeout(resolve, Math.min(waitMs, 100))
      );
    } finally {
      signal?.removeEventListener("abort", cancel);
    }
  }

  /**
   * Closes the blocking connection; later waits poll.
   *
   * @returns A promise that resolves once it is closed.
   */
  async close(): Promise<void> {
    this.#closed = true;
    const blocking = this.#blocking;
    this.#blocking = undefined;
    const client = await blocking?.catch(() => undefined);
    if (client) await closeClient(client);
  }
}
