/**
 * Reading a series of {@linkcode TcpHealth} samples of one connection the way a person watching
 * it would: the moment keepalive probes start going unanswered, the moment sent data starts being
 * retransmitted, and the moment the peer answers again. Pure: `sockalive watch` feeds it one
 * sample per heartbeat and prints what it reports.
 *
 * @module
 */

import type { TcpHealth } from "./health.ts";

/** Something worth a line of its own, found in the samples. */
export type HealthMark =
  /** Keepalive probes go unanswered: `probes` of `count` are out. */
  | { kind: "probes"; probes: number }
  /** Sent data is being retransmitted without an acknowledgement. */
  | { kind: "retransmits"; retransmits: number; unacked: number | undefined }
  /** After probes or retransmissions, the peer acknowledged again. */
  | { kind: "answered" };

/**
 * Turns samples into {@linkcode HealthMark}s. A single sample with one probe out says little (a
 * live peer's answer may simply not be back yet): probes count as unanswered once one is still
 * out at the next sample, or two are. Each mark is reported once until the peer answers again.
 *
 * @example
 * ```ts
 * import { HealthTrend } from "./heartbeat.ts";
 * import assert from "node:assert/strict";
 * const trend = new HealthTrend();
 * assert.deepEqual(trend.feed({ probes: 0, retransmits: 0 }), []);
 * assert.deepEqual(trend.feed({ probes: 1, retransmits: 0 }), []); // could be in flight
 * assert.deepEqual(trend.feed({ probes: 1, retransmits: 0 }), [{ kind: "probes", probes: 1 }]);
 * assert.deepEqual(trend.feed({ probes: 2, retransmits: 0 }), []); // already said
 * assert.deepEqual(trend.feed({ probes: 0, retransmits: 0 }), [{ kind: "answered" }]);
 * ```
 */
export class HealthTrend {
  #lastProbes = 0;
  #probesMarked = false;
  #retransmitsMarked = false;

  /** Takes the next sample; returns what it shows that the samples before did not. */
  feed(health: TcpHealth): HealthMark[] {
    const marks: HealthMark[] = [];
    const probes = health.probes ?? 0;
    const retransmits = health.retransmits ?? 0;
    const unanswered = probes >= 2 || (probes >= 1 && this.#lastProbes >= 1);
    if (unanswered && !this.#probesMarked) {
      this.#probesMarked = true;
      marks.push({ kind: "probes", probes });
    }
    if (retransmits >= 1 && !this.#retransmitsMarked) {
      this.#retransmitsMarked = true;
      marks.push({ kind: "retransmits", retransmits, unacked: health.unacked });
    }
    if (
      (this.#probesMarked || this.#retransmitsMarked) && probes === 0 && retransmits === 0
    ) {
      this.#probesMarked = this.#retransmitsMarked = false;
      marks.push({ kind: "answered" });
    }
    this.#lastProbes = probes;
    return marks;
  }
}

/** Milliseconds as seconds with one decimal: `3.7 s`. */
export function formatSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/**
 * One heartbeat as text: the fields that tell a dying connection from a quiet one. A field the
 * OS does not report is left out.
 *
 * @example
 * ```ts
 * import { describeHealth } from "./heartbeat.ts";
 * import assert from "node:assert/strict";
 * const h = { rtt: 0.412, unacked: 0, retransmits: 0, probes: 2, lastReceived: 3712 };
 * assert.equal(describeHealth(h, 3), "rtt 0.41 ms  unacked 0  retransmits 0  probes 2/3  silent 3.7 s");
 * ```
 */
export function describeHealth(health: TcpHealth, count: number | undefined): string {
  const parts: string[] = [];
  // Two decimals below 10 ms: a LAN's round trip is a fraction of a millisecond.
  if (health.rtt !== undefined) parts.push(`rtt ${health.rtt.toFixed(health.rtt < 10 ? 2 : 1)} ms`);
  if (health.unacked !== undefined) parts.push(`unacked ${health.unacked}`);
  else if (health.bytesInFlight !== undefined) parts.push(`in flight ${health.bytesInFlight} B`);
  if (health.retransmits !== undefined) parts.push(`retransmits ${health.retransmits}`);
  if (health.probes !== undefined) {
    parts.push(`probes ${health.probes}${count === undefined ? "" : `/${count}`}`);
  }
  const silent = health.lastReceived;
  if (silent !== undefined) parts.push(`silent ${formatSeconds(silent)}`);
  return parts.length > 0 ? parts.join("  ") : "(the OS reports no health fields)";
}
