/**
 * The etcd driver, on `npm:etcd3`: each registration is a key held by a
 * lease, so etcd itself expires it; `seq` is the key's create revision,
 * and a term the revision of the write that grants it, both plus an epoch
 * that restarts higher if etcd loses its data; watchers read etcd's history
 * from a revision.
 *
 * ```ts ignore
 * import { Registry } from "@roster/roster";
 * import { EtcdDriver } from "@roster/roster/etcd";
 *
 * const driver = await EtcdDriver.connect({ endpoints: ["http://127.0.0.1:2379"] });
 * await using registry = new Registry({ driver, service: "api", ttl: "6s" });
 * await registry.start();
 * ```
 *
 * What etcd decides, and what that costs:
 *
 * - **Expiry is the lease's.** Lease TTLs are whole seconds, at least etcd's
 *   minimum (about 2 s with default election timeouts): a ttl is rounded up
 *   to that, and an instance's `expiresAt` reports it. etcd's leader revokes
 *   expired leases about twice a second, so a crashed instance is listed at
 *   most about 0.5 s past its ttl.
 * - **A heartbeat writes nothing**: a lease keep-alive and, sent at the
 *   same time, a read of the key (is it still held by that lease?), as
 *   etcd's own `concurrency.Session` keeps a lease. etcd's history, and its
 *   watchers, see a registration, a status change and a removal, never a
 *   beat. So etcd records no beat time: a listing reports the time it read
 *   an instance alive as its `heartbeatAt` (`limitations.beatTimesUnrecorded`).
 * - **A freeze of etcd longer than the ttl expires the living**: as it
 *   resumes, etcd revokes the leases it did not hear from, and refuses to
 *   renew them. A key deleted by hand is gone at once too. Either reaches
 *   watchers as a leave; each owner that kept running puts its key back
 *   within an interval under the same `seq` (`limitations.dropsLiveEntries`).
 * - **A restart of etcd renews every lease** by its ttl as it comes back:
 *   an instance that died within a ttl before is listed until a ttl after
 *   etcd is back (`limitations.restartRenewsLeases`).
 * - **`seq` and terms** are etcd revisions plus an epoch. Each key keeps the
 *   epoch it was written under (and a key put back keeps its `seq`), so a
 *   deleted or raised epoch changes no `seq`. A driver never sets an epoch
 *   below the highest `seq` or term it has seen: terms rise across data
 *   loss and a restore from an old snapshot while any process that saw the
 *   old ones runs. A registration that kept beating and finds its key
 *   and its service's term record gone (etcd lost its data) holds back
 *   grants of its service for a lease (a key under a lease nothing
 *   renews), since the leader may still count on the lost term. A process
 *   new since the loss cannot tell it from a new etcd: see the README.
 * - **Changes** are etcd's history, read from a revision with a watch. A
 *   compacted revision, or one ahead of a restarted-empty etcd, is a gap
 *   that the change feed resolves with a snapshot. A deregistration writes a
 *   tombstone key in the same transaction as its delete, so a reader tells
 *   it from a lease's expiry.
 * - **No messages**: etcd has no pub/sub, so `broadcast` and `send` fail
 *   saying the driver has no messaging.
 *
 * @module
 */

import { ownerDigest } from "../../contract/owner_digest.ts";
import { noop } from "cockatiel";
import { Etcd3, type Lease } from "etcd3";
import type {
  BackendStatus,
  ChangeBatch,
  Driver,
  HeartbeatResult,
  ListQuery,
  Registration,
  RegistrationKey,
  Snapshot,
} from "../../contract/driver.ts";
import { AlreadyRegisteredError } from "../../errors.ts";
import { type Instance, takesWork } from "../../instance.ts";
import {
  decode,
  instanceOf,
  leaseSeconds,
  seqOf,
  type Stored,
  type TermHolder,
  termOf,
} from "./_codec.ts";
import { Epoch } from "./_epoch.ts";
import { HistoryReader } from "./_history_reader.ts";
import type {
  EtcdClient,
  EtcdConnectOptions,
  EtcdDriverOptions,
} from "./options.ts";

export {
  type EtcdClient,
  type EtcdConnectOptions,
  type EtcdDriverOptions,
  MIN_LEASE_SECONDS,
} from "./options.ts";

