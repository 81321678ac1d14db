/**
 * The etcd driver's epoch: a number added to etcd's revisions to make
 * `seq`s and terms, kept in one key. etcd restarted without its data, or
 * restored from an old snapshot, counts revisions from lower again; a new
 * or raised epoch keeps what the driver hands out above all it handed out
 * before, while any process that saw those runs.
 *
 * @module
 */

import type { EtcdClient } from "./options.ts";

/** One driver's knowledge of the epoch, and of the highest `seq` or term it saw. */
export class Epoch {
  readonly #client: EtcdClient;
  readonly #key: string;
  #value: Promise<number> | undefined;
  /** The highest `seq` or term this driver has seen: no epoch goes below. */
  #highest = 0;

  /**
   * @param client The client.
   * @param key The key the epoch lives in.
   */
  constructor(client: EtcdClient, key: string) {
    this.#client = client;
    this.#key = key;
  }

  /**
   * The epoch. A new one (etcd lost its data, or the key was deleted) is
   * microseconds since 1970, or the highest `seq` or term this driver has
   * seen if that is higher; one that would give terms below that is raised
   * to it. Read once, and again after {@linkcode Epoch.forget}.
   *
   * @returns The epoch.
   */
  value(): Promise<number> {
    this.#value ??= this.#read().catch((error) => {
      this.#value = undefined;
      throw error;
    });
    return this.#value;
  }

  async #read(): Promise<number> {
    const key = this.#key;
    const client = this.#client;
    const floor = Math.max(Date.now() * 1000, this.#highest);
    await client.if(key, "Version", "==", 0)
      .then(client.put(key).value(String(floor)))
      .commit();
    const answer = await client.get(key).exec();
    const [kv] = answer.kvs;
    const epoch = Number(kv?.value.toString());
    if (!kv || !Number.isSafeInteger(epoch)) {
      throw new Error(`etcd's '${key}' holds no epoch; try again`);
    }
    if (epoch + Number(answer.header.revision) >= this.#highest) return epoch;
    // An old snapshot came back (revisions went back), or a client with a
    // slow clock began the epoch: raise it above what was granted before.
    const raised = await client.if(key, "Mod", "==", kv.mod_revision)
      .then(client.put(key).value(String(this.#highest)))
      .commit();
    if (!raised.succeeded) {
      throw new Error(`etcd's '${key}' moved; try again`);
    }
    return this.#highest;
  }

  /** The key moved, or etcd lost its data: read the epoch again next time. */
  forget(): void {
    this.#value = undefined;
  }

  /**
   * Which epoch key there is now: its value and create revision, begun
   * where it is missing. etcd restarted without its data has a new one
   * (its revisions may have passed a cursor's again by then).
   *
   * @returns The mark a cursor carries.
   */
  async mark(): Promise<string> {
    let [kv] = (await this.#client.get(this.#key).exec()).kvs;
    if (!kv) {
      this.forget();
      await this.value();
      [kv] = (await this.#client.get(this.#key).exec()).kvs;
    }
    return kv ? `${kv.value.toString()}@${kv.create_revision}` : "";
  }

  /**
   * Whether `epoch` would give `seq`s and terms at or below ones seen
   * already: etcd's revisions went back (an old snapshot came back), or
   * the epoch was begun again by a slow clock. Then the epoch is read
   * again, and raised.
   *
   * @param epoch The epoch a write would use.
   * @param revision etcd's revision now.
   * @returns Whether it is below what was seen.
   */
  belowSeen(epoch: number, revision: string): boolean {
    if (epoch + Number(revision) >= this.#highest) return false;
    this.forget();
    return true;
  }

  /**
   * Notes a `seq` or term seen, so no later epoch goes below it.
   *
   * @param value The `seq` or term.
   * @returns The same value.
   */
  saw(value: number): number {
    if (value > this.#highest) this.#highest = value;
    return value;
  }
}
