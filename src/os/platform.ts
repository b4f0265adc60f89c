/**
 * What each operating system implements, one function per option (in the manner of socket2),
 * and the int encoding they share.
 *
 * @module
 */

import type { KeepAliveInfo, KeepAliveLimits, KeepAliveOptions } from "../options.ts";
import type { TcpHealth } from "../health.ts";
import type { Descriptor, SocketCalls } from "../../ffi/types.ts";
import { SocketOptionError, type SocketOptionName } from "../errors.ts";

/** One operating system's keepalive implementation. */
export interface Platform {
  /** Ranges and units this OS accepts. */
  readonly limits: KeepAliveLimits;
  /** errno numbers to names. */
  readonly errnoNames: Readonly<Record<number, string>>;
  /** Address family numbers, and whether a sockaddr starts with a length byte. */
  readonly families: { inet: number; inet6: number; lengthByte: boolean };
  /** Turns keepalive probing on or off. */
  setEnabled(calls: SocketCalls, fd: Descriptor, on: boolean): void;
  /** Sets the silence before the first probe, in ms (already validated and rounded). */
  setIdle(calls: SocketCalls, fd: Descriptor, ms: number): void;
  /** Sets the time between probes, in ms. */
  setInterval(calls: SocketCalls, fd: Descriptor, ms: number): void;
  /** Sets the number of unanswered probes before the connection is dropped. */
  setCount(calls: SocketCalls, fd: Descriptor, count: number): void;
  /** Sets how long sent data may stay unacknowledged, in ms (0 = system default). */
  setUserTimeout(calls: SocketCalls, fd: Descriptor, ms: number): void;
  /**
   * Applies validated options (rounded, in ms). Keys in `bestEffort` were not asked for by the
   * caller (they are defaults): where the OS cannot set one, it is left as the OS has it rather
   * than failing. Where the OS stores each value exactly as set (Linux), returns the values now
   * in force that a read-back would only repeat, for {@linkcode Platform.getKeepAlive}, with
   * those of `read` (what {@linkcode Platform.tcpSocket} read from it in this same turn) that
   * it did not set.
   */
  apply(
    calls: SocketCalls,
    fd: Descriptor,
    options: ValidKeepAlive,
    bestEffort: ReadonlySet<keyof KeepAliveOptions>,
    read?: KnownKeepAlive,
  ): KnownKeepAlive | void;
  /**
   * Reads back the values in force, in ms; those in `known` (what {@linkcode Platform.apply}
   * just stored, on an OS that stores exactly what it is given) are taken as they are.
   */
  getKeepAlive(calls: SocketCalls, fd: Descriptor, known?: KnownKeepAlive): KeepAliveInfo;
  /**
   * If `fd` is a TCP (stream) socket: the keepalive values the check read from it, as the kernel
   * holds them (none where the OS tells by the socket's type); `undefined` if it is not one.
   * Linux asks for `TCP_USER_TIMEOUT`, which only a TCP socket answers, so the check is also the
   * read-back of the one value a caller often does not set.
   */
  tcpSocket(calls: SocketCalls, fd: Descriptor): KnownKeepAlive | undefined;
  /** A number unique to the socket behind `fd`, where the OS has one. */
  cookie(calls: SocketCalls, fd: Descriptor): bigint | undefined;
  /**
   * Where the OS has network namespaces (Linux): a number unique to the namespace of the socket
   * behind `fd`, or `undefined` if it cannot be read. Absent where there are none.
   */
  namespace?(calls: SocketCalls, fd: Descriptor): bigint | undefined;
  /**
   * With {@linkcode Platform.namespace}: the namespace new sockets of this process are made in
   * (read from a socket of its own, made and closed at once), or `undefined` if it cannot be read.
   */
  homeNamespace?(calls: SocketCalls): bigint | undefined;
  /** Without reading: `"ended"` once the peer sent FIN or the kernel holds an error. */
  peek(calls: SocketCalls, fd: Descriptor): "open" | "ended";
  /**
   * Where a socket can be asked without reading (Linux): the errno of the error the kernel holds
   * for `fd` (verified by the caller) when no byte or FIN waits before it, taken as a read would
   * take it; `undefined` if bytes, a FIN or nothing wait, or the call fails.
   */
  takeError?(calls: SocketCalls, fd: Descriptor): number | undefined;
  /**
   * While `fd`'s connect is still in progress: the address it is connecting to, written to
   * `out` (an IPv6 sockaddr if `inet6`, else IPv4), and its length; negative once the connect
   * has completed, or on any error. Absent where the OS does not tell a connecting socket's peer:
   * such a socket cannot be verified, so it is never touched.
   */
  connectingPeer?(calls: SocketCalls, fd: Descriptor, out: Uint8Array, inet6: boolean): number;
  /**
   * The kernel's record of the connection on `fd` (verified by the caller), read in one system
   * call and decoded; what the OS does not report is absent. Throws
   * {@linkcode SocketOptionError} (option `"health"`) if the call fails.
   */
  health?(calls: SocketCalls, fd: Descriptor): TcpHealth;
}

