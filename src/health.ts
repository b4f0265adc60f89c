/**
 * What the kernel itself knows about a connection, read in one system call (Linux and FreeBSD
 * `TCP_INFO`, macOS `TCP_CONNECTION_INFO`, Windows `SIO_TCP_INFO`) and decoded into one shape in
 * milliseconds, bytes and counts. Pure: the decoders in src/os/ use these helpers; no I/O here.
 *
 * A field the OS does not report is absent, never 0: 0 always means the kernel said 0. The same
 * goes for a field past the end of what the kernel filled (an older kernel has a shorter struct).
 * docs/health.md has the table of what each OS reports and what each field means there.
 *
 * @module
 */

import type { StructField } from "../ffi/types.ts";
import { SocketOptionError, type Syscall } from "./errors.ts";

/** TCP states by their RFC 793 names, as every OS's state number is reported. */
export type TcpState =
  | "CLOSED"
  | "LISTEN"
  | "SYN_SENT"
  | "SYN_RECEIVED"
  | "ESTABLISHED"
  | "FIN_WAIT_1"
  | "FIN_WAIT_2"
  | "CLOSE_WAIT"
  | "CLOSING"
  | "LAST_ACK"
  | "TIME_WAIT";

const TCP_STATES: ReadonlySet<string> = new Set<TcpState>([
  "CLOSED",
  "LISTEN",
  "SYN_SENT",
  "SYN_RECEIVED",
  "ESTABLISHED",
  "FIN_WAIT_1",
  "FIN_WAIT_2",
  "CLOSE_WAIT",
  "CLOSING",
  "LAST_ACK",
  "TIME_WAIT",
]);

/**
 * The kernel's record of one connection. Times are milliseconds (fractional where the kernel
 * counts microseconds), sizes bytes, the rest counts. Every field is optional: absent where the
 * OS does not report it, or its kernel filled fewer bytes than the field needs. A listening
 * socket reports its `state` only.
 *
 * The fields that tell a dying connection from a quiet one: `lastReceived` (or, where only it is
 * reported, `lastAckReceived`) grows while the peer is silent; `probes` counts keepalive probes
 * gone unanswered while idle; `unacked` and `retransmits` grow while sent data goes
 * unacknowledged.
 */
export interface TcpHealth {
  /** The TCP state. */
  state?: TcpState;
  /** Smoothed round-trip time, ms. Absent until the first round trip was measured. */
  rtt?: number;
  /** Variation of the round-trip time, ms (the kernel's mean deviation). With `rtt` only. */
  rttVariance?: number;
  /** Lowest round-trip time seen, ms (Linux: over the last few minutes). */
  minRtt?: number;
  /** Retransmission timeout in force, ms: how long before unacknowledged data is resent. */
  rto?: number;
  /** Segments sent and not yet acknowledged (Linux: `tcpi_unacked`, packets in flight). */
  unacked?: number;
  /** Bytes sent and not yet acknowledged (Windows). */
  bytesInFlight?: number;
  /** Bytes written and not yet acknowledged, sent or not (macOS: the send buffer's fill). */
  sendQueue?: number;
  /**
   * Retransmission timeouts in a row for the data now in flight, without an acknowledgement in
   * between (Linux `tcpi_retransmits`); back to 0 once the peer acknowledges.
   */
  retransmits?: number;
  /** Segments retransmitted over the connection's life. */
  totalRetransmits?: number;
  /** Retransmission timeouts over the connection's life (Linux 6.7+, Windows). */
  timeouts?: number;
  /**
   * Probes sent and not answered (Linux `tcpi_probes`): keepalive probes while the connection
   * is idle, zero-window probes while the peer's window is shut. Back to 0 at the next
   * acknowledgement. Keepalive is suspended while data is unacknowledged: then `retransmits`
   * counts instead, and this stays 0. Once it has reached the keepalive count, the kernel drops
   * the connection (ETIMEDOUT) one interval later, when the next probe would be due.
   */
  probes?: number;
  /** Segments the kernel counts as lost, not yet retransmitted (Linux `tcpi_lost`). */
  lost?: number;
  /** Time since data last arrived, ms (since the connection opened if none has). */
  lastReceived?: number;
  /** Time since data was last sent, ms. */
  lastSent?: number;
  /**
   * Time since the peer last acknowledged anything, ms: a keepalive probe's answer counts, so
   * this stays small on an idle connection whose peer is alive. FreeBSD: since any segment
   * arrived.
   */
  lastAckReceived?: number;
  /** Congestion window, bytes (Linux: `tcpi_snd_cwnd` segments × `tcpi_snd_mss`). */
  congestionWindow?: number;
  /** Maximum segment size used for sending, bytes. */
  mss?: number;
  /** The peer's advertised receive window, bytes (what may be sent before its next update). */
  sendWindow?: number;
  /** Bytes sent, retransmissions included. */
  bytesSent?: number;
  /** Bytes the peer acknowledged (Linux; counts the SYN, so 1 on a fresh client connection). */
  bytesAcked?: number;
  /** Bytes received in order. */
  bytesReceived?: number;
  /** Bytes retransmitted. */
  bytesRetransmitted?: number;
}

