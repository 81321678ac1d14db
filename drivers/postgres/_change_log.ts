/**
 * The PostgreSQL driver's change log: one row per change, at positions an
 * env's row hands out under its lock (so they commit in order), capped per
 * env, read by cursor (`epoch:position`). `NOTIFY` only wakes readers.
 *
 * @module
 */

import type {
  Change,
  ChangeBatch,
  ChangeReason,
} from "../../contract/driver.ts";
import { ChangeLogGapError } from "../../errors.ts";
import type { Instance } from "../../instance.ts";
import { type Queryable, rows } from "./_codec.ts";
import type { Tables } from "./_schema.ts";

/** How many changes each env's log keeps. */
const LOG_LENGTH = 10_000;
/** The change log is trimmed to LOG_LENGTH every this many changes. */
const TRIM_EVERY = 256;
/** The most changes one read returns. */
const READ_BATCH = 1_000;

/** A cursor, read: the env's epoch and a position in its log. */
export interface LogCursor {
  /** The cursor as given. */
  text: string;
  epoch: string;
  position: number;
}

/** An env's change log in a schema's tables. */
export class ChangeLog {
  readonly #tables: Tables;
  readonly #channel: string;

  /**
   * @param tables The schema's tables.
   * @param channel The channel that wakes readers.
   */
  constructor(tables: Tables, channel: string) {
    this.#tables = tables;
    this.#channel = channel;
  }

  /**
   * Appends a change, in the caller's transaction, which holds the env's
   * row lock; readers are woken at commit.
   *
   * @param db The transaction.
   * @param env The env.
   * @param change The change.
   */
  async record(db: Queryable, env: string, change: Change): Promise<void> {
    const t = this.#tables;
    const [recorded] = await rows(
      db,
      `with p as (
         update ${t.envs} set log_pos = log_pos + 1 where env = $1
         returning log_pos)
       insert into ${t.changes} (env, pos, type, reason, instance)
       select $1, log_pos, $2, $3, $4 from p returning pos`,
      [env, change.type, change.reason, JSON.stringify(change.instance)],
    );
    // Capped under any churn, not only when something expires.
    const pos = Number(recorded?.pos ?? 0);
    if (pos % TRIM_EVERY === 0) {
      await db.query(
        `delete from ${t.changes} where env = $1 and pos <= $2::int8`,
        [env, pos - LOG_LENGTH],
      );
    }
    // Delivered at commit; readers only use it to wake up.
    await db.query("select pg_notify($1, $2)", [this.#channel, env]);
  }

  /**
   * Reads a cursor.
   *
   * @param env The env, for the error.
   * @param cursor The cursor.
   * @returns Its epoch and position.
   * @throws {ChangeLogGapError} For a cursor that is not `epoch:position`.
   */
  parseCursor(env: string, cursor: string): LogCursor {
    const [epoch, positionText] = cursor.split(":");
    const position = Number(positionText);
    if (!epoch || !Number.isInteger(position) || position < 0) {
      throw new ChangeLogGapError(env, cursor);
    }
    return { text: cursor, epoch, position };
  }

  /**
   * The changes after a cursor, at most {@linkcode READ_BATCH}, and the
   * next cursor.
   *
   * @param db The pool or a client.
   * @param env The env.
   * @param cursor Where to read from.
   * @returns The changes, none when the log ends at the cursor.
   * @throws {ChangeLogGapError} When the changes after it are gone (trimmed,
   *   or the env's row was lost, with its epoch).
   */
  async read(
    db: Queryable,
    env: string,
    cursor: LogCursor,
  ): Promise<ChangeBatch> {
    const t = this.#tables;
    const { epoch, position } = cursor;
    const [head] = await rows(
      db,
      `select epoch, log_pos,
         (select min(pos) from ${t.changes} where env = $1) as first
       from ${t.envs} where env = $1`,
      [env],
    );
    if (!head || head.epoch !== epoch) {
      throw new ChangeLogGapError(env, cursor.text, { dataLost: true });
    }
    const end = Number(head.log_pos);
    const first = head.first == null ? end + 1 : Number(head.first);
    if (position > end || (position < end && position + 1 < first)) {
      throw new ChangeLogGapError(env, cursor.text);
    }
    if (position === end) return { changes: [], cursor: cursor.text };
    const found = await rows(
      db,
      `select pos, type, reason, instance from ${t.changes}
       where env = $1 and pos > $2 order by pos limit ${READ_BATCH}`,
      [env, position],
    );
    const last = found.at(-1);
    return {
      changes: found.map((row) => ({
        type: row.type as Change["type"],
        reason: row.reason as ChangeReason,
        instance: row.instance as Instance,
      })),
      cursor: `${epoch}:${last ? Number(last.pos) : position}`,
    };
  }
}