/** Options after validation: `enabled` is always present. */
export type ValidKeepAlive = KeepAliveOptions & { enabled: boolean };

/** Values a setsockopt just stored, as the kernel holds them (ms; rounded already). */
export type KnownKeepAlive = Partial<Omit<KeepAliveInfo, "unverified">>;

/**
 * Applies options one system call per option, for OSes where each knob is its own option
 * (Linux, macOS, FreeBSD). Times first, then switching probing on, so the first probe is
 * scheduled with the new idle time rather than the system default. Returns the values set
 * (validated options are already rounded to what the OS stores) over those in `read`.
 */
export function applyEach(
  platform: Platform,
  calls: SocketCalls,
  fd: Descriptor,
  options: ValidKeepAlive,
  bestEffort: ReadonlySet<keyof KeepAliveOptions>,
  read: KnownKeepAlive = NOTHING_READ,
): KnownKeepAlive {
  const set: KnownKeepAlive = { ...read };
  // Straight calls, no table of closures: this runs for every connection opened.
  for (const [key, setter] of SETTERS) {
    const value = options[key];
    if (value === undefined) continue;
    try {
      platform[setter](calls, fd, value);
      set[key] = value;
    } catch (error) {
      if (!bestEffort.has(key)) throw error;
    }
  }
  platform.setEnabled(calls, fd, options.enabled);
  set.enabled = options.enabled;
  return set;
}

/** What a check read when it read no option. */
export const NOTHING_READ: KnownKeepAlive = Object.freeze({});

/** Each option with the Platform method that sets it, in the order they are applied. */
const SETTERS = [
  ["idle", "setIdle"],
  ["interval", "setInterval"],
  ["count", "setCount"],
  ["userTimeout", "setUserTimeout"],
] as const;

/** Sets a C int option, throwing {@linkcode SocketOptionError} on failure. */
export function setInt(
  platform: Platform,
  calls: SocketCalls,
  fd: Descriptor,
  level: number,
  name: number,
  value: number,
  option: SocketOptionName,
): void {
  // Int32Array uses the host's byte order, which is what the kernel expects for a C int.
  INT[0] = value;
  const errno = calls.setsockopt(fd, level, name, INT_BYTES);
  if (errno !== 0) throw optionError(platform, "setsockopt", option, errno, value);
}

/** Reads a C int option, throwing {@linkcode SocketOptionError} on failure. */
export function getInt(
  platform: Platform,
  calls: SocketCalls,
  fd: Descriptor,
  level: number,
  name: number,
  option: SocketOptionName,
): number {
  INT[0] = 0;
  const result = calls.getsockopt(fd, level, name, INT_BYTES);
  if (result < 0) throw optionError(platform, "getsockopt", option, -result);
  // Some stacks answer a boolean option with a single byte.
  return result === 1 ? INT_BYTES[0]! : INT[0]!;
}

// One C int of scratch for every option call: the calls are synchronous and nothing runs in
// between, and opening many connections at once should not make garbage for the collector (its
// young generation grows with allocation, and that shows in memory per connection).
const INT = new Int32Array(1);
const INT_BYTES = new Uint8Array(INT.buffer);

/** The error for a failed option call, named after its errno. */
export function optionError(
  platform: Platform,
  syscall: "setsockopt" | "getsockopt",
  option: SocketOptionName,
  errno: number,
  value?: number,
): SocketOptionError {
  const code = platform.errnoNames[errno] ?? `E${errno}`;
  const verb = syscall === "setsockopt" ? "set" : "read";
  const what = value === undefined ? "" : ` to ${value}`;
  return new SocketOptionError(
    `Cannot ${verb} keepalive: ${syscall} for "${option}"${what} failed with ${code} (errno ${errno})`,
    { code, errno, syscall, option },
  );
}
