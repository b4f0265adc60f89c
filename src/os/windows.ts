/**
 * Keepalive on Windows: `SO_KEEPALIVE`, then `WSAIoctl(SIO_KEEPALIVE_VALS)` with
 * `struct tcp_keepalive { onoff, keepalivetime, keepaliveinterval }` in milliseconds (so Windows
 * has 1 ms granularity), `TCP_KEEPCNT` where the OS has it (Windows 10 1703+), and `TCP_MAXRT`
 * (whole seconds) for the user timeout.
 *
 * Windows cannot read idle and interval back. sockalive remembers what it set on each socket and
 * reports those values listed in `unverified`; a time the caller leaves out is filled from what
 * was set before on that socket, else from Windows' defaults (2 h idle, 1 s interval), because
 * the ioctl always sets both and a field left 0 would become 0.
 *
 * @module
 */

import {
  AF_INET,
  AF_INET6,
  DEFAULT_KEEPALIVE_INTERVAL_MS,
  DEFAULT_KEEPALIVE_TIME_MS,
  FIXED_KEEPALIVE_COUNT,
  IPPROTO_TCP,
  POLLERR,
  POLLHUP,
  POLLNVAL,
  POLLRDNORM,
  SIO_KEEPALIVE_VALS,
  SIO_TCP_INFO,
  SO_KEEPALIVE,
  SO_TYPE,
  SOCK_STREAM,
  SOL_SOCKET,
  TCP_INFO_V0_LAYOUT,
  TCP_INFO_VERSION_SIZE,
  TCP_KEEPALIVE_STRUCT_SIZE,
  TCP_KEEPCNT,
  TCP_MAXRT,
  TCP_STATE_NAMES,
  WSA_ERROR_NAMES,
} from "../../ffi/windows.ts";
import {
  healthError,
  measured,
  put,
  structReader,
  type TcpHealth,
  tcpState,
  usToMs,
} from "../health.ts";
import { SocketOptionError } from "../errors.ts";
import type { KeepAliveInfo, KeepAliveLimits } from "../options.ts";
import { toMillis, toSeconds } from "../options.ts";
import type { Descriptor, SocketCalls } from "../../ffi/types.ts";
import {
  getInt,
  type KnownKeepAlive,
  NOTHING_READ,
  optionError,
  type Platform,
  setInt,
} from "./platform.ts";

/** What Windows accepts, in ms: ULONG milliseconds for the times, a byte for the count. */
export const WINDOWS_LIMITS: KeepAliveLimits = Object.freeze({
  os: "Windows",
  durationUnit: 1,
  idle: [1, 0xffffffff] as const,
  interval: [1, 0xffffffff] as const,
  count: [1, 255] as const,
  userTimeout: [0, 2 ** 31 - 1] as const,
});

interface Remembered {
  /** The socket's addresses when the values were set, so a reused handle is not mistaken. */
  identity: string;
  idle: number;
  interval: number;
  userTimeout?: number;
}

// Bounded: one entry per socket sockalive configured, dropped oldest-first.
const remembered = new Map<Descriptor, Remembered>();
const MAX_REMEMBERED = 4096;

function identity(calls: SocketCalls, s: Descriptor): string {
  const buf = new Uint8Array(128);
  const local = calls.getsockname(s, buf);
  const a = local > 0 ? Array.from(buf.subarray(0, local)).join(",") : "";
  const peer = calls.getpeername(s, buf.fill(0));
  const b = peer > 0 ? Array.from(buf.subarray(0, peer)).join(",") : "";
  return `${a}|${b}`;
}

function recall(calls: SocketCalls, s: Descriptor): Remembered | undefined {
  const r = remembered.get(s);
  return r && r.identity === identity(calls, s) ? r : undefined;
}

function remember(s: Descriptor, r: Remembered): void {
  remembered.delete(s);
  remembered.set(s, r);
  if (remembered.size > MAX_REMEMBERED) remembered.delete(remembered.keys().next().value!);
}

