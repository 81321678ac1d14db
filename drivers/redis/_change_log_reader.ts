/**
 * Reads an env's change log, the capped stream `log`, by cursor
 * (`epoch:n`), and waits for the next change on the driver's Pub/Sub
 * connection (or polls when the client cannot make one). Every call that
 * records changes publishes the log's position on the env's `changed`
 * channel, and so does a purge that ends its passes, with when the next is
 * due: so a follower at the position it names sends nothing until the next
 * change or due time. The log stays the truth; a message only says when to
 * read it, so a lost one delays a read and loses nothing.
 *
 * @module
 */

import type { Change, ChangeBatch } from "../../contract/driver.ts";
import { ChangeLogGapError } from "../../errors.ts";
import { readChange } from "./_codec.ts";
import { type RedisCalls, SCRIPTS } from "./_calls.ts";
import type { Subscriptions } from "./_subscriptions.ts";
import { getLogger } from "@logtape/logtape";

const log = getLogger(["roster", "redis"]);

/**
 * The longest a wait lasts without a read. Changes and purges end it
 * early, so it only bounds how often a watcher of an idle env asks, and
 * how late one that missed a message (its connection was away) reads.
 */
export const MAX_WAIT_MS = 5_000;
/** The most changes read at once. */
const CHANGES_PER_READ = 1_000;
/**
 * How recent a read that found nothing must be for the next wait to begin
 * without reading again: long enough for the purge call a feed makes
 * between two reads. A log lost meanwhile is noticed by the read after the
 * wait, as one lost during the wait is.
 */
const QUIET_READ_REUSE_MS = 100;
/** How often a wait reads while the subscriber connection is away. */
const POLL_MS = 100;
/** How many of an env's latest messages are kept for calls to go through. */
const KEPT_MESSAGES = 32;
/** How long an env nobody waits on stays subscribed. */
const IDLE_SUBSCRIPTION_MS = 30_000;
/** How long waits poll after Redis refused a subscription (ACL), before asking again. */
const REFUSED_RETRY_MS = 60_000;

/** What the reader needs of its driver. */
export interface ChangeLogReaderOptions {
  /** Sends its reads. */
  calls: RedisCalls;
  /** An env's key prefix, hash tag included. */
  base(env: string): string;
  /** The driver's subscriptions; undefined when the client cannot make one. */
  subscriptions(): Subscriptions | undefined;
  /** Who this driver is to an env's purge token. */
  purgeHolder: string;
  /** How long an env nobody waits on stays subscribed (tests shorten it). */
  idleSubscriptionMs?: number;
  /** How long waits poll after Redis refused a subscription (tests shorten it). */
  refusedRetryMs?: number;
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

/** A message on an env's `changed` channel, or a note that some were lost. */
type Message =
  | { kind: "lost" }
  /** Changes were recorded: the first of them is at `n`. */
  | { kind: "change"; epoch: string; n: number }
  /** A purge ended its passes. */
  | {
    kind: "purge";
    /** Redis's time when it was made. */
    now: number;
    /** The env's earliest due time then; -1 for no service. */
    nextDue: number;
    /** The change log's position then. */
    epoch: string;
    n: number;
    /** The env's recorded purger. */
    purger: string;
  };

/** Reads a message's payload; a note of loss (a read) when it cannot. */
function parseMessage(payload: string): Message {
  const fields = payload.split("\t");
  const number = (i: number) => Number(fields[i]);
  if (
    fields[0] === "c" && fields.length === 3 && Number.isInteger(number(2))
  ) return { kind: "change", epoch: fields[1]!, n: number(2) };
  // Without a services list (-2), a read finds out more.
  if (
    fields[0] === "p" && fields.length === 6 && number(2) >= -1 &&
    Number.isFinite(number(1)) && Number.isInteger(number(4))
  ) {
    return {
      kind: "purge",
      now: number(1),
      nextDue: number(2),
      epoch: fields[3]!,
      n: number(4),
      purger: fields[5]!,
    };
  }
  return { kind: "lost" };
}

/** An env's subscription, and the messages it brought. */
interface EnvChannel {
  /** Resolves once subscribed. */
  subscribed: Promise<unknown>;
  /** Ends the subscription. */
  unsubscribe?: () => Promise<void>;
  /** How many messages came. */
  count: number;
  /** The latest of them, each with its number in the count. */
  recent: { at: number; message: Message }[];
  /** The waits to tell of a message. */
  waits: Set<() => void>;
  /** When a call last asked for the env's changes. */
  usedAt: number;
}

/** How a wait ended. */
type WaitEnd =
  | "read"
  | "aborted"
  | { purge: Extract<Message, { kind: "purge" }>; at: number };

/** The driver's reads of change logs, and its waits for changes. */
export class ChangeLogReader {
  readonly #options: ChangeLogReaderOptions;
  readonly #channels = new Map<string, EnvChannel>();
  #stopLossCalls: (() => void) | undefined;
  /** Until when waits poll, since Redis refused a subscription. */
  #refusedUntil = -Infinity;
  /** Aborted by `close()`: ends every wait and poll. */
  readonly #closing = new AbortController();
  /**
   * Per env, the last read that reached the log's end (or the purge
   * message that said nothing changed): the cursor it left, when, and how
   * many messages had come before it.
   */
  readonly #quiet = new Map<
    string,
    { cursor: string; at: number; channel?: EnvChannel; count: number }
  >();
  /** Per env, what the last read said of purging, and when. */
  readonly #purgeDue = new Map<string, PurgeDue & { at: number }>();