/** What this process holds for a registration it wrote. */
interface KeptLease {
  lease: Lease;
  leaseId: string;
  /** The owner token's digest, as the key holds it. */
  owner: string;
  seq: number;
  registeredAt: number;
  status: Registration["status"];
  /** When this process last tried to beat, by its monotonic clock. */
  triedAt: number;
  /** Deregistered: a beat after it registers anew. */
  removed?: boolean;
}

/** One registration's write in progress: what `#create` tries with. */
interface KeyWrite {
  registration: Registration;
  why: Stored["why"];
  /** Beat within a ttl of the last try: a lost key is put back. */
  keptBeating: boolean;
  key: string;
  /** The owner token's digest, as the key holds it. */
  owner: string;
  /** What this process held for the registration before. */
  previous: KeptLease | undefined;
  lease: Lease;
  leaseId: string;
  /** When the write began, by this process's clock. */
  now: number;
  /** The lease of the grant hold key, once one was granted. */
  quietLease?: string;
}

/**
 * A registry backend on etcd.
 *
 * @example
 * ```ts ignore
 * import { EtcdDriver } from "@roster/roster/etcd";
 *
 * const driver = await EtcdDriver.connect({ endpoints: ["http://127.0.0.1:2379"] });
 * console.log(await driver.services("default"));
 * await driver.close();
 * ```
 */
export class EtcdDriver implements Driver {
  /** Always `"etcd"`. */
  readonly name = "etcd";
  /** See the module's documentation. */
  readonly limitations = {
    beatTimesUnrecorded: true,
    dropsLiveEntries: true,
    restartRenewsLeases: true,
  } as const;
  /** The client this driver talks through. */
  readonly client: EtcdClient;
  /** The key prefix. */
  readonly prefix: string;
  #owned = false;
  readonly #requestTimeout: number;
  readonly #epoch: Epoch;
  readonly #history: HistoryReader;
  readonly #kept = new WeakMap<Registration, KeptLease>();
  readonly #leases = new Map<string, KeptLease>();

