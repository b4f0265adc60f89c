/**
 * Keepalive options in milliseconds, their validation, and the unit conversions every platform
 * shares. Pure: no I/O, no runtime globals.
 *
 * @module
 */

/**
 * What a caller asks for. Every duration is in milliseconds. A key left out is not touched by
 * {@linkcode setKeepAlive}; {@linkcode connect} fills it from {@linkcode DEFAULT_KEEPALIVE}.
 *
 * @example
 * ```ts
 * import { detectionTime, type KeepAliveOptions } from "@sockalive/sockalive";
 * import assert from "node:assert/strict";
 * // For `connect({ port, keepAlive: options })` or `setKeepAlive(socket, options)`:
 * const options: KeepAliveOptions = { idle: 5_000, interval: 1_000, count: 3 };
 * assert.equal(detectionTime(options), 8_000); // 5 s of silence, then 3 probes 1 s apart
 * ```
 */
export interface KeepAliveOptions {
  /** Turn probing on (default) or off. */
  enabled?: boolean;
  /** Silence, in ms, before the first probe is sent. */
  idle?: number;
  /** Time, in ms, between unanswered probes. */
  interval?: number;
  /** Unanswered probes after which the connection is dropped with ETIMEDOUT. */
  count?: number;
  /**
   * How long, in ms, sent data may stay unacknowledged before the connection is dropped with
   * ETIMEDOUT; 0 leaves it to the system. Covers the case keepalive cannot: a peer that vanished
   * while data was in flight.
   */
  userTimeout?: number;
}

/**
 * What the kernel reports back: the values in force, in milliseconds.
 *
 * @example
 * ```ts
 * import { detectionTime, type KeepAliveInfo } from "@sockalive/sockalive";
 * import assert from "node:assert/strict";
 * // The shape `setKeepAlive`, `getKeepAlive` and `conn.keepAlive` report:
 * const info: KeepAliveInfo = {
 *   enabled: true, idle: 2_000, interval: 1_000, count: 3, userTimeout: 0,
 * };
 * assert.equal(info.unverified, undefined); // every value was read back from the kernel
 * assert.equal(detectionTime(info), 5_000);
 * ```
 */
export interface KeepAliveInfo {
  /** Whether keepalive probing is on. */
  enabled: boolean;
  /** Silence, in ms, before the first probe. */
  idle: number;
  /** Time, in ms, between probes. */
  interval: number;
  /** Unanswered probes before the connection is dropped. */
  count: number;
  /** Unacknowledged-data timeout in ms; 0 means the system's default (off). */
  userTimeout: number;
  /**
   * Fields reported as set, not read back: present only where the OS cannot read them (Windows
   * cannot read idle and interval back).
   */
  unverified?: Array<"idle" | "interval" | "count" | "userTimeout">;
}

/**
 * The range a platform accepts for each option, and the unit it stores durations in.
 *
 * @example
 * ```ts
 * import { type KeepAliveLimits, validateKeepAlive } from "./options.ts";
 * import assert from "node:assert/strict";
 * // A made-up platform that stores durations in milliseconds:
 * const limits: KeepAliveLimits = {
 *   os: "Example",
 *   durationUnit: 1,
 *   idle: [1, 86_400_000],
 *   interval: [1, 86_400_000],
 *   count: [1, 10],
 *   userTimeout: [0, 86_400_000],
 * };
 * assert.deepEqual(validateKeepAlive({ idle: 1500 }, limits), { enabled: true, idle: 1500 });
 * assert.throws(() => validateKeepAlive({ count: 11 }, limits), RangeError);
 * ```
 */
export interface KeepAliveLimits {
  /** Platform name used in error messages, e.g. `"Linux"`. */
  os: string;
  /** Granularity of `idle` and `interval`, in ms (1000 on Linux, which takes whole seconds). */
  durationUnit: number;
  /** Smallest and largest `idle` in ms. */
  idle: readonly [min: number, max: number];
  /** Smallest and largest `interval` in ms. */
  interval: readonly [min: number, max: number];
  /** Smallest and largest `count`. */
  count: readonly [min: number, max: number];
  /** Smallest and largest `userTimeout` in ms. */
  userTimeout: readonly [min: number, max: number];
}

let lastShared: Readonly<KeepAliveInfo> | undefined;

/**
 * `info`, frozen, or the last one this gave if that has the same values: connections opened
 * with the same options hold one object between them rather than one each (64 bytes of heap
 * per idle connection, in both runtimes).
 */
export function sharedKeepAliveInfo(info: KeepAliveInfo): Readonly<KeepAliveInfo> {
  const last = lastShared;
  if (
    last !== undefined && info.unverified === undefined && last.unverified === undefined &&
    last.enabled === info.enabled && last.idle === info.idle && last.interval === info.interval &&
    last.count === info.count && last.userTimeout === info.userTimeout
  ) return last;
  if (info.unverified) Object.freeze(info.unverified);
  return lastShared = Object.freeze(info);
}