  /** @param options What it needs of its driver. */
  constructor(options: ChangeLogReaderOptions) {
    this.#options = options;
  }

  /**
   * Changes after `cursor`, waiting up to `waitMs` (at most
   * {@linkcode MAX_WAIT_MS}) when there are none yet.
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
    if (options.waitMs <= 0) return await this.#readNoting(env, cursor);
    // Subscribed before the read, so no change after it goes unheard.
    const channel = await this.#channel(env);
    if (channel) channel.usedAt = performance.now();
    try {
      // A follower asks again right after a read; the messages since then
      // say whether to read again.
      const quiet = this.#quiet.get(env);
      const recent = quiet?.cursor === cursor &&
        performance.now() - quiet.at <= QUIET_READ_REUSE_MS;
      if (!channel || !this.#options.subscriptions()?.live) {
        return await this.#poll(env, cursor, channel, options, recent);
      }
      let from = channel.count;
      // Only a read made while subscribed saw all that came before its
      // messages.
      if (recent && quiet.channel === channel) from = quiet.count;
      else {
        const batch = await this.#readNoting(env, cursor, channel);
        if (
          batch.changes.length > 0 || batch.cursor !== cursor ||
          options.signal?.aborted
        ) return batch;
      }
      const end = await this.#wait(
        channel,
        cursor,
        from,
        Math.min(options.waitMs, MAX_WAIT_MS),
        { signal: options.signal, readAt: this.#purgeDue.get(env)?.now },
      );
      if (end === "aborted") return { changes: [], cursor };
      if (end === "read") {
        return await this.#readNoting(env, cursor, channel);
      }
      // Nothing changed up to the purge, which says when the next is due:
      // what a read would have told.
      const at = performance.now();
      this.#quiet.set(env, { cursor, at, channel, count: end.at });
      this.#purgeDue.set(env, {
        now: Math.max(end.purge.now, this.#options.calls.redisNow() ?? 0),
        nextDue: end.purge.nextDue,
        purger: end.purge.purger === this.#options.purgeHolder,
        at,
      });
      return { changes: [], cursor };
    } finally {
      if (channel) channel.usedAt = performance.now();
    }
  }

  /**
   * Reads every {@linkcode POLL_MS} until a change or the wait's end: while
   * no message can come. Skips the first read when one of this cursor was
   * just made.
   */
  async #poll(
    env: string,
    cursor: string,
    channel: EnvChannel | undefined,
    options: { waitMs: number; signal?: AbortSignal },
    justRead: boolean,
  ): Promise<ChangeBatch> {
    const deadline = performance.now() + Math.min(options.waitMs, MAX_WAIT_MS);
    const ended = () => options.signal?.aborted || this.#closing.signal.aborted;
    for (let read = !justRead;; read = true) {
      if (read) {
        const batch = await this.#readNoting(env, cursor, channel);
        if (batch.changes.length > 0 || batch.cursor !== cursor) return batch;
      }
      const left = deadline - performance.now();
      if (left <= 0 || ended()) return { changes: [], cursor };
      await this.#sleep(Math.min(left, POLL_MS), options.signal);
      if (ended()) return { changes: [], cursor };
    }
  }

