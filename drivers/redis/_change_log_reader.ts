/**
 * Reads an env's change log, the capped stream `log`, by cursor
 * (`epoch:n`), and waits for the next change with `XREAD BLOCK` on a
 * connection of its own (or polls when the client cannot make one). The
 * wait also ends at a purge's announcement (the one-entry stream
 * `purged`), which says what a read would: so a follower at the position
 * it names sends nothing more until the next change or due time.
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

/** A purge's announcement, as a wait read it from `purged`. */
interface Announcement {
  /** Redis's time when it was made. */
  now: number;
  /** The env's earliest due time then; -1 for no service, -2 for no list. */
  nextDue: number;
  /** The change log's position then, as a cursor (`epoch:n`). */
  position: string;
  /** The env's recorded purger. */
  purger: string;
}

/** Stream entries as `XREAD` replies them: id and fields. */
type StreamEntries = [string, string[]][];
/**
 * An `XREAD` reply: a `[key, entries]` pair per stream, or (a map, as
 * RESP3 replies it) key and entries in turn.
 */
type StreamsReply = [string, StreamEntries][] | (string | StreamEntries)[];

/** The streams in an `XREAD` reply, whichever shape it came in. */
function streamsOf(reply: StreamsReply | null): [string, StreamEntries][] {
  if (!reply) return [];
  if (typeof reply[0] !== "string") return reply as [string, StreamEntries][];
  const pairs: [string, StreamEntries][] = [];
  for (let i = 0; i + 1 < reply.length; i += 2) {
    pairs.push([reply[i] as string, reply[i + 1] as StreamEntries]);
  }
  return pairs;
}

/** Whether stream entry id `a` comes after `b`. */
function isLaterId(a: string, b: string): boolean {
  const [aTime = 0, aSeq = 0] = a.split("-").map(Number);
  const [bTime = 0, bSeq = 0] = b.split("-").map(Number);
  return aTime > bTime || (aTime === bTime && aSeq > bSeq);
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
  /** Per env, the id of the last purge announcement seen. */
  readonly #announcements = new Map<string, string>();

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
    const announcement = await this.#waitForChanges(
      env,
      cursor.slice(cursor.lastIndexOf(":") + 1),
      Math.min(options.waitMs, MAX_BLOCK_MS),
      options.signal,
    );
    // One made before this driver's last read (the wait ended at once at
    // it) may say less than the read did: read again.
    if (
      announcement?.position !== cursor ||
      announcement.now < (this.#purgeDue.get(env)?.now ?? -Infinity)
    ) return await this.#readNoting(env, cursor);
    // Nothing changed up to the purge, which says when the next is due:
    // what a read would have told. (A stale announcement, made before this
    // wait, counts from Redis's time now.)
    const at = performance.now();
    this.#quiet.set(env, { cursor, at });
    this.#purgeDue.set(env, {
      now: Math.max(announcement.now, this.#options.calls.redisNow() ?? 0),
      nextDue: announcement.nextDue,
      purger: announcement.purger === this.#options.purgeHolder,
      at,
    });
    return { changes: [], cursor };
  }

  /**
   * Notes a purge announcement this driver made, so its own waits do not
   * wake for it.
   *
   * @param env The env.
   * @param id The announcement's stream entry id.
   */
  announced(env: string, id: string): void {
    const seen = this.#announcements.get(env);
    if (seen === undefined || isLaterId(id, seen)) {
      this.#announcements.set(env, id);
    }
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
    calls.learnClock(now);
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
      // changes (and maybe more). Either way the announcements may begin
      // again from a lower id.
      this.#announcements.delete(env);
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

  /**
   * Waits for a change after `after`, or a purge announcement; returns the
   * announcement when the wait ended at one and no change.
   */
  async #waitForChanges(
    env: string,
    after: string,
    waitMs: number,
    signal: AbortSignal | undefined,
  ): Promise<Announcement | undefined> {
    const connect = this.#options.connector();
    if (!connect || this.#closed) {
      await new Promise((resolve) =>
        setTimeout(resolve, Math.min(waitMs, 100))
      );
      return undefined;
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
      if (signal?.aborted) return undefined;
      signal?.addEventListener("abort", cancel, { once: true });
      const base = this.#options.base(env);
      const reply = await client.call(
        "XREAD",
        "BLOCK",
        // Whole milliseconds: Redis refuses a fraction (and 0 is forever).
        Math.max(1, Math.ceil(waitMs)),
        "STREAMS",
        `${base}log`,
        `${base}purged`,
        `${after}-0`,
        // Before any is seen, only those made from now on.
        this.#announcements.get(env) ?? "$",
      ) as StreamsReply | null;
      return this.#announcementIn(env, `${base}purged`, reply);
    } catch {
      // The caller reads again either way; a broken connection shows there.
      if (signal?.aborted) return undefined;
      await new Promise((resolve) =>
        setTimeout(resolve, Math.min(waitMs, 100))
      );
      return undefined;
    } finally {
      signal?.removeEventListener("abort", cancel);
      // Kept unless an abort or close() closed it (after a failure the
      // client reconnects by itself).
      if (client && this.#connections.has(opening)) this.#idle.push(opening);
    }
  }

  /**
   * The newest announcement in a wait's reply, noted as seen; undefined
   * when there is none, or the log changed too (the caller reads then).
   */
  #announcementIn(
    env: string,
    key: string,
    reply: StreamsReply | null,
  ): Announcement | undefined {
    let found: Announcement | undefined;
    let changed = false;
    for (const [stream, entries] of streamsOf(reply)) {
      const last = entries.at(-1);
      if (stream !== key) changed ||= last !== undefined;
      else if (last) {
        this.announced(env, last[0]);
        const fields = new Map<string, string>();
        for (let i = 0; i + 1 < last[1].length; i += 2) {
          fields.set(last[1][i]!, last[1][i + 1]!);
        }
        found = {
          now: Number(fields.get("t")),
          nextDue: Number(fields.get("d")),
          position: `${fields.get("e") ?? ""}:${fields.get("n")}`,
          purger: fields.get("p") ?? "",
        };
        // Without a services list (-2), a read finds out more.
        if (!Number.isFinite(found.now) || !(found.nextDue >= -1)) {
          found = undefined;
        }
      }
    }
    return changed ? undefined : found;
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