/**
 * The values {@linkcode connect} uses for keys the caller leaves out: a silent peer is noticed
 * within 10 s + 2 s x 5 = 20 s, and data in flight to a vanished peer within 20 s as well.
 *
 * @example
 * ```ts
 * import { DEFAULT_KEEPALIVE, detectionTime } from "@sockalive/sockalive";
 * import assert from "node:assert/strict";
 * assert.deepEqual(DEFAULT_KEEPALIVE, {
 *   idle: 10_000, interval: 2_000, count: 5, userTimeout: 20_000,
 * });
 * assert.equal(detectionTime(DEFAULT_KEEPALIVE), 20_000);
 * assert.ok(Object.isFrozen(DEFAULT_KEEPALIVE));
 * ```
 */
export const DEFAULT_KEEPALIVE: Readonly<Required<Omit<KeepAliveOptions, "enabled">>> = Object
  .freeze({ idle: 10_000, interval: 2_000, count: 5, userTimeout: 20_000 });

/** Each option's bit, for the set of keys an options object has. */
const OPTION_BITS = Object.freeze({ enabled: 1, idle: 2, interval: 4, count: 8, userTimeout: 16 });

/**
 * Rounds milliseconds up to whole seconds, as Linux and macOS store keepalive durations: asking
 * for 1500 ms gives 2 s, never 1 s, so a probe never goes out earlier than asked.
 *
 * @example Rounding up
 * ```ts
 * import { toSeconds } from "./options.ts";
 * import assert from "node:assert/strict";
 * assert.equal(toSeconds(1500), 2);
 * assert.equal(toSeconds(1000), 1);
 * ```
 */
export function toSeconds(ms: number): number {
  return Math.ceil(ms / 1000);
}

/**
 * Converts whole seconds read from the kernel back to milliseconds.
 *
 * @example
 * ```ts
 * import { toMillis } from "./options.ts";
 * import assert from "node:assert/strict";
 * assert.equal(toMillis(2), 2000);
 * ```
 */
export function toMillis(seconds: number): number {
  return seconds * 1000;
}

/**
 * Checks `options` against `limits` before any system call and returns them rounded up to the
 * platform's granularity. Throws `TypeError` for a wrong type or an unknown key, `RangeError` for
 * a value out of range; both messages name the option and the limit.
 *
 * @example
 * ```ts
 * import { validateKeepAlive } from "./options.ts";
 * import { LINUX_LIMITS } from "./os/linux.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(validateKeepAlive({ idle: 1500 }, LINUX_LIMITS), { enabled: true, idle: 2000 });
 * assert.throws(() => validateKeepAlive({ count: 0 }, LINUX_LIMITS), RangeError);
 * ```
 */
export function validateKeepAlive(
  options: KeepAliveOptions,
  limits: KeepAliveLimits,
): KeepAliveOptions & { enabled: boolean } {
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new TypeError(
      `Cannot set keepalive: options must be an object, got ${describe(options)}`,
    );
  }
  // Own keys only, symbols included: a typo or a stray key is an error, and nothing is read from
  // the prototype chain. (Names, then symbols: the same keys as Reflect.ownKeys, in its order,
  // for a third of the garbage.) The names say which keys the object has, so each is then read
  // once, from the object itself (a getter runs once), without asking again.
  let has = 0;
  for (const key of Object.getOwnPropertyNames(options)) {
    // Inherited names (`toString`, `__proto__`) are functions or objects, never a bit.
    const bit: unknown = OPTION_BITS[key as keyof typeof OPTION_BITS];
    if (typeof bit !== "number") throw unknownOption(`"${key}"`);
    has |= bit;
  }
  const symbols = Object.getOwnPropertySymbols(options);
  if (symbols.length > 0) throw unknownOption(String(symbols[0]));
  // Written without intermediate arrays: this runs for every connection opened, and garbage
  // made while thousands open grows the JS engine's young generation (BENCHMARKS.md).
  const enabled = has & OPTION_BITS.enabled ? options.enabled : undefined;
  if (enabled !== undefined && typeof enabled !== "boolean") {
    throw new TypeError(
      `Cannot set keepalive: "enabled" must be a boolean, got ${describe(enabled)}`,
    );
  }
  const out: KeepAliveOptions & { enabled: boolean } = { enabled: enabled ?? true };
  const idle = has & OPTION_BITS.idle ? options.idle : undefined;
  if (idle !== undefined) out.idle = duration("idle", idle, limits);
  const interval = has & OPTION_BITS.interval ? options.interval : undefined;
  if (interval !== undefined) out.interval = duration("interval", interval, limits);
  const count = has & OPTION_BITS.count ? options.count : undefined;
  if (count !== undefined) {
    const min = limits.count[0], max = limits.count[1];
    requireNumber("count", count);
    if (!Number.isInteger(count) || count < min || count > max) {
      throw new RangeError(
        `Cannot set keepalive: "count" must be an integer from ${min} to ${max} on ${limits.os}, got ${count}`,
      );
    }
    out.count = count;
  }
  const userTimeout = has & OPTION_BITS.userTimeout ? options.userTimeout : undefined;
  if (userTimeout !== undefined) {
    const min = limits.userTimeout[0], max = limits.userTimeout[1];
    requireNumber("userTimeout", userTimeout);
    const rounded = Math.ceil(userTimeout);
    if (!(userTimeout >= min) || rounded > max) {
      throw new RangeError(
        `Cannot set keepalive: "userTimeout" must be from ${min} to ${max} ms on ${limits.os} ` +
          `(0 leaves it to the system), got ${userTimeout}`,
      );
    }
    // Object.is keeps -0 from leaking out as a distinct value.
    out.userTimeout = rounded === 0 ? 0 : rounded;
  }
  return out;
}

