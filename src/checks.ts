/**
 * The argument checks of `connect`, `listen` and `reconnecting` (the options themselves are in
 * src/connect_options.ts): one function per options shape, built from the same per-option
 * checks, each run before anything touches a socket. Pure: no I/O, no runtime globals beyond
 * `AbortSignal`.
 *
 * @module
 */

import {
  budgetUserTimeout,
  DEFAULT_KEEPALIVE,
  describe,
  type KeepAliveLimits,
  type KeepAliveOptions,
  validateKeepAlive,
} from "./options.ts";
import { checkClientTls, checkServerTls, type ClientTls, type ServerTls } from "./tls_options.ts";
import type { ConnectOptions, ListenOptions } from "./connect_options.ts";

/** Keepalive options as validated and rounded for a platform. */
export type ValidKeepAlive = ReturnType<typeof validateKeepAlive>;

/** What the errors of each shape start with: `Cannot connect: ...`. */
type Verb = "connect" | "listen" | "reconnect";

/** The longest delay setTimeout honours (longer ones fire at once). */
export const MAX_TIMER_MS = 2 ** 31 - 1;
const DEFAULT_MAX_BUFFERED = 1 << 20;
const CONNECT_KEYS = [
  "hostname",
  "port",
  "keepAlive",
  "maxBufferedBytes",
  "connectTimeout",
  "idleTimeout",
  "signal",
  "onListenerError",
  "tls",
] as const;
const LISTEN_KEYS = [
  "hostname",
  "port",
  "keepAlive",
  "maxBufferedBytes",
  "idleTimeout",
  "signal",
  "onListenerError",
  "onAcceptError",
  "tls",
] as const;

const RECONNECTING_KEYS = [...CONNECT_KEYS, "reconnect"] as const;
const TUNABLE_KEYS = ["idle", "interval", "count", "userTimeout"] as const;
/** For each set of written keys (bit i: TUNABLE_KEYS[i]), the keys left to best effort. */
const BEST_EFFORT: ReadonlyArray<ReadonlySet<keyof KeepAliveOptions>> = Array.from(
  { length: 1 << TUNABLE_KEYS.length },
  (_, written) => new Set(TUNABLE_KEYS.filter((_, bit) => (written & (1 << bit)) === 0)),
);

/**
 * Options of `connect` once checked: what a connection runs with. A class, so a connection can
 * tell checked options from a caller's (an accepted socket's options are checked once, by the
 * listener, not on every accept).
 */
export class CheckedConnectOptions {
  hostname = "127.0.0.1";
  port = 0;
  /** The keepalive to apply, defaults filled in. */
  keepAlive: ValidKeepAlive = { enabled: false };
  /** Keys of `keepAlive` the caller did not write: applied where the OS can, never a failure. */
  bestEffort: ReadonlySet<keyof KeepAliveOptions> = BEST_EFFORT[0]!;
  maxBufferedBytes = DEFAULT_MAX_BUFFERED;
  connectTimeout: number | undefined = undefined;
  idleTimeout: number | undefined = undefined;
  signal: AbortSignal | undefined = undefined;
  onListenerError: ((error: unknown) => void) | undefined = undefined;
  /** TLS to run over the connection, if any. */
  tls: ClientTls | undefined = undefined;
}

/** Options of `listen` once checked. */
export interface CheckedListenOptions {
  hostname: string;
  port: number;
  signal: AbortSignal | undefined;
  onAcceptError: ((error: Error, delay: number) => void) | undefined;
  /** The certificate and key to serve TLS with, if any. */
  tls: ServerTls | undefined;
  /** What each accepted connection runs with (no signal: the listener's closes the listener). */
  accepted: CheckedConnectOptions;
}

/**
 * Checks the options of `connect` against the platform's keepalive `limits`. Throws `TypeError`
 * for a wrong type or an unknown key, `RangeError` for a value out of range, naming the option.
 *
 * @example
 * ```ts
 * import { checkConnectOptions } from "./checks.ts";
 * import { LINUX_LIMITS } from "./os/linux.ts";
 * import assert from "node:assert/strict";
 * assert.equal(checkConnectOptions({ port: 7000 }, LINUX_LIMITS).hostname, "127.0.0.1");
 * assert.throws(() => checkConnectOptions({ port: 0 }, LINUX_LIMITS), RangeError);
 * assert.equal(checkConnectOptions({ port: 1, tls: true }, LINUX_LIMITS).tls?.serverName, "127.0.0.1");
 * const misspelt = { port: 1, tls: { caCerts: [], ca: [] } };
 * assert.throws(() => checkConnectOptions(misspelt, LINUX_LIMITS), /unknown option "tls\.ca"/);
 * assert.throws(() => checkConnectOptions({ port: 1, tls: { serverName: "" } }, LINUX_LIMITS), RangeError);
 * ```
 */
