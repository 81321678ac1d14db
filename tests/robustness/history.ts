/**
 * What the robustness harness records: the ground truth it caused (when each
 * process ran, was paused, killed or stopped; when each backend fault
 * began and ended) and everything the processes observed, each with the
 * real time it happened (`Date.now()` of this machine, which every process
 * here shares).
 *
 * @module
 */

/** The settings a run used; the checker's slack comes from them. */
export interface RunSettings {
  /** The ttl every member registers with, in ms. */
  ttl: number;
  /** Their heartbeat interval, in ms. */
  interval: number;
  /** Their heartbeat timeout, in ms. */
  heartbeatTimeout: number;
  /** The service the members register as. */
  service: string;
  /**
   * How much after its ttl the backend may expire an entry, in ms (etcd
   * revokes expired leases about twice a second): a fault that began
   * within it began before the backend expired the entry.
   */
  expiryLagMs?: number;
}

/** What the harness did to a process, and when. */
export type ProcessFact =
  | { t: number; node: string; kind: "started" }
  | { t: number; node: string; kind: "paused" }
  | { t: number; node: string; kind: "resumed" }
  | { t: number; node: string; kind: "killed" }
  /** Asked to stop (or drain): from here it may leave. */
  | { t: number; node: string; kind: "stopping" }
  /** Its status set by hand or a health check: takes work or not. */
  | { t: number; node: string; kind: "status"; takesWork: boolean };

/** A window in which the backend misbehaved on purpose. */
export interface FaultWindow {
  /** Its name, for the report. */
  name: string;
  from: number;
  to: number;
  /**
   * Whether a listing may miss live instances in it and for one interval
   * after it (a freeze, a restart, an old snapshot, lost keys: entries
   * wait for their next beat); otherwise (a write pause) a listing must
   * fail or be complete.
   */
  excusesMissing: boolean;
  /**
   * The driver declares that the backend drops live entries in this fault
   * (`limitations.dropsLiveEntries`, etcd's freeze and lost keys): a
   * running process may be reported `leave` in it or just after, provided
   * the same watcher sees it join again under the same seq within one
   * interval (plus a heartbeat timeout and a second) of its end.
   */
  expiresLiving?: boolean;
  /**
   * The driver declares that the backend renews every lease by its ttl as
   * it comes back from this fault (`limitations.restartRenewsLeases`,
   * etcd's restart): an instance whose lease ran when the fault began may
   * be shown, by any observer, until a ttl, the renewal's extra (etcd's
   * election timeout, 1 s) and a second after its end.
   */
  renewsLeases?: boolean;
}

/** What a member process reported of itself. */
export type MemberReport =
  | { t: number; node: string; kind: "registered"; seq: number }
  | { t: number; node: string; kind: "reregistered"; seq: number }
  /** A campaign the backend granted: sent and answered. */
  | {
    t: number;
    node: string;
    kind: "granted";
    term: number;
    sentAt: number;
  };

/** One write to the fenced register, made right after `valid()` said yes. */
export interface FencedWrite {
  node: string;
  term: number;
  /** `Date.now()` just before `valid()` was called. */
  checkedFrom: number;
  /** `Date.now()` just after it returned true. */
  checkedTo: number;
  /** When the register received it. */
  t: number;
  /** Whether the register accepted it (its term was not below the highest). */
  accepted: boolean;
}

/** One instance as an observer saw it. */
export interface Seen {
  id: string;
  seq: number;
}

/**
 * What an observer saw. `sentAt`..`t` brackets the moment the answer was
 * true; for a watcher's own view both are the same moment.
 */
export interface Observation {
  /** Who observed: a watcher or the cold observer. */
  node: string;
  /** `list`, `waitFor`, `quorum`, `leader`, `view` (a watcher's state). */
  op: string;
  sentAt: number;
  t: number;
  /** False when the call failed: a failed call claims nothing. */
  ok: boolean;
  /** The instances it showed (takes-work ones for list-type calls). */
  seen: Seen[];
  /** Whether `seen` claims to be every live instance that takes work. */
  complete: boolean;
  /**
   * Whether it came from a view that follows changes (a watcher's state,
   * a cached listing) rather than a read of the backend.
   */
  fromView: boolean;
}

/** One watch event, as a watcher received it. */
export interface WatchRecord {
  node: string;
  t: number;
  type: "join" | "update" | "leave";
  reason: string;
  id: string;
  seq: number;
  status: string;
}

/** The last state of each watcher once things settled, and the truth. */
export interface Settled {
  /** `id:seq:status`, sorted, per watcher. */
  watchers: Record<string, string[]>;
  /** `id:seq:status` of every live instance, sorted, read cold. */
  truth: string[];
}

/** Everything one run recorded. */
export interface History {
  settings: RunSettings;
  facts: ProcessFact[];
  faults: FaultWindow[];
  members: MemberReport[];
  writes: FencedWrite[];
  observations: Observation[];
  watches: WatchRecord[];
  settled?: Settled;
  /** When the schedule ended (the last fault over, nodes left to settle). */
  endedAt: number;
}
