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
/**
 * How recent a read that found nothing must be for the next wait to begin
 * without reading again: long enough for the purge call a feed makes
 * between two reads. A log lost meanwhile is noticed by the read after the
 * wait, as one lost during the wait is.
 */
const QUIET_READ_REUSE_MS = 100;

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
  /** Who this driver is to an env's purge token. */
  purgeHolder: string;
}

/** When purging an env is next due, as a read of its changes found it. */
export interface PurgeDue {
  /** Redis's time now: at the read, plus the time since. */
  now: number;
  /** The earliest service due time, by Redis's clock; -1 for no service. */
  nextDue: number;
  /** Whether this driver is the env's recorded purger. */
  purger: boolean;
}

/** The driver's reads of change logs, and its blocking connections. */
export class ChangeLogReader {
  readonly #options: ChangeLogReaderOptions;
  /** Every blocking connection open or opening, idle or in a wait. */
  readonly #connections = new Set<Promise<IoRedisClient>>();
  /** Those not in a wait now (each as it was opened, so it stays known). */
  readonly #idle: Promise<IoRedisClient>[] = [];
  #closed = false;
  /** Per env, the last read that found nothing new: its cursor and when. */
  readonly #quiet = new Map<string, { cursor: string; at: number }>();
  /** Per env, what the last read said of purging, and when. */
  readonly #purgeDue = new Map<string, PurgeDue & { at: number }>();

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
    // A follower asks again right after a read that found nothing; a
    // change since then is after the cursor, where XREAD sees it at once,
    // so that read need not be repeated before the wait.
    const quiet = this.#quiet.get(env);
    if (
      quiet?.cursor !== cursor || options.waitMs <= 0 ||
      performance.now() - quiet.at > QUIET_READ_REUSE_MS
    ) {
      const batch = await this.#readNoting(env, cursor);
      if (
        batch.changes.length > 0 || batch.cursor !== cursor ||
        options.waitMs <= 0 || options.signal?.aborted
      ) return batch;
    }
    await this.#waitForChanges(
      env,
      cursor.slice(cursor.lastIndexOf(":") + 1),
      Math.min(options.waitMs, MAX_BLOCK_MS),
      options.signal,
    );
    return await this.#readNoting(env, cursor);
  }

  /** Reads, noting when a read found nothing new after `cursor`. */
  async #readNoting(env: string, cursor: string): Promise<ChangeBatch> {
    const batch = await this.#read(env, cursor);
    if (batch.changes.length === 0 && batch.cursor === cursor) {
      this.#quiet.set(env, { cursor, at: performance.now() });
    } else this.#quiet.delete(env);
    return batch;
  }

  /**
   * When purging `env` is next due, as a read of its changes a moment ago
   * found it (as recent as a quiet read the next wait may reuse);
   * undefined when no read was that recent, or the env's services list
   * was missing.
   *
   * @param env The env.
   * @returns What the read found.
   */
  purgeDue(env: string): PurgeDue | undefined {
    const read = this.#purgeDue.get(env);
    if (!read) return undefined;
    const age = performance.now() - read.at;
    if (age > QUIET_READ_REUSE_MS) return undefined;
    // Redis's time now, not at the read: the wait counts from now.
    return { now: read.now + age, nextDue: read.nextDue, purger: read.purger };
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
    const [current, recorded, entries, began, now, nextDue, purger] =
      await calls.call(
        calls.client,
        SCRIPTS.readChanges,
        [`${base}meta`, `${base}log`],
        [known, CHANGES_PER_READ, this.#options.purgeHolder],
      ) as [
        string,
        number,
        [string, string[]][],
        number,
        number,
        number,
        number,
      ];
    if (nextDue === -2) this.#purgeDue.delete(env);
    else {
      this.#purgeDue.set(env, {
        now,
        nextDue,
        purger: purger === 1,
        at: performance.now(),
      });
    }
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
    // A blocked XREAD holds its connection, so each wait takes one of its
    // own: views of several envs (or several views) on one driver never
    // queue behind one another's block. One stays open per wait that runs
    // at once, to be used again.
    const opening = this.#idle.pop() ?? this.#open(connect);
    let client: IoRedisClient | undefined;
    // A blocked XREAD cannot be cancelled; an abort closes its connection,
    // so stopping a watch never waits out the block.
    const cancel = () => this.#drop(opening);
    try {
      client = await opening;
      if (signal?.aborted) return;
      signal?.addEventListener("abort", cancel, { once: true });
      await client.call(
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
      // Kept unless an abort or close() closed it (after a failure the
      // client reconnects by itself).
      if (client && this.#connections.has(opening)) this.#idle.push(opening);
    }
  }

  /** Opens a blocking connection; one that fails to open is not kept. */
  #open(connect: () => Promise<IoRedisClient>): Promise<IoRedisClient> {
    const opening = connect();
    this.#connections.add(opening);
    opening.catch(() => this.#connections.delete(opening));
    return opening;
  }

  /** Closes a blocking connection, once, in the background. */
  #drop(opening: Promise<IoRedisClient>): void {
    if (!this.#connections.delete(opening)) return;
    this.#options.inBackground(() => opening.then(closeClient, () => {}));
  }

  /**
   * Closes the blocking connections, which ends any wait in progress;
   * later waits poll.
   *
   * @returns A promise that resolves once they are closed.
   */
  async close(): Promise<void> {
    this.#closed = true;
    const open = [...this.#connections];
    this.#connections.clear();
    this.#idle.length = 0;
    for (const opening of open) {
      const client = await opening.catch(() => undefined);
      if (client) await closeClient(client);
    }
  }
}
