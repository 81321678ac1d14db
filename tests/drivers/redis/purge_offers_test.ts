/**
 * When heartbeats offer to purge: once per ttl (every 5 s at most) while
 * offers find work, less and less often (to once a minute) while they find
 * none, and once per ttl again as soon as one does.
 */

import assert from "node:assert/strict";
import {
  MAX_OFFER_EVERY_MS,
  MIN_OFFER_EVERY_MS,
  PurgeOffers,
} from "../../../drivers/redis/_purge_offers.ts";

/** PurgeOffers on a clock the test moves, and the ms until the next offer. */
function offersAt(ttl: number) {
  let now = 0;
  const offers = new PurgeOffers(() => now);
  return {
    offers,
    /** Moves the clock to the next offer; returns how far it moved. */
    untilNextOffer(): number {
      const from = now;
      while (!offers.due("e", ttl)) now += 100;
      offers.purging("e");
      return now - from;
    },
  };
}

Deno.test("the first beat only starts the count; the first offer comes a ttl later, 5 s at least", () => {
  const short = offersAt(1_000);
  assert.equal(short.offers.due("e", 1_000), false);
  assert.equal(short.untilNextOffer(), MIN_OFFER_EVERY_MS);
  const long = offersAt(20_000);
  assert.equal(long.offers.due("e", 20_000), false);
  assert.equal(long.untilNextOffer(), 20_000);
});

Deno.test("offers that find nothing to purge come twice as far apart each time, to once a minute", () => {
  const { offers, untilNextOffer } = offersAt(1_000);
  offers.due("e", 1_000);
  const gaps = [untilNextOffer()];
  for (let i = 0; i < 6; i++) {
    offers.offered("e", 1_000, false);
    gaps.push(untilNextOffer());
  }
  assert.deepEqual(gaps, [
    5_000,
    10_000,
    20_000,
    40_000,
    60_000,
    60_000,
    60_000,
  ]);
  assert.equal(MAX_OFFER_EVERY_MS, 60_000);
});

Deno.test("an offer that purged brings the next back to once per ttl", () => {
  const { offers, untilNextOffer } = offersAt(8_000);
  offers.due("e", 8_000);
  untilNextOffer();
  offers.offered("e", 8_000, false);
  offers.offered("e", 8_000, false);
  assert.equal(untilNextOffer(), 32_000);
  offers.offered("e", 8_000, true);
  assert.equal(untilNextOffer(), 8_000);
});

Deno.test("a ttl over a minute keeps offers once per ttl", () => {
  const { offers, untilNextOffer } = offersAt(90_000);
  offers.due("e", 90_000);
  untilNextOffer();
  offers.offered("e", 90_000, false);
  assert.equal(untilNextOffer(), 90_000);
});

Deno.test("a watcher's purges put off the offers of the same process", () => {
  let now = 0;
  const offers = new PurgeOffers(() => now);
  offers.due("e", 1_000);
  for (now = 4_000; now < 20_000; now += 4_000) {
    offers.purging("e");
    assert.equal(offers.due("e", 1_000), false);
  }
  now += MIN_OFFER_EVERY_MS;
  assert.equal(offers.due("e", 1_000), true);
});

Deno.test("each env is counted on its own", () => {
  let now = 0;
  const offers = new PurgeOffers(() => now);
  offers.due("a", 1_000);
  now = 3_000;
  offers.due("b", 1_000);
  now = MIN_OFFER_EVERY_MS;
  assert.equal(offers.due("a", 1_000), true);
  assert.equal(offers.due("b", 1_000), false);
});