export function checkConnectOptions(
  options: ConnectOptions,
  limits: KeepAliveLimits,
): CheckedConnectOptions {
  checkShape("connect", options, CONNECT_KEYS);
  const checked = connectionOptions("connect", options, limits);
  checked.hostname = checkHostname("connect", options.hostname);
  checked.port = checkPort("connect", options.port, 1);
  checked.connectTimeout = checkTimer("connect", "connectTimeout", options.connectTimeout);
  checked.signal = checkSignal("connect", options.signal);
  checked.tls = checkClientTls("connect", options.tls, checked.hostname);
  return checked;
}

/**
 * Checks the options of `listen`, as {@linkcode checkConnectOptions} does those of `connect`;
 * port 0 asks for any free port.
 *
 * @example
 * ```ts
 * import { checkListenOptions } from "./checks.ts";
 * import { LINUX_LIMITS } from "./os/linux.ts";
 * import assert from "node:assert/strict";
 * assert.equal(checkListenOptions({ port: 0 }, LINUX_LIMITS).port, 0);
 * assert.throws(() => checkListenOptions({ port: 0, maxBufferedBytes: 0 }, LINUX_LIMITS), RangeError);
 * ```
 */
export function checkListenOptions(
  options: ListenOptions,
  limits: KeepAliveLimits,
): CheckedListenOptions {
  checkShape("listen", options, LISTEN_KEYS);
  return {
    accepted: connectionOptions("listen", options, limits),
    hostname: checkHostname("listen", options.hostname),
    port: checkPort("listen", options.port, 0),
    signal: checkSignal("listen", options.signal),
    onAcceptError: checkFunction("listen", "onAcceptError", options.onAcceptError),
    tls: checkServerTls(options.tls),
  };
}

/**
 * Checks the options of `reconnecting` that are not the backoff's: the connect options, except
 * keepalive's ranges, which depend on the platform and are checked by `connect` on each attempt.
 *
 * @example
 * ```ts
 * import { checkReconnectingOptions } from "./checks.ts";
 * import assert from "node:assert/strict";
 * assert.throws(() => checkReconnectingOptions({ port: 0 }), RangeError);
 * const withRetries = { port: 1, retries: 3 };
 * assert.throws(() => checkReconnectingOptions(withRetries), /unknown option "retries"/);
 * ```
 */
export function checkReconnectingOptions(options: ConnectOptions & { reconnect?: unknown }): void {
  checkShape("reconnect", options, RECONNECTING_KEYS);
  checkHostname("reconnect", options.hostname);
  checkPort("reconnect", options.port, 1);
  checkKeepAliveType("reconnect", options.keepAlive);
  checkMaxBuffered("reconnect", options.maxBufferedBytes);
  checkTimer("reconnect", "connectTimeout", options.connectTimeout);
  checkTimer("reconnect", "idleTimeout", options.idleTimeout);
  checkSignal("reconnect", options.signal);
  checkFunction("reconnect", "onListenerError", options.onListenerError);
  checkClientTls("reconnect", options.tls, options.hostname ?? "127.0.0.1");
}

/**
 * What `keepAlive` asks for, validated against `limits` and rounded to what the platform will
 * store; `verb` starts the message of a wrong type.
 */
export function keepAliveRequest(
  keepAlive: unknown,
  limits: KeepAliveLimits,
  verb: Verb = "connect",
): ValidKeepAlive {
  if (keepAlive === false) return { enabled: false };
  if (keepAlive === undefined || keepAlive === true) return { ...validDefaults(limits) };
  checkKeepAliveType(verb, keepAlive);
  // Validate what the caller wrote, so errors name their own keys and values; the defaults fill
  // in the rest, already validated (once per platform). A key present with the value undefined
  // is a key left out: validateKeepAlive leaves it out of its result, so it cannot replace a
  // default with undefined (which would make the derived userTimeout NaN).
  const given = validateKeepAlive(keepAlive as KeepAliveOptions, limits);
  const merged = { ...validDefaults(limits), ...given };
  // A caller who sets idle/interval/count but not userTimeout means "this detection budget":
  // the data-in-flight timeout defaults to the same budget, computed from the rounded values the
  // kernel will hold, rather than to an unrelated default.
  if (given.userTimeout === undefined && merged.enabled) {
    merged.userTimeout = budgetUserTimeout(
      { idle: merged.idle!, interval: merged.interval!, count: merged.count! },
      limits,
    );
  }
  return merged;
}

/** What a connection runs with, from the options `connect` and `listen` share. */
function connectionOptions(
  verb: Verb,
  options: Pick<
    ConnectOptions,
    "keepAlive" | "maxBufferedBytes" | "idleTimeout" | "onListenerError"
  >,
  limits: KeepAliveLimits,
): CheckedConnectOptions {
  const checked = new CheckedConnectOptions();
  checkKeepAlive(verb, checked, options.keepAlive, limits);
  checked.maxBufferedBytes = checkMaxBuffered(verb, options.maxBufferedBytes);
  checked.idleTimeout = checkTimer(verb, "idleTimeout", options.idleTimeout);
  checked.onListenerError = checkFunction(verb, "onListenerError", options.onListenerError);
  return checked;
}

