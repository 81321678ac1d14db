/**
 * The etcd driver's options, and the client it runs on.
 *
 * @module
 */

import type { Etcd3 } from "etcd3";

/** etcd's smallest lease, in seconds, with its default election timeout. */
export const MIN_LEASE_SECONDS = 2;

/** An etcd3 client. */
export type EtcdClient = Etcd3;

/** Options for {@linkcode EtcdDriver}. */
export interface EtcdDriverOptions {
  /** Prepended to every key. Default `roster/`. */
  prefix?: string;
  /**
   * How long one request may take, in ms; a lease keep-alive too, which
   * etcd3 sends on a stream without a deadline. Default 5,000.
   */
  requestTimeout?: number;
}

/** Options for {@linkcode EtcdDriver.connect}. */
export interface EtcdConnectOptions extends EtcdDriverOptions {
  /** The client URLs, such as `["http://127.0.0.1:2379"]`. */
  endpoints?: string[];
  /** A user and password, when etcd's auth is on. */
  auth?: { username: string; password: string };
}