  /**
   * Wraps an etcd3 client you already have; closing the driver leaves it
   * open.
   *
   * @param client An `Etcd3` client.
   * @param options The key prefix and the request timeout.
   */
  constructor(client: EtcdClient, options: EtcdDriverOptions = {}) {
    this.client = client;
    this.prefix = options.prefix ?? "roster/";
    this.#requestTimeout = options.requestTimeout ?? 5_000;
    this.#epoch = new Epoch(client, `${this.prefix}epoch`);
    this.#history = new HistoryReader({
      client,
      prefix: this.prefix,
      epoch: this.#epoch,
      key: (env, kind) => this.#key(env, kind),
    });
  }

  /**
   * Connects a client of the driver's own, which `close()` ends.
   *
   * @param options The endpoints, credentials and key prefix.
   * @returns The driver, once etcd answered.
   * @throws {Error} When etcd cannot be reached, in one line.
   */
  static async connect(options: EtcdConnectOptions = {}): Promise<EtcdDriver> {
    const endpoints = options.endpoints ?? ["http://127.0.0.1:2379"];
    const client = new Etcd3({
      hosts: endpoints,
      auth: options.auth,
      // No retries and no circuit breaker: roster's heartbeat loop and change
      // feed retry with backoff of their own, and a breaker would keep
      // failing calls for seconds after etcd is back.
      faultHandling: { host: () => noop, global: noop },
      // gRPC waits up to 120 s between reconnections by default: an etcd
      // that came back is tried again within a request timeout instead.
      grpcOptions: {
        "grpc.initial_reconnect_backoff_ms": 100,
        "grpc.max_reconnect_backoff_ms": options.requestTimeout ?? 5_000,
      },
      dialTimeout: options.requestTimeout ?? 5_000,
      // Unary calls get a deadline; a watch stream lasts as long as needed.
      defaultCallOptions: (context) =>
        context.isStream
          ? {}
          : { deadline: Date.now() + (options.requestTimeout ?? 5_000) },
    });
    const driver = new EtcdDriver(client, options);
    driver.#owned = true;
    try {
      await client.get(`${driver.prefix}probe`).exec();
    } catch (error) {
      client.close();
      throw new Error(
        `Cannot connect to etcd at ${endpoints.join(",")}: ${
          (error as Error)?.message ?? error
        }`,
        { cause: error },
      );
    }
    return driver;
  }

  #key(env: string, kind: "i" | "d" | "t" | "q", name = ""): string {
    return `${this.prefix}${env}/${kind}/${name}`;
  }

  /**
   * Registers, or refreshes an entry this owner holds.
   *
   * @param registration The registration.
   * @returns The stored instance.
   * @throws {AlreadyRegisteredError} When another live owner holds the id.
   */
  async register(registration: Registration): Promise<Instance> {
    return (await this.#create(registration, "registered")).instance;
  }

  /**
   * Keeps the lease alive and, at the same time, reads the key: no write.
   * A lease etcd revoked, or a key gone or held by another lease, is
   * written again.
   *
   * @param registration The registration.
   * @returns The instance, and whether it was created again.
   * @throws {AlreadyRegisteredError} When another live owner holds the id.
   */
  async heartbeat(registration: Registration): Promise<HeartbeatResult> {
    const kept = this.#kept.get(registration);
    // Tried within a ttl of the last try: this process kept running, and
    // a lease etcd dropped meanwhile is put back under its seq.
    const triedAt = performance.now();
    const keptBeating = kept !== undefined && !kept.removed &&
      triedAt - kept.triedAt < registration.ttl;
    if (kept) kept.triedAt = triedAt;
    if (!kept || kept.status !== registration.status) {
      return await this.#create(registration, "reregistered", { keptBeating });
    }
    const key = this.#key(registration.env, "i", registration.id);
    const beatAt = Date.now();
    const { term } = registration;
    const [alive, [kv], termHeld] = await Promise.all([
      this.#keepAlive(kept.lease),
      this.client.get(key).exec().then((answer) => answer.kvs),
      term === undefined
        ? undefined
        : this.#leadsTerm(registration, kept, term),
    ]);
    const stored = kv && decode(kv);
    if (!alive || !stored || String(kv.lease) !== kept.leaseId) {
      const result = await this.#create(registration, "reregistered", {
        keptBeating,
      });
      return term === undefined ? result : { ...result, termHeld: false };
    }
    return {
      instance: instanceOf(
        registration.env,
        registration.id,
        stored,
        kept.seq,
        beatAt,
      ),
      reregistered: false,
      ...(termHeld === undefined ? {} : { termHeld }),
    };
  }

  /**
   * Renews a lease once: whether etcd still holds it. A keep-alive rides a
   * stream without a deadline: one that does not answer within the
   * request timeout counts as not renewed, so the next beat is not kept up
   * behind it.
   */
  async #keepAlive(lease: Lease): Promise<boolean> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      return await Promise.race([
        lease.keepaliveOnce().then((answer) => Number(answer.TTL) > 0),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), this.#requestTimeout);
        }),
      ]);
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Whether etcd still names this registration leader of `term`. A leader
   * key lost with etcd's data names no one: the leadership ends, and the
   * next grant takes a higher term.
   */
  async #leadsTerm(
    registration: Registration,
    kept: KeptLease,
    term: number,
  ): Promise<boolean> {
    const termKey = this.#key(registration.env, "t", registration.service);
    const [last] = (await this.client.get(termKey).exec()).kvs;
    const holder = last && decode<TermHolder>(last);
    if (!last || !holder) return false;
    const legacy = holder.epoch ?? await this.#epoch.value();
    return holder.id === registration.id && holder.seq === kept.seq &&
      termOf(last, holder, legacy) === term;
  }

  /** What the key holds for `registration`; `owner` is its digest. */
  #stored(
    registration: Registration,
    owner: string,
    registeredAt: number,
    beatAt: number,
    why: Stored["why"],
  ): Stored {
    return {
      service: registration.service,
      owner,
      registeredAt,
      beatAt,
      ttl: registration.ttl,
      interval: registration.heartbeatInterval,
      status: registration.status,
      version: registration.version,
      addr: registration.addr,
      hostname: registration.hostname,
      pid: registration.pid,
      meta: registration.meta,
      weight: registration.weight ?? 100,
      why,
    };
  }

  /** A lease of `ttl` that nothing keeps alive: etcd ends it by its clock. */
  async #quietLease(ttl: number): Promise<string> {
    const lease = this.client.lease(leaseSeconds(ttl), {
      autoKeepAlive: false,
    });
    lease.on("lost", () => {});
    const id = await lease.grant();
    // Only the grant was wanted; drop the handle so no timer is left behind.
    lease.release();
    return id;
  }

  /**
   * Creates the key under a new lease, or, when this owner already holds
   * it, moves it to the new lease keeping its `seq`. A key etcd dropped
   * while this process kept beating (a freeze, lost data) is put back under
   * its `seq`; one dropped while this process was paused past its ttl gets
   * a new one.
   */
  async #create(
    registration: Registration,
    why: Stored["why"],
    options: { keptBeating?: boolean } = {},
  ): Promise<HeartbeatResult> {
    const lease = this.client.lease(leaseSeconds(registration.ttl), {
      autoKeepAlive: false,
    });
    lease.on("lost", () => {});
    const write: KeyWrite = {
      registration,
      why,
      keptBeating: options.keptBeating ?? false,
      key: this.#key(registration.env, "i", registration.id),
      owner: ownerDigest(registration.owner),
      previous: this.#kept.get(registration),
      lease,
      leaseId: await lease.grant(),
      now: Date.now(),
    };
    try {
      for (let attempt = 0; attempt < 5; attempt++) {
        const result = await this.#tryCreate(write);
        if (result) return result;
      }
      throw new Error(
        `'${registration.id}' changed under every attempt to write it`,
      );
    } catch (error) {
      lease.revoke().catch(() => {});
      throw error;
    }
  }

  /**
   * One compare-and-write of `#create`: undefined when the key or the epoch
   * moved meanwhile, so the caller tries again.
   */
  async #tryCreate(write: KeyWrite): Promise<HeartbeatResult | undefined> {
    const { registration, why, key, owner, now } = write;
    const { env, id } = registration;
    const epoch = await this.#epoch.value();
    const termKey = this.#key(env, "t", registration.service);
    // A key written again: is its service's term record gone too? Read in
    // the same round trip.
    const [answer, term] = await Promise.all([
      this.client.get(key).exec(),
      why === "reregistered"
        ? this.client.get(termKey).exec().then((a) => a.kvs)
        : undefined,
    ]);
    if (this.#epoch.belowSeen(epoch, answer.header.revision)) return undefined;
    const [current] = answer.kvs;
    const stored = current && decode(current);
    if (current && stored && stored.owner !== owner) {
      throw new AlreadyRegisteredError(id, env);
    }
    const putBack = !current && write.keptBeating ? write.previous : undefined;
    const registeredAt = current && stored
      ? stored.registeredAt
      : putBack?.registeredAt ?? now;
    const fresh = {
      ...this.#stored(registration, owner, registeredAt, now, why),
      epoch: stored?.epoch ?? epoch,
      ...(stored?.seq !== undefined ? { seq: stored.seq } : {}),
      ...(putBack ? { seq: putBack.seq } : {}),
    };
    const writes = [
      this.client.put(key).value(JSON.stringify(fresh)).lease(write.leaseId),
    ];
    if (putBack && term?.length === 0) {
      // Its key and its service's term record were lost while it kept
      // beating (etcd lost its data): the leader that term named may still
      // count its lease, so grants of the service wait a lease, by etcd's
      // clock. (A key lost alone, as to a freeze, leaves the term record,
      // which guards grants itself.)
      write.quietLease ??= await this.#quietLease(registration.ttl);
      writes.push(
        this.client.put(this.#key(env, "q", registration.service))
          .value(String(now)).lease(write.quietLease),
      );
    }
    const result = await this.client
      .if(key, "Mod", "==", current ? current.mod_revision : 0)
      .and(`${this.prefix}epoch`, "Value", "==", String(epoch))
      .then(...writes)
      .commit();
    if (!result.succeeded) {
      // The key moved, or etcd lost its data (and its epoch) meanwhile.
      this.#epoch.forget();
      return undefined;
    }
    const seq = this.#epoch.saw(
      fresh.seq ??
        fresh.epoch +
          Number(current ? current.create_revision : result.header.revision),
    );
    this.#keep(write, seq, registeredAt);
    return {
      instance: instanceOf(env, id, fresh, seq),
      reregistered: !current && !putBack && why === "reregistered",
    };
  }

  /** Keeps a written registration's lease, revoking the one it replaced. */
  #keep(write: KeyWrite, seq: number, registeredAt: number): void {
    const { previous, lease, leaseId, owner, registration } = write;
    if (previous && previous.leaseId !== leaseId) {
      this.#leases.delete(previous.leaseId);
      previous.lease.revoke().catch(() => {});
    }
    const kept = {
      lease,
      leaseId,
      owner,
      seq,
      registeredAt,
      status: registration.status,
      triedAt: performance.now(),
    };
    this.#kept.set(registration, kept);
    this.#leases.set(leaseId, kept);
  }

  /**
   * Removes a registration if `key.owner` holds it, with a tombstone that
   * tells readers it left on purpose.
   *
   * @param key The registration and its owner.
   * @returns Whether an entry was removed.
   */
  async deregister(key: RegistrationKey): Promise<boolean> {
    const name = this.#key(key.env, "i", key.id);
    const [current] = (await this.client.get(name).exec()).kvs;
    const stored = current && decode(current);
    if (!current || !stored || stored.owner !== ownerDigest(key.owner)) {
      return false;
    }
    const tombstone = this.#key(key.env, "d", key.id);
    const result = await this.client
      .if(name, "Mod", "==", current.mod_revision)
      .then(
        this.client.delete().key(name),
        this.client.put(tombstone).value(current.create_revision),
      )
      .commit();
    if (!result.succeeded) return false;
    await this.client.delete().key(tombstone).exec().catch(() => {});
    const kept = this.#leases.get(String(current.lease));
    if (kept) {
      kept.removed = true;
      this.#leases.delete(String(current.lease));
      await kept.lease.revoke().catch(() => {});
    }
    return true;
  }

  /**
   * The env's live instances; each one's owner and create revision, for a
   * campaign's compare; and the revision they were read at. Read alive now:
   * each instance's `heartbeatAt` is this read's time.
   */
  async #read(
    env: string,
  ): Promise<{
    instances: Instance[];
    owners: Map<string, string>;
    created: Map<string, string>;
    revision: string;
  }> {
    const answer = await this.client.getAll().prefix(this.#key(env, "i"))
      .exec();
    const readAt = Date.now();
    const instances: Instance[] = [];
    const owners = new Map<string, string>();
    const created = new Map<string, string>();
    const read = answer.kvs.flatMap((kv) => {
      const stored = decode(kv);
      return stored ? [{ kv, stored }] : [];
    });
    // The shared epoch only for keys written before keys kept theirs.
    const legacy =
      read.some(({ stored }) =>
          stored.seq === undefined && stored.epoch === undefined
        )
        ? await this.#epoch.value()
        : 0;
    for (const { kv, stored } of read) {
      const id = kv.key.toString().slice(this.#key(env, "i").length);
      owners.set(id, stored.owner);
      created.set(id, kv.create_revision);
      const seq = this.#epoch.saw(seqOf(kv, stored, legacy));
      instances.push(instanceOf(env, id, stored, seq, readAt));
    }
    instances.sort((a, b) => a.seq - b.seq);
    return { instances, owners, created, revision: answer.header.revision };
  }

  /**
   * Lists live instances, oldest first: the keys etcd still holds.
   *
   * @param query The env and services.
   * @returns The live instances.
   */
  async list(query: ListQuery): Promise<Instance[]> {
    const { instances } = await this.#read(query.env);
    const wanted = query.services?.length ? new Set(query.services) : null;
    return wanted
      ? instances.filter((instance) => wanted.has(instance.service))
      : instances;
  }

  /**
   * Lists the services with live instances.
   *
   * @param env The env.
   * @returns Sorted names.
   */
  async services(env: string): Promise<string[]> {
    const { instances } = await this.#read(env);
    return [...new Set(instances.map((i) => i.service))].sort();
  }

  /**
   * Lists the envs with live instances: those with a key under a lease
   * (etcd deletes a key when its lease runs out).
   *
   * @returns Sorted names.
   */
  async envs(): Promise<string[]> {
    const keys = await this.client.getAll().prefix(this.prefix).keys();
    const names = new Set<string>();
    for (const key of keys) {
      const match = /^([\w.-]+)\/i\/[\w.-]+$/.exec(
        key.slice(this.prefix.length),
      );
      if (match) names.add(match[1]!);
    }
    return [...names].sort();
  }

  /**
   * Nothing to do: etcd revokes expired leases, and their keys, itself.
   *
   * @param _env The env.
   * @returns Undefined: the caller's own period suits.
   */
  purge(_env: string): Promise<undefined> {
    return Promise.resolve(undefined);
  }

  /**
   * The live instances and the revision they were read at.
   *
   * @param env The env.
   * @returns The instances and the cursor.
   */
  async snapshot(env: string): Promise<Snapshot> {
    // The epoch first: data lost between the two reads then shows as a
    // changed epoch at the next read of changes.
    const epoch = await this.#epoch.mark();
    const { instances, revision } = await this.#read(env);
    return { instances, cursor: `${epoch}:${revision}` };
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
  changes(
    env: string,
    cursor: string,
    options: { waitMs: number; signal?: AbortSignal },
  ): Promise<ChangeBatch> {
    return this.#history.changes(env, cursor, options);
  }

  /**
   * Grants leadership of its service to `registration`, if it is the
   * oldest live, healthy instance and no other leader still holds it, nor
   * may still count on a record etcd lost: for a lease after an instance
   * that kept beating found its key and the term record gone, grants
   * wait. The
   * term is the revision of the write that grants it plus the epoch, which
   * is first raised above the last term if that is higher: terms only
   * rise.
   *
   * @param registration The registration that asks to lead.
   * @returns The term, or undefined.
   */
  async campaign(registration: Registration): Promise<number | undefined> {
    const { env, service, id } = registration;
    const termKey = this.#key(env, "t", service);
    const quietKey = this.#key(env, "q", service);
    const [{ instances, owners, created, revision }, [last], cached, quiet] =
      await Promise.all([
        this.#read(env),
        this.client.get(termKey).exec().then((answer) => answer.kvs),
        this.#epoch.value(),
        this.client.get(quietKey).exec().then((answer) => answer.kvs),
      ]);
    if (quiet.length > 0) return undefined;
    const self = instances.find((i) => i.id === id);
    const createdAt = created.get(id);
    if (
      !self || !createdAt ||
      owners.get(id) !== ownerDigest(registration.owner) ||
      !takesWork(self) || self.service !== service
    ) return undefined;
    const oldest = instances.find((i) => i.service === service && takesWork(i));
    if (oldest?.id !== id) return undefined;
    const holder = last ? decode<TermHolder>(last) : undefined;
    if (last && holder) this.#epoch.saw(termOf(last, holder, cached));
    let epoch = cached;
    if (this.#epoch.belowSeen(epoch, revision)) {
      epoch = await this.#epoch.value();
    }
    if (holder?.id && holder.id !== id) {
      const other = instances.find((i) => i.id === holder.id);
      if (other && other.seq === holder.seq && takesWork(other)) {
        return undefined;
      }
    }
    const granted: TermHolder = { id, seq: self.seq, epoch };
    const result = await this.client
      .if(termKey, "Mod", "==", last ? last.mod_revision : 0)
      .and(this.#key(env, "i", id), "Create", "==", createdAt)
      .and(quietKey, "Version", "==", 0)
      .and(`${this.prefix}epoch`, "Value", "==", String(epoch))
      .then(this.client.put(termKey).value(JSON.stringify(granted)))
      .commit();
    if (!result.succeeded) {
      // Another grant, a lost key, or a changed epoch: read afresh next time.
      this.#epoch.forget();
      return undefined;
    }
    return this.#epoch.saw(epoch + Number(result.header.revision));
  }

  /**
   * Ends leadership `term`, if `registration` still holds it.
   *
   * @param registration The leader's registration.
   * @param term Its term.
   */
  async resign(registration: Registration, term: number): Promise<void> {
    const termKey = this.#key(registration.env, "t", registration.service);
    const [[last], epoch] = await Promise.all([
      this.client.get(termKey).exec().then((answer) => answer.kvs),
      this.#epoch.value(),
    ]);
    const holder = last && decode<TermHolder>(last);
    if (!last || !holder || termOf(last, holder, epoch) !== term) return;
    if (holder.id !== registration.id) return;
    const ended: TermHolder = { id: null, seq: null, epoch: holder.epoch };
    await this.client
      .if(termKey, "Mod", "==", last.mod_revision)
      .then(this.client.put(termKey).value(JSON.stringify(ended)))
      .commit();
  }

  /**
   * Describes the server and an env.
   *
   * @param env The env.
   * @returns The version, this process's clock (etcd shows none), the env's
   *   keys and the current revision.
   */
  async status(env: string): Promise<BackendStatus> {
    const [state, keys] = await Promise.all([
      this.client.maintenance.status({}),
      this.client.getAll().prefix(`${this.prefix}${env}/`).count(),
    ]);
    return {
      server: `etcd ${state.version}`,
      target: "the client's endpoints",
      time: Date.now(),
      entries: keys,
      changeLogLength: Number(state.header.revision),
    };
  }

  /** Revokes nothing (leases expire by themselves); ends an owned client. */
  close(): Promise<void> {
    if (this.#owned) this.client.close();
    return Promise.resolve();
  }
}

// The contract's types this module's API names, so its documentation is
// complete on its own.
export type * from "../../contract/contract_types.ts";
