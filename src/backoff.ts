/**
 * How long a reconnecting client waits between attempts: exponential backoff with full
 * jitter, its options, their defaults and their checks. Pure: no I/O.
 *
 * @module
 */

import { MAX_TIMER_MS } from "./checks.ts";
import { describe } from "./options.ts";

/**
 * How long to wait between attempts. All durations are in milliseconds.
 *
 * @example
 * ```ts
 * import { type BackoffOptions, reconnecting } from "@sockalive/sockalive";
 * import assert from "node:assert/strict";
 * const reconnect: BackoffOptions = { initialDelay: 500, maxDelay: 10_000 };
 * // (An aborted signal stops the client at once: this example dials nothing.)
 * const client = reconnecting({ port: 7000, reconnect, signal: AbortSignal.abort() });
 * assert.equal(client.backoff.maxDelay, 10_000);
 * assert.equal(client.backoff.factor, 2); // the default, for what is left out
 * ```
 */
export interface BackoffOptions {
  /** The cap of the first wait, in ms (default 1000). */
  initialDelay?: number;
  /** The largest cap any wait can have, in ms (default 30 000). */
  maxDelay?: number;
  /** How much the cap grows after each wait (default 2). */
  factor?: number;
  /**
   * `"full"` (default) waits a random time from 0 up to the cap, so that many clients cut off
   * together do not all come back together; `"none"` waits the cap itself.
   */
  jitter?: "full" | "none";
  /**
   * Consecutive attempts that fail to open before giving up (default `Infinity`). The count
   * starts again after every connection that opened.
   */
  maxAttempts?: number;
  /** A source of numbers in [0, 1) for the jitter (default `Math.random`); inject it to test. */
  random?: () => number;
}

/**
 * {@linkcode BackoffOptions} with every default filled in.
 *
 * @example
 * ```ts
 * import { reconnecting, type ResolvedBackoff } from "@sockalive/sockalive";
 * import assert from "node:assert/strict";
 * const client = reconnecting({ port: 7000, reconnect: { jitter: "none" }, signal: AbortSignal.abort() });
 * const backoff: ResolvedBackoff = client.backoff; // what the client waits by
 * assert.equal(backoff.initialDelay, 1000);
 * assert.equal(backoff.jitter, "none");
 * ```
 */
export type ResolvedBackoff = Readonly<Required<BackoffOptions>>;

/**
 * The values {@linkcode reconnecting} uses for backoff keys the caller leaves out: waits capped at
 * 1 s, 2 s, 4 s, ... up to 30 s, with full jitter, never giving up.
 *
 * @example
 * ```ts
 * import { DEFAULT_BACKOFF } from "./backoff.ts";
 * import assert from "node:assert/strict";
 * assert.equal(DEFAULT_BACKOFF.maxDelay, 30_000);
 * ```
 */
export const DEFAULT_BACKOFF: Readonly<Required<Omit<BackoffOptions, "random">>> = Object.freeze({
  initialDelay: 1_000,
  maxDelay: 30_000,
  factor: 2,
  jitter: "full",
  maxAttempts: Infinity,
});

const BACKOFF_KEYS = [
  "initialDelay",
  "maxDelay",
  "factor",
  "jitter",
  "maxAttempts",
  "random",
] as const;

/**
 * Checks backoff options and fills in the defaults. Throws `TypeError` for a wrong type or an
 * unknown key, `RangeError` for a value out of range, naming the option.
 *
 * @example
 * ```ts
 * import { resolveBackoff } from "./backoff.ts";
 * import assert from "node:assert/strict";
 * assert.equal(resolveBackoff({ maxDelay: 5000 }).maxDelay, 5000);
 * assert.throws(() => resolveBackoff({ factor: 0.5 }), RangeError);
 * ```
 */
