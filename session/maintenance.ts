/**
 * Maintenance: an instance taken out of service by hand stays registered and
 * listed (status `maintenance`) but takes no work, and comes back by itself
 * once its ttl passes, so a tool that crashed cannot leave it out for ever.
 *
 * @module
 */

import type { Clock } from "../clock.ts";
import type { Duration } from "../duration.ts";

/** How long maintenance lasts when `setMaintenance` is given no ttl. */
export const DEFAULT_MAINTENANCE_TTL_MS = 3_600_000;

/** Options for {@linkcode Session.setMaintenance}. */
export interface MaintenanceOptions {
  /**
   * How long maintenance lasts unless turned off before: a tool that
   * crashed cannot leave it on for ever. One hour by default.
   */
  ttl?: Duration;
}

/** The timer that ends a maintenance whose ttl passed. */
export class MaintenanceTimer {
  readonly #clock: Clock;
  #timer: unknown;

  /**
   * Creates a timer that is not running.
   *
   * @param clock The clock the ttl runs on.
   */
  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /**
   * Starts the ttl, in place of any before it.
   *
   * @param ttl How long, in ms.
   * @param expired Called once the ttl passed, unless cancelled first.
   * @returns When it ends, on the clock's time.
   */
  start(ttl: number, expired: () => void): number {
    this.cancel();
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      expired();
    }, ttl);
    return this.#clock.now() + ttl;
  }

  /** Stops the ttl, if it runs. */
  cancel(): void {
    if (this.#timer === undefined) return;
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