/** Microseconds, as the kernels count round-trip times, to milliseconds; absent stays absent. */
export function usToMs(us: number): number;
export function usToMs(us: number | undefined): number | undefined;
export function usToMs(us: number | undefined): number | undefined {
  return us === undefined ? undefined : us / 1000;
}

/**
 * The state an OS numbers `state` in its table `names`, if the kernel reported one and it is one
 * of {@linkcode TcpState}.
 */
export function tcpState(
  state: number | undefined,
  names: Readonly<Record<number, string>>,
): TcpState | undefined {
  const name = state === undefined ? undefined : names[state];
  return name !== undefined && TCP_STATES.has(name) ? name as TcpState : undefined;
}

/**
 * Reads unsigned little-endian fields of a struct of which the kernel filled the first `length`
 * bytes: a field that does not lie wholly within them reads as `undefined`, whatever the buffer
 * holds past them. 64-bit fields become numbers (exact below 2⁵³, 8 PiB).
 */
export function structReader(
  bytes: Uint8Array,
  length: number,
): (field: StructField) => number | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const filled = Math.min(length, bytes.byteLength);
  return (field) => {
    if (field.offset + field.width > filled) return undefined;
    switch (field.width) {
      case 1:
        return view.getUint8(field.offset);
      case 2:
        return view.getUint16(field.offset, true);
      case 4:
        return view.getUint32(field.offset, true);
      case 8:
        return Number(view.getBigUint64(field.offset, true));
    }
  };
}

/** Sets `health[key]` to `value` unless it is `undefined`: absent stays absent. */
export function put<K extends keyof TcpHealth>(
  health: TcpHealth,
  key: K,
  value: TcpHealth[K] | undefined,
): void {
  if (value !== undefined) health[key] = value;
}

/** `value` unless it is 0 or ~0U, which kernels use for "not measured yet". */
export function measured(value: number | undefined): number | undefined {
  return value === 0 || value === 0xffffffff ? undefined : value;
}

/** The error for a failed read of the kernel's record, named after its errno. */
export function healthError(
  errnoNames: Readonly<Record<number, string>>,
  syscall: Syscall,
  call: string,
  errno: number,
): SocketOptionError {
  const code = errnoNames[errno] ?? `E${errno}`;
  return new SocketOptionError(
    `Cannot read the connection's health: ${call} failed with ${code} (errno ${errno})`,
    { code, errno, syscall, option: "health" },
  );
}

/** The error where an OS keeps no per-connection record sockalive can read. */
export function noHealth(): SocketOptionError {
  return new SocketOptionError(
    "Cannot read the connection's health: this OS keeps no per-connection TCP record sockalive reads",
    { code: "ERR_UNSUPPORTED_PLATFORM", syscall: "getsockopt", option: "health" },
  );
}