export function resolveBackoff(options: BackoffOptions = {}): ResolvedBackoff {
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new TypeError(
      `Cannot reconnect: "reconnect" must be an object, got ${describe(options)}`,
    );
  }
  for (const key of Object.keys(options)) {
    if (!(BACKOFF_KEYS as readonly string[]).includes(key)) {
      throw new TypeError(
        `Cannot reconnect: unknown option "${key}"; expected one of ${BACKOFF_KEYS.join(", ")}`,
      );
    }
  }
  const resolved = { ...DEFAULT_BACKOFF, random: Math.random, ...dropUndefined(options) };
  const { initialDelay, maxDelay, factor, jitter, maxAttempts, random } = resolved;
  for (const [key, value] of [["initialDelay", initialDelay], ["maxDelay", maxDelay]] as const) {
    requireNumber(key, value, "milliseconds");
    if (!(value > 0) || value > MAX_TIMER_MS) {
      throw new RangeError(
        `Cannot reconnect: "${key}" must be more than 0 and at most ${MAX_TIMER_MS} ms, got ${value}`,
      );
    }
  }
  if (maxDelay < initialDelay) {
    throw new RangeError(
      `Cannot reconnect: "maxDelay" must be at least "initialDelay" (${initialDelay} ms), got ${maxDelay}`,
    );
  }
  requireNumber("factor", factor, "a number");
  if (!(factor >= 1) || !Number.isFinite(factor)) {
    throw new RangeError(
      `Cannot reconnect: "factor" must be a finite number of at least 1, got ${factor}`,
    );
  }
  if (jitter !== "full" && jitter !== "none") {
    throw new TypeError(
      `Cannot reconnect: "jitter" must be "full" or "none", got ${describe(jitter)}`,
    );
  }
  requireNumber("maxAttempts", maxAttempts, "attempts");
  if (!(maxAttempts >= 1) || !(Number.isInteger(maxAttempts) || maxAttempts === Infinity)) {
    throw new RangeError(
      `Cannot reconnect: "maxAttempts" must be an integer of at least 1, or Infinity, got ${maxAttempts}`,
    );
  }
  if (typeof random !== "function") {
    throw new TypeError(`Cannot reconnect: "random" must be a function, got ${describe(random)}`);
  }
  return Object.freeze({ initialDelay, maxDelay, factor, jitter, maxAttempts, random });
}

/**
 * The wait before retry number `retry` (0 for the first wait since the start or since the last
 * connection opened), in whole ms: the cap is `min(maxDelay, initialDelay × factor^retry)`; with
 * full jitter the wait is drawn uniformly from [0, cap), without it the wait is the cap.
 *
 * @example
 * ```ts
 * import { backoffDelay, resolveBackoff } from "./backoff.ts";
 * import assert from "node:assert/strict";
 * const none = resolveBackoff({ initialDelay: 100, maxDelay: 1000, jitter: "none" });
 * assert.deepEqual([0, 1, 2, 3, 4, 5].map((n) => backoffDelay(n, none)), [100, 200, 400, 800, 1000, 1000]);
 * const half = resolveBackoff({ initialDelay: 100, maxDelay: 1000, random: () => 0.5 });
 * assert.equal(backoffDelay(2, half), 200);
 * ```
 */
export function backoffDelay(retry: number, backoff: ResolvedBackoff): number {
  if (!Number.isInteger(retry) || retry < 0) {
    throw new RangeError(
      `Cannot compute backoff: "retry" must be an integer of 0 or more, got ${retry}`,
    );
  }
  // factor ** retry may reach Infinity after many retries; min() brings it back to maxDelay.
  const cap = Math.min(backoff.maxDelay, backoff.initialDelay * backoff.factor ** retry);
  if (backoff.jitter === "none") return Math.floor(cap);
  const r = backoff.random();
  if (typeof r !== "number" || !(r >= 0 && r < 1)) {
    throw new RangeError(
      `Cannot compute backoff: "random" must return a number in [0, 1), got ${r}`,
    );
  }
  return Math.floor(r * cap);
}

function requireNumber(key: string, value: unknown, unit: string): asserts value is number {
  if (typeof value !== "number" || Number.isNaN(value)) {
    throw new TypeError(
      `Cannot reconnect: "${key}" must be a number${
        unit === "a number" ? "" : ` of ${unit}`
      }, got ${describe(value)}`,
    );
  }
}

function dropUndefined<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as Partial<
    T
  >;
}