/** `struct tcp_keepalive` as the ioctl takes it: three little-endian ULONGs. */
export function tcpKeepaliveStruct(on: boolean, idle: number, interval: number): Uint8Array {
  const bytes = new Uint8Array(TCP_KEEPALIVE_STRUCT_SIZE);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, on ? 1 : 0, true);
  view.setUint32(4, idle, true);
  view.setUint32(8, interval, true);
  return bytes;
}

/** Windows's implementation of each option. */
export const windows: Platform = {
  limits: WINDOWS_LIMITS,
  errnoNames: WSA_ERROR_NAMES,
  families: { inet: AF_INET, inet6: AF_INET6, lengthByte: false },

  setEnabled(calls, s, on): void {
    setInt(this, calls, s, SOL_SOCKET, SO_KEEPALIVE, on ? 1 : 0, "enabled");
  },
  setIdle(calls, s, ms): void {
    setTimes(calls, s, ms, undefined);
  },
  setInterval(calls, s, ms): void {
    setTimes(calls, s, undefined, ms);
  },
  setCount(calls, s, count): void {
    const errno = calls.setsockopt(s, IPPROTO_TCP, TCP_KEEPCNT, int(count));
    if (errno === 0) return;
    if (count === FIXED_KEEPALIVE_COUNT) return; // what Windows does anyway
    const code = WSA_ERROR_NAMES[errno] ?? `WSA${errno}`;
    throw new SocketOptionError(
      `Cannot set keepalive: "count" cannot be set on this Windows (setsockopt TCP_KEEPCNT ` +
        `failed with ${code}; it needs Windows 10 1703 or later, and Wine rejects it); the count ` +
        `is fixed at ${FIXED_KEEPALIVE_COUNT} here, so ask for ${FIXED_KEEPALIVE_COUNT} or leave "count" out`,
      { code, errno, syscall: "setsockopt", option: "count" },
    );
  },
  setUserTimeout(calls, s, ms): void {
    // TCP_MAXRT takes whole seconds; 0 leaves the system's retransmission limit alone.
    if (ms === 0) return;
    setInt(this, calls, s, IPPROTO_TCP, TCP_MAXRT, toSeconds(ms), "userTimeout");
    const r = recall(calls, s);
    if (r) r.userTimeout = toMillis(toSeconds(ms));
  },
  apply(calls, s, options, bestEffort): void {
    this.setEnabled(calls, s, options.enabled);
    if (options.enabled && (options.idle !== undefined || options.interval !== undefined)) {
      setTimes(calls, s, options.idle, options.interval);
    }
    if (options.count !== undefined) {
      try {
        this.setCount(calls, s, options.count);
      } catch (error) {
        if (!bestEffort.has("count")) throw error;
      }
    }
    if (options.userTimeout !== undefined) {
      try {
        this.setUserTimeout(calls, s, options.userTimeout);
      } catch (error) {
        if (!bestEffort.has("userTimeout")) throw error;
      }
    }
  },
  getKeepAlive(calls, s): KeepAliveInfo {
    const unverified: NonNullable<KeepAliveInfo["unverified"]> = ["idle", "interval"];
    const r = recall(calls, s);
    const enabled = getInt(this, calls, s, SOL_SOCKET, SO_KEEPALIVE, "enabled") !== 0;
    const buf = new Uint8Array(4);
    let count = FIXED_KEEPALIVE_COUNT;
    if (calls.getsockopt(s, IPPROTO_TCP, TCP_KEEPCNT, buf) === 4) {
      count = new Int32Array(buf.buffer)[0]!;
    } else {
      unverified.push("count");
    }
    let userTimeout = r?.userTimeout ?? 0;
    if (calls.getsockopt(s, IPPROTO_TCP, TCP_MAXRT, buf.fill(0)) === 4) {
      const seconds = new Int32Array(buf.buffer)[0]!;
      userTimeout = seconds > 0 ? toMillis(seconds) : 0;
    } else {
      unverified.push("userTimeout");
    }
    return {
      enabled,
      idle: r?.idle ?? DEFAULT_KEEPALIVE_TIME_MS,
      interval: r?.interval ?? DEFAULT_KEEPALIVE_INTERVAL_MS,
      count,
      userTimeout,
      unverified,
    };
  },
  tcpSocket(calls, s): KnownKeepAlive | undefined {
    const buf = new Uint8Array(4);
    return calls.getsockopt(s, SOL_SOCKET, SO_TYPE, buf) === 4 &&
        new Int32Array(buf.buffer)[0] === SOCK_STREAM
      ? NOTHING_READ
      : undefined;
  },
  cookie: () => undefined,
  peek(calls, s): "open" | "ended" {
    // WSAPoll reports POLLHUP for a graceful or abortive disconnect and POLLERR for an error.
    const revents = calls.poll(s, POLLRDNORM);
    if (revents < 0) return "ended";
    return revents & (POLLERR | POLLHUP | POLLNVAL) ? "ended" : "open";
  },
  health(calls, s): TcpHealth {
    if (!calls.ioctl) throw new TypeError("Cannot read the connection's health: no WSAIoctl");
    const out = new Uint8Array(TCP_INFO_V0_LAYOUT.size);
    // The input is the DWORD version of the struct asked for: 0, TCP_INFO_v0.
    const length = calls.ioctl(s, SIO_TCP_INFO, new Uint8Array(TCP_INFO_VERSION_SIZE), out);
    if (length < 0) {
      throw healthError(WSA_ERROR_NAMES, "WSAIoctl", "WSAIoctl(SIO_TCP_INFO)", -length);
    }
    return decodeTcpInfoV0(out, length);
  },
};