  /**
   * Reads, noting a read that ended at the log's end, with how many of the
   * channel's messages had come before it: the next call at its cursor
   * goes through the messages since it rather than read again. (Of a read
   * cut short, the messages for the rest may have come before it.)
   */
  async #readNoting(
    env: string,
    cursor: string,
    channel?: EnvChannel,
  ): Promise<ChangeBatch> {
    const count = channel?.count ?? 0;
    const { batch, complete } = await this.#read(env, cursor);
    if (complete) {
      this.#quiet.set(env, {
        cursor: batch.cursor,
        at: performance.now(),
        channel,
        count,
      });
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

  /** One read; `complete` when it reached the log's end. */
  async #read(
    env: string,
    cursor: string,
  ): Promise<{ batch: ChangeBatch; complete: boolean }> {
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
      return {
        batch: { changes: [], cursor: `${current}:${known}` },
        complete: true,
      };
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
    return {
      batch: { changes, cursor: `${current}:${expected - 1}` },
      complete: entries.length < CHANGES_PER_READ,
    };
  }

  /**
   * Waits for a message that calls for a read, or a purge at the cursor's
   * position; goes through those that came since message `from` first.
   */
  #wait(
    channel: EnvChannel,
    cursor: string,
    from: number,
    waitMs: number,
    options: { signal?: AbortSignal; readAt?: number },
  ): Promise<WaitEnd> {
    const split = cursor.lastIndexOf(":");
    const epoch = cursor.slice(0, split);
    const known = Number(cursor.slice(split + 1));
    return new Promise<WaitEnd>((resolve) => {
      let seen = from;
      const done = (end: WaitEnd) => {
        clearTimeout(timer);
        stopListening();
        channel.waits.delete(check);
        resolve(end);
      };
      const check = () => {
        // Some came that are no longer kept: read.
        if (
          (channel.recent[0]?.at ?? channel.count + 1) > seen + 1 &&
          channel.count > seen
        ) return done("read");
        let purge: WaitEnd | undefined;
        for (const { at, message } of channel.recent) {
          if (at <= seen) continue;
          seen = at;
          if (message.kind === "lost") return done("read");
          // A position behind the cursor was read already.
          if (message.epoch !== epoch || message.n > known) return done("read");
          // One made before this driver's last read says less than it did.
          if (
            message.kind === "purge" && message.n === known &&
            message.now >= (options.readAt ?? -Infinity)
          ) purge = { purge: message, at };
        }
        if (purge) done(purge);
      };
      const timer = setTimeout(() => done("read"), Math.max(0, waitMs));
      const stopListening = this.#onAbort(
        options.signal,
        () => done("aborted"),
      );
      channel.waits.add(check);
      check();
    });
  }

  /** Sleeps up to `ms`, or until `signal` aborts or the reader closes. */
  #sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        stopListening();
        resolve();
      };
      const timer = setTimeout(done, ms);
      const stopListening = this.#onAbort(signal, done);
    });
  }

  /**
   * Calls `aborted` once, when `signal` aborts or the reader closes (at
   * once if either did already); returns what stops listening.
   */
  #onAbort(signal: AbortSignal | undefined, aborted: () => void): () => void {
    const signals = [this.#closing.signal, ...signal ? [signal] : []];
    const once = () => {
      stop();
      aborted();
    };
    const stop = () => {
      for (const each of signals) each.removeEventListener("abort", once);
    };
    if (signals.some((each) => each.aborted)) {
      queueMicrotask(aborted);
      return () => {};
    }
    for (const each of signals) each.addEventListener("abort", once);
    return stop;
  }

  /**
   * The env's subscription, made on first use; undefined when the client
   * cannot subscribe, or the subscriber cannot connect now (waits poll).
   */
  async #channel(env: string): Promise<EnvChannel | undefined> {
    const subscriptions = this.#options.subscriptions();
    if (
      !subscriptions || this.#closing.signal.aborted ||
      performance.now() < this.#refusedUntil
    ) return undefined;
    let channel = this.#channels.get(env);
    if (!channel) {
      this.#stopLossCalls ??= subscriptions.onLoss(() => {
        for (const each of this.#channels.values()) {
          this.#received(each, { kind: "lost" });
        }
      });
      const made: EnvChannel = channel = {
        subscribed: Promise.resolve(),
        count: 0,
        recent: [],
        waits: new Set(),
        usedAt: performance.now(),
      };
      made.subscribed = subscriptions.subscribe(
        `${this.#options.base(env)}changed`,
        (payload) => {
          this.#received(made, parseMessage(payload));
          this.#dropIfIdle(env, made);
        },
      ).then((unsubscribe) => {
        made.unsubscribe = unsubscribe;
        if (this.#channels.get(env) !== made) return unsubscribe();
      });
      this.#channels.set(env, made);
    }
    try {
      await channel.subscribed;
      return channel;
    } catch (error) {
      // Tried again by the next call.
      if (this.#channels.get(env) === channel) this.#channels.delete(env);
      if (String(error).includes("NOPERM")) {
        if (this.#refusedUntil === -Infinity) {
          log.warn(
            "Redis refused to subscribe to {channel} ({error}): watches poll every {poll} ms instead of waiting. Grant the user the prefix's channels, e.g. ACL SETUSER <user> &roster:*",
            {
              channel: `${this.#options.base(env)}changed`,
              error: String(error),
              poll: POLL_MS,
            },
          );
        }
        this.#refusedUntil = performance.now() +
          (this.#options.refusedRetryMs ?? REFUSED_RETRY_MS);
      }
      return undefined;
    }
  }

  /** Keeps a message for the calls to go through, and tells the waits. */
  #received(channel: EnvChannel, message: Message): void {
    channel.recent.push({ at: ++channel.count, message });
    if (channel.recent.length > KEPT_MESSAGES) channel.recent.shift();
    for (const check of [...channel.waits]) check();
  }

  /** Unsubscribes from an env nobody has asked about for a while. */
  #dropIfIdle(env: string, channel: EnvChannel): void {
    if (
      channel.waits.size > 0 ||
      performance.now() - channel.usedAt <
        (this.#options.idleSubscriptionMs ?? IDLE_SUBSCRIPTION_MS) ||
      this.#channels.get(env) !== channel
    ) return;
    this.#channels.delete(env);
    this.#quiet.delete(env);
    this.#purgeDue.delete(env);
    channel.unsubscribe?.().catch(() => {});
  }

  /**
   * Ends every wait in progress (each returns no changes); later calls
   * never wait, and read at most once. The driver closes the subscriber
   * connection.
   */
  close(): void {
    this.#closing.abort();
    this.#stopLossCalls?.();
    this.#channels.clear();
  }
}