/**
 * `value` (ms, as given for `key`) rounded up to the platform's granularity, or `RangeError`.
 * Anything above zero is accepted and rounded up, so 1 ms asks for the platform's minimum rather
 * than failing; zero or less, or past the maximum, is refused. A positive value so small that
 * value / unit underflows to 0 (5e-324) is still above zero: it is rounded up to one unit.
 */
function duration(key: "idle" | "interval", value: unknown, limits: KeepAliveLimits): number {
  requireNumber(key, value);
  const [min, max] = limits[key];
  const unit = limits.durationUnit;
  const units = Math.ceil(value / unit);
  const rounded = (units === 0 && value > 0 ? 1 : units) * unit;
  if (!(value > 0) || rounded < min || rounded > max) {
    throw new RangeError(
      `Cannot set keepalive: "${key}" must be more than 0 and at most ${max} ms ` +
        `(${limits.os} takes ${describeUnit(unit)} from ${min} ms to ${max} ms), got ${value}`,
    );
  }
  return rounded;
}

/**
 * The longest a silent peer can go unnoticed with these options, in ms: the first probe after
 * `idle`, then `count` probes `interval` apart. With a non-zero `userTimeout` Linux drops the
 * connection at the first probe time at or past `userTimeout` instead of counting probes (the
 * kernel's tcp_keepalive_timer), and this function follows that rule.
 *
 * @example
 * ```ts
 * import { detectionTime } from "@sockalive/sockalive";
 * import assert from "node:assert/strict";
 * assert.equal(detectionTime({ idle: 1000, interval: 1000, count: 3 }), 4000);
 * assert.equal(detectionTime({ idle: 1000, interval: 1000, count: 3, userTimeout: 5000 }), 5000);
 * ```
 */
export function detectionTime(
  options: Pick<KeepAliveOptions, "idle" | "interval" | "count" | "userTimeout">,
): number {
  const { idle, interval, count, userTimeout = 0 } = options;
  for (const [key, value] of [["idle", idle], ["interval", interval], ["count", count]] as const) {
    if (typeof value !== "number" || !(value > 0) || !Number.isFinite(value)) {
      throw new RangeError(
        `Cannot compute detection time: "${key}" must be a positive number, got ${describe(value)}`,
      );
    }
  }
  if (typeof userTimeout !== "number" || !(userTimeout >= 0) || !Number.isFinite(userTimeout)) {
    throw new RangeError(
      `Cannot compute detection time: "userTimeout" must be 0 or more, got ${
        describe(userTimeout)
      }`,
    );
  }
  const i = idle!, n = interval!;
  if (userTimeout === 0) return i + n * count!;
  // Probes are checked at idle + k * interval (k >= 1, after at least one probe went out).
  const k = Math.max(1, Math.ceil((userTimeout - i) / n));
  return i + k * n;
}

/**
 * The `userTimeout` a caller who sets `idle`, `interval` and `count` but not `userTimeout` gets:
 * the keepalive budget `idle + interval × count` (ms, values as the OS stores them), capped at the
 * platform's largest user timeout.
 *
 * @example
 * ```ts
 * import { budgetUserTimeout } from "./options.ts";
 * import assert from "node:assert/strict";
 * const limits = { userTimeout: [0, 2 ** 31 - 1] as const };
 * assert.equal(budgetUserTimeout({ idle: 1000, interval: 1000, count: 3 }, limits), 4000);
 * ```
 */
export function budgetUserTimeout(
  keepAlive: { idle: number; interval: number; count: number },
  limits: Pick<KeepAliveLimits, "userTimeout">,
): number {
  return Math.min(limits.userTimeout[1], keepAlive.idle + keepAlive.interval * keepAlive.count);
}

function unknownOption(name: string): TypeError {
  return new TypeError(
    `Cannot set keepalive: unknown option ${name}; expected one of ${
      Object.keys(OPTION_BITS).join(", ")
    }`,
  );
}

function requireNumber(key: string, value: unknown): asserts value is number {
  if (typeof value !== "number") {
    throw new TypeError(
      `Cannot set keepalive: "${key}" must be a number of ${
        key === "count" ? "probes" : "milliseconds"
      }, got ${describe(value)}`,
    );
  }
}

function describeUnit(unit: number): string {
  return unit === 1000 ? "whole seconds" : unit === 1 ? "milliseconds" : `multiples of ${unit} ms`;
}

/** A short description of a value for error messages. */
export function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  if (Object.is(value, -0)) return "-0";
  return String(value);
}
