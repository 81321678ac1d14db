/**
 * Reads an env's changes from etcd's history: a watch from the cursor's
 * revision, its events turned into roster changes. A compacted revision,
 * one ahead of an etcd that restarted empty, or another epoch is a gap.
 *
 * @module
 */

import type { IKeyValue } from "etcd3";
import type {
  Change,
  ChangeBatch,
  ChangeReason,
} from "../../contract/driver.ts";
import { ChangeLogGapError } from "../../errors.ts";
import { decode, instanceOf, seqOf } from "./_codec.ts";
import type { Epoch } from "./_epoch.ts";
import type { EtcdClient } from "./options.ts";

/** How long a read gives the history after its cursor to arrive, in ms. */
const HISTORY_MS = 200;

/** What the reader needs of its driver. */
export interface HistoryReaderOptions {
  client: EtcdClient;
  /** The driver's key prefix. */
  prefix: string;
  epoch: Epoch;
  /** An env's keys of a kind: `i` instances, `d` tombstones. */
  key(env: string, kind: "i" | "d"): string;
}

/** The driver's reads of its envs' changes. */
export class HistoryReader {
  readonly #client: EtcdClient;
  readonly #prefix: string;
  readonly #epoch: Epoch;
  readonly #key: (env: string, kind: "i" | "d") => string;

  /** @param options What it needs of its driver. */
  constructor(options: HistoryReaderOptions) {
    this.#client = options.client;
    this.#prefix = options.prefix;
    this.#epoch = options.epoch;
    this.#key = options.key;
  }

  /**
   * Reads the env's changes after revision `cursor`, waiting up to `waitMs`
   * for the first.
   *
   * @param env The env.
   * @param cursor From `snapshot` or an earlier `changes`: the epoch it was
   *   read under, and a revision.
   * @param options The wait, and a signal that ends it.
   * @returns The changes and the revision to read on from.
   * @throws {ChangeLogGapError} When the history after `cursor` was
   *   compacted, or etcd restarted without it (a revision ahead of etcd's,
   *   or another epoch).
   */
  async changes(
    env: string,
    cursor: string,
    options: { waitMs: number; signal?: AbortSignal },
  ): Promise<ChangeBatch> {
    const [, mark = "", revision = ""] = /^(.*):(\d+)$/.exec(cursor) ?? [];
    if (!revision) throw new ChangeLogGapError(env, cursor);
    // Reading at the cursor's revision says whether its history is still
    // there: compacted, or ahead of an etcd that restarted without data.
    let head: bigint;
    try {
      const [answer, epoch] = await Promise.all([
        this.#client.get(`${this.#prefix}${env}/`).revision(revision).exec(),
        this.#epoch.mark(),
      ]);
      if (epoch !== mark) {
        this.#epoch.forget();
        throw new ChangeLogGapError(env, cursor, { dataLost: true });
      }
      head = BigInt(answer.header.revision);
    } catch (error) {
      if (error instanceof ChangeLogGapError) throw error;
      const message = (error as Error)?.message ?? "";
      if (/compacted/i.test(message)) throw new ChangeLogGapError(env, cursor);
      if (/future revision/i.test(message)) {
        this.#epoch.forget();
        throw new ChangeLogGapError(env, cursor, { dataLost: true });
      }
      throw error;
    }
    const from = BigInt(revision);
    if (from === head && options.waitMs <= 0) return { changes: [], cursor };
    const epoch = await this.#epoch.value();
    const watcher = this.#client.watch()
      .prefix(`${this.#prefix}${env}/`)
      .startRevision(String(from + 1n))
      .withPreviousKV()
      .watcher();
    return await new Promise<ChangeBatch>((resolve, reject) => {
      const changes: Change[] = [];
      let next = cursor;
      // History after the cursor arrives just after the watch is made; a
      // read that may not wait still gives it a moment.
      const timer = setTimeout(
        () => finish(),
        from < head ? Math.max(options.waitMs, HISTORY_MS) : options.waitMs,
      );
      const finish = (error?: unknown) => {
        clearTimeout(timer);
        options.signal?.removeEventListener("abort", stop);
        watcher.removeAllListeners();
        watcher.on("error", () => {});
        watcher.cancel().catch(() => {});
        if (error === undefined) resolve({ changes, cursor: next });
        else reject(error);
      };
      const stop = () => finish();
      watcher.on("data", (answer) => {
        this.#decodeEvents(env, epoch, answer.events, changes);
        const last = answer.events.at(-1);
        if (last) next = `${mark}:${last.kv.mod_revision}`;
        if (changes.length) finish();
      });
      watcher.on("error", (error: Error) =>
        finish(
          /compact/i.test(error.message)
            ? new ChangeLogGapError(env, cursor)
            : error,
        ));
      // etcd went away: it may come back without its data, and a watch
      // from a revision ahead of it waits in silence, so return now and
      // let the next read check the cursor again.
      watcher.on("disconnected", () => finish());
      options.signal?.addEventListener("abort", stop, { once: true });
      if (options.signal?.aborted) stop();
    });
  }

  /** etcd events to roster changes: the same revision's tombstone says why. */
  #decodeEvents(
    env: string,
    epoch: number,
    events: {
      type: "Put" | "Delete";
      kv: IKeyValue;
      prev_kv?: IKeyValue;
    }[],
    into: Change[],
  ): void {
    const instances = this.#key(env, "i");
    const tombstones = new Set(
      events.filter((e) =>
        e.type === "Put" &&
        e.kv.key.toString().startsWith(this.#key(env, "d"))
      ).map((e) =>
        `${e.kv.mod_revision}/${
          e.kv.key.toString().slice(this.#key(env, "d").length)
        }`
      ),
    );
    for (const event of events) {
      const name = event.kv.key.toString();
      if (!name.startsWith(instances)) continue;
      const id = name.slice(instances.length);
      if (event.type === "Put") {
        const stored = decode(event.kv);
        if (!stored) continue;
        const instance = instanceOf(
          env,
          id,
          stored,
          this.#epoch.saw(seqOf(event.kv, stored, epoch)),
        );
        if (event.kv.version === "1") {
          into.push({ type: "join", reason: stored.why, instance });
          continue;
        }
        const before = event.prev_kv && decode(event.prev_kv);
        if (before && before.status !== stored.status) {
          into.push({ type: "update", reason: "health", instance });
        }
        continue;
      }
      const before = event.prev_kv && decode(event.prev_kv);
      if (!before || !event.prev_kv) continue;
      const reason: ChangeReason =
        tombstones.has(`${event.kv.mod_revision}/${id}`)
          ? "deregistered"
          : "expired";
      into.push({
        type: "leave",
        reason,
        instance: instanceOf(
          env,
          id,
          before,
          seqOf(event.prev_kv, before, epoch),
        ),
      });
    }
  }
}
