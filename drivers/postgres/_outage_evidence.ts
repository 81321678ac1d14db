/**
 * The PostgreSQL driver's evidence that a lapse was an outage, not a crash,
 * so that no live instance is evicted for a freeze, a restart or a lock:
 * the server's own start time, the windows in which clients' calls failed
 * (reported by the clients, by the database's clock), and how late a beat
 * landed after it was sent.
 *
 * @module
 */

import { AlreadyRegisteredError, ConfigError } from "../../errors.ts";
import { NOW_MS, type Queryable, rows } from "./_codec.ts";
import type { Tables } from "./_schema.ts";
import type { PostgresPool } from "./options.ts";

/** A clock offset this much below the best seen means the clock went back. */
const CLOCK_JUMP_MS = 60_000;

/**
 * How much later than sent a beat must land to be evidence of a stall
 * (a freeze, a lock): a sixth of its ttl, from 20 to 500 ms.
 *
 * @param ttl The registration's ttl, in ms.
 * @returns The delay, in ms.
 */
export function stallOf(ttl: number): number {
  return Math.min(500, Math.max(20, ttl / 6));
}

/** {@linkcode stallOf} in SQL, judging a row by its own ttl. */
export const STALL_SQL = "least(500, greatest(20, ttl / 6))";

/** When a beat was sent, and when its owner's own outage began, if any (database clock). */
export interface Beat {
  sent: number | null;
  own: number | null;
}

/** What a purge and a late beat judge a lapse by. */
export interface OutageEvidence {
  /** Now, by the database's clock. */
  now: number;
  /** When the server last started. */
  started: number;
  /** The env's last beat accepted before that start. */
  lastBeat: number;
  /** The env's freshest beat. */
  freshest: number;
  /** The window in which clients' calls failed, as they reported it. */
  outFrom: number;
  outTo: number;
}

/**
 * Whether a failed call says the database could not be reached or did
 * not answer in time (a freeze, a restart, a lock that stalls writes),
 * rather than refusing the call.
 *
 * @param error What the call threw.
 * @returns Whether it was an outage.
 */
export function isOutage(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) {
    // Connection exceptions, shutdowns, a lock or statement timeout.
    return code.startsWith("08") || code.startsWith("57P") ||
      code === "55P03" || code === "57014";
  }
  if (error instanceof AlreadyRegisteredError || error instanceof ConfigError) {
    return false;
  }
  return /timeout|terminat|ECONNREFUSED|ECONNRESET|Connection/i.test(
    String((error as Error)?.message ?? error),
  );
}

/**
 * What this process saw: the database's clock (learned from replies) and
 * its own outage (calls that failed), which it reports to an env.
 */
export class OutageWitness {
  readonly #pool: PostgresPool;
  readonly #tables: Tables;
  /** The database's clock less this process's monotonic clock. */
  #offset: number | undefined;
  /**
   * Since when calls failed (the first failed call's start) until the last
   * failure, by this process's monotonic clock.
   */
  #outage: { from: number; to: number; reported?: boolean } | undefined;

  /**
   * @param pool The pool reports go through.
   * @param tables The schema's tables.
   */
  constructor(pool: PostgresPool, tables: Tables) {
    this.#pool = pool;
    this.#tables = tables;
  }

  /** Whether calls failed, and the failures were not yet followed by a success after a report. */
  get inOutage(): boolean {
    return this.#outage !== undefined;
  }