/**
 * Windows's `TCP_INFO_v0` (ffi/windows.ts {@linkcode TCP_INFO_V0_LAYOUT}) of which `length` bytes
 * were returned, as {@linkcode TcpHealth}: µs to ms for the round-trip times. Windows counts bytes
 * in flight rather than segments, and reports no RTO, no round-trip variance, no keepalive probe
 * count and no times since the last segment.
 */
export function decodeTcpInfoV0(bytes: Uint8Array, length: number): TcpHealth {
  const f = TCP_INFO_V0_LAYOUT.fields;
  const read = structReader(bytes, length);
  const health: TcpHealth = {};
  const state = read(f.State);
  put(health, "state", tcpState(state, TCP_STATE_NAMES));
  if (health.state === "LISTEN") return health;
  put(health, "rtt", usToMs(measured(read(f.RttUs))));
  put(health, "minRtt", usToMs(measured(read(f.MinRttUs))));
  put(health, "bytesInFlight", read(f.BytesInFlight));
  put(health, "timeouts", read(f.TimeoutEpisodes));
  put(health, "congestionWindow", read(f.Cwnd));
  put(health, "mss", read(f.Mss));
  put(health, "sendWindow", read(f.SndWnd));
  put(health, "bytesSent", read(f.BytesOut));
  put(health, "bytesReceived", read(f.BytesIn));
  put(health, "bytesRetransmitted", read(f.BytesRetrans));
  return health;
}

function int(value: number): Uint8Array {
  return new Uint8Array(new Int32Array([value]).buffer);
}

/** Sets both times at once, as the ioctl requires, filling a missing one as documented above. */
function setTimes(
  calls: SocketCalls,
  s: Descriptor,
  idle: number | undefined,
  interval: number | undefined,
): void {
  const before = recall(calls, s);
  const time = idle ?? before?.idle ?? DEFAULT_KEEPALIVE_TIME_MS;
  const every = interval ?? before?.interval ?? DEFAULT_KEEPALIVE_INTERVAL_MS;
  if (!calls.ioctl) throw new TypeError("Cannot set keepalive: WSAIoctl is not available");
  const errno = calls.ioctl(s, SIO_KEEPALIVE_VALS, tcpKeepaliveStruct(true, time, every));
  if (errno !== 0) {
    const error = optionError(
      windows,
      "setsockopt",
      idle !== undefined ? "idle" : "interval",
      errno,
    );
    throw new SocketOptionError(
      error.message.replace("setsockopt", "WSAIoctl(SIO_KEEPALIVE_VALS)"),
      { code: error.code, errno, syscall: "WSAIoctl", option: error.option },
    );
  }
  remember(s, {
    identity: identity(calls, s),
    idle: time,
    interval: every,
    userTimeout: before?.userTimeout,
  });
}