function checkShape(
  verb: Verb,
  options: unknown,
  keys: readonly string[],
): asserts options is object {
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new TypeError(`Cannot ${verb}: options must be an object, got ${describe(options)}`);
  }
  // A misspelt or unsupported option (`timeout`, `tsl`) is refused rather than ignored: ignoring
  // it would run something other than what the caller asked for. for-in makes no array: this
  // runs for every connection opened.
  for (const key in options) {
    if (Object.hasOwn(options, key) && !keys.includes(key)) {
      throw new TypeError(
        `Cannot ${verb}: unknown option "${key}"; expected one of ${keys.join(", ")}`,
      );
    }
  }
}

function checkHostname(verb: Verb, hostname: unknown): string {
  if (hostname === undefined) return "127.0.0.1";
  if (typeof hostname !== "string") {
    throw new TypeError(`Cannot ${verb}: "hostname" must be a string, got ${describe(hostname)}`);
  }
  return hostname;
}

/** `min` 1 for a destination (port 0 reaches nothing), 0 for a listener (0: any free port). */
function checkPort(verb: Verb, port: unknown, min: 0 | 1): number {
  if (typeof port !== "number") {
    throw new TypeError(`Cannot ${verb}: "port" must be a number, got ${describe(port)}`);
  }
  if (!Number.isInteger(port) || port < min || port > 65535) {
    throw new RangeError(
      `Cannot ${verb}: "port" must be an integer from ${min} to 65535${
        port === 0 ? " (port 0 is not a destination: it means any free port only to listen)" : ""
      }, got ${port}`,
    );
  }
  return port;
}

function checkKeepAliveType(verb: Verb, keepAlive: unknown): void {
  if (
    keepAlive !== undefined && typeof keepAlive !== "boolean" &&
    (typeof keepAlive !== "object" || keepAlive === null || Array.isArray(keepAlive))
  ) {
    throw new TypeError(
      `Cannot ${verb}: "keepAlive" must be an options object or a boolean, got ${
        describe(keepAlive)
      }`,
    );
  }
}

function checkKeepAlive(
  verb: Verb,
  checked: CheckedConnectOptions,
  keepAlive: unknown,
  limits: KeepAliveLimits,
): void {
  checked.keepAlive = keepAliveRequest(keepAlive, limits, verb);
  // Keys the caller did not write (own enumerable keys) are defaults: applied where the OS can,
  // never a failure. One shared set per combination: nothing made per connection.
  let written = 0;
  if (typeof keepAlive === "object" && keepAlive !== null) {
    for (let bit = 0; bit < TUNABLE_KEYS.length; bit++) {
      if (Object.prototype.propertyIsEnumerable.call(keepAlive, TUNABLE_KEYS[bit]!)) {
        written |= 1 << bit;
      }
    }
  }
  checked.bestEffort = BEST_EFFORT[written]!; // one set for each of the 16 combinations
}

function checkMaxBuffered(verb: Verb, value: unknown): number {
  // Only undefined means "the default"; null is a wrong type, as for connectTimeout.
  if (value === undefined) return DEFAULT_MAX_BUFFERED;
  if (typeof value !== "number") {
    throw new TypeError(
      `Cannot ${verb}: "maxBufferedBytes" must be a number, got ${describe(value)}`,
    );
  }
  if (!(value >= 1) || !Number.isFinite(value)) {
    throw new RangeError(
      `Cannot ${verb}: "maxBufferedBytes" must be a finite number of at least 1, got ${value}`,
    );
  }
  return value;
}

/** A timeout option (`connectTimeout`, `idleTimeout`): ms, run by a timer. */
function checkTimer(verb: Verb, name: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number") {
    throw new TypeError(`Cannot ${verb}: "${name}" must be a number of ms, got ${describe(value)}`);
  }
  // Timers take at most 2^31 - 1 ms; a longer one would fire at once.
  if (!(value > 0) || !(value <= MAX_TIMER_MS)) {
    throw new RangeError(
      `Cannot ${verb}: "${name}" must be a positive number of ms, at most ${MAX_TIMER_MS}, got ${value}`,
    );
  }
  return value;
}

function checkSignal(verb: Verb, signal: unknown): AbortSignal | undefined {
  // A look-alike (aborted and addEventListener, no removeEventListener) fails only later, at
  // close, where its failure cannot be reported: only a real AbortSignal is taken.
  if (signal === undefined || signal instanceof AbortSignal) return signal;
  throw new TypeError(`Cannot ${verb}: "signal" must be an AbortSignal, got ${describe(signal)}`);
}

function checkFunction<F>(verb: Verb, name: string, value: F): F {
  // A wrong type would fail only when first called, out of the code that calls it.
  if (value !== undefined && typeof value !== "function") {
    throw new TypeError(`Cannot ${verb}: "${name}" must be a function, got ${describe(value)}`);
  }
  return value;
}

const defaultsByLimits = new WeakMap<KeepAliveLimits, ValidKeepAlive>();

/** DEFAULT_KEEPALIVE validated for a platform, once. Callers copy it. */
function validDefaults(limits: KeepAliveLimits): ValidKeepAlive {
  let valid = defaultsByLimits.get(limits);
  if (!valid) {
    defaultsByLimits.set(limits, valid = validateKeepAlive({ ...DEFAULT_KEEPALIVE }, limits));
  }
  return valid;
}