  /**
   * A call that began at `started` (monotonic) failed: an outage when the
   * error says so.
   *
   * @param started When the call began, by `performance.now()`.
   * @param error What it threw.
   */
  failed(started: number, error: unknown): void {
    if (!isOutage(error)) return;
    this.#outage = {
      from: this.#outage?.from ?? started,
      to: performance.now(),
      reported: this.#outage?.reported,
    };
  }

  /**
   * A call got through. Once the outage was reported, it is over. (Not at
   * the report itself, which may land while beats still fail, so that every
   * report runs from the first failure.)
   */
  succeeded(): void {
    if (this.#outage?.reported) this.#outage = undefined;
  }

  /**
   * When this process's outage began, by the database's clock.
   *
   * @returns The time, or null when there is none (or no clock yet).
   */
  ownOutageStart(): number | null {
    return this.#outage && this.#offset !== undefined
      ? this.#outage.from + this.#offset
      : null;
  }

  /**
   * Learns the database's clock from a reply's `now`.
   *
   * @param now The database's time in a reply.
   */
  learnClock(now: number): void {
    const offset = now - performance.now();
    if (
      this.#offset === undefined || offset > this.#offset ||
      offset < this.#offset - CLOCK_JUMP_MS
    ) this.#offset = offset;
  }

  /**
   * Now by the database's clock, as far as this process knows it.
   *
   * @returns The time, or null before any reply.
   */
  dbNow(): number | null {
    return this.#offset === undefined
      ? null
      : Math.round(performance.now() + this.#offset);
  }

  /**
   * Reports this process's failed calls to the env, as a window by the
   * database's clock, merged with the one stored: the evidence on which
   * rows that fell due meanwhile are graced.
   *
   * @param env The env.
   */
  async report(env: string): Promise<void> {
    const outage = this.#outage;
    if (!outage || this.#offset === undefined) return;
    await this.reportWindow(
      env,
      Math.round(outage.from + this.#offset),
      Math.round(outage.to + this.#offset),
    );
    outage.reported = true;
  }

  /**
   * Merges an outage window, by the database's clock, into the env's.
   *
   * @param env The env.
   * @param from Its start.
   * @param to Its end.
   */
  async reportWindow(env: string, from: number, to: number): Promise<void> {
    // It ends when the report lands, at the earliest: a report sent while
    // the database was frozen lands as it resumes, and the failures after
    // it was sent belong to the same window.
    await this.#pool.query(
      `update ${this.#tables.envs} set
         out_from = case when out_to >= $2::int8 then least(out_from, $2::int8)
                    else $2::int8 end,
         out_to = greatest(out_to, $3::int8, ${NOW_MS})
       where env = $1`,
      [env, from, to],
    );
  }
}

/**
 * The evidence of an outage: the server's own (when it last started, and
 * the env's last beat accepted before that: a row that expired after that
 * beat, less than its ttl after the start, fell due while no one could
 * beat), and the window clients reported (their calls failed from
 * `outFrom` to `outTo`). Also the env's freshest beat.
 *
 * @param db The transaction.
 * @param tables The schema's tables.
 * @param env The env.
 * @returns The evidence.
 */
export async function readOutageEvidence(
  db: Queryable,
  tables: Tables,
  env: string,
): Promise<OutageEvidence> {
  const [facts] = await rows(
    db,
    `select ${NOW_MS} as now,
       (extract(epoch from pg_postmaster_start_time()) * 1000)::int8 as started,
       e.out_from, e.out_to
     from (select 1) one
     left join ${tables.envs} e on e.env = $1`,
    [env],
  );
  const started = Number(facts!.started);
  const [last] = await rows(
    db,
    `select coalesce(max(heartbeat_at) filter (where heartbeat_at < $2), 0) as at,
       coalesce(max(heartbeat_at), 0) as freshest
     from ${tables.instances} where env = $1`,
    [env, started],
  );
  return {
    now: Number(facts!.now),
    started,
    lastBeat: Number(last!.at),
    freshest: Number(last!.freshest),
    outFrom: Number(facts!.out_from ?? 0),
    outTo: Number(facts!.out_to ?? 0),
  };
}

/** A lease that ran out: when, its ttl, and now (database clock). */
export interface Lapse {
  expires: number;
  ttl: number;
  now: number;
}

/**
 * Whether a lease that ran out is no crash: the beat was sent before it
 * ran out, however late it landed (the database was frozen or its table
 * locked: it landed within a ttl, or it waited itself, as the heartbeat's
 * update judges), or it ran out while its owner could not reach the
 * database (until it sent this beat, however long that was: the owner ran
 * all along), or in an outage the evidence shows.
 *
 * @param db The transaction.
 * @param tables The schema's tables.
 * @param env The env.
 * @param lapse The lease that ran out.
 * @param beat The beat that found it so.
 * @returns Whether the lapse is explained.
 */
export async function lapseExplained(
  db: Queryable,
  tables: Tables,
  env: string,
  lapse: Lapse,
  beat: Beat,
): Promise<boolean> {
  const { expires, ttl, now } = lapse;
  const { sent, own } = beat;
  if (sent !== null) {
    const waited = now - sent >= stallOf(ttl);
    if (sent <= expires && (now < expires + ttl || waited)) return true;
    if (own !== null && own <= expires) return true;
  }
  const { started, lastBeat, outFrom, outTo } = await readOutageEvidence(
    db,
    tables,
    env,
  );
  return (started + ttl > now && expires > lastBeat) ||
    (outFrom <= expires && expires <= outTo && now < outTo + ttl);
}

/**
 * Graces the lapses an outage explains, until a ttl after it: those that
 * fell due after the server's last start and the env's last beat before
 * it, and those inside a window clients reported.
 *
 * @param db The transaction.
 * @param tables The schema's tables.
 * @param env The env.
 * @param evidence The evidence, read in the same transaction.
 */
export async function graceExplainedLapses(
  db: Queryable,
  tables: Tables,
  env: string,
  evidence: OutageEvidence,
): Promise<void> {
  const { now, started, lastBeat, outFrom, outTo } = evidence;
  await db.query(
    `update ${tables.instances} set grace_until = $3::int8 + ttl
     where env = $1 and expires_at <= $2::int8 and grace_until = 0
       and $3::int8 + ttl > $2::int8 and expires_at > $4::int8`,
    [env, now, started, lastBeat],
  );
  // Fell due inside a window clients reported: a ttl after its end.
  await db.query(
    `update ${tables.instances} set grace_until = $4::int8 + ttl
     where env = $1 and expires_at <= $2::int8 and grace_until = 0
       and expires_at between $3::int8 and $4::int8
       and $4::int8 + ttl > $2::int8`,
    [env, now, outFrom, outTo],
  );
}
