/**
 * The portable side of socket options: find and verify a connection's socket, validate, apply
 * option by option through the OS's {@linkcode Platform}, and read back what the kernel took.
 *
 * Safety rule: nothing is ever set on a descriptor unless, immediately before, it was verified as
 * the connection's: getsockname and getpeername on it returned exactly the connection's local and
 * peer addresses and it is a stream socket; or, for a descriptor the runtime itself names as the
 * socket's own while it holds it open (a Bun socket's `fd`, -1 once closed: see
 * {@linkcode SocketTarget.named}), it is a connected stream socket over IP. A descriptor number
 * can be closed and reused by an unrelated socket at any time.
 *
 * @module
 */

import {
  type Endpoint,
  isIpv4,
  sockaddrEndpoint,
  sockaddrIs,
  type SocketAddress,
  toEndpoint,
} from "./address.ts";
import { SocketOptionError } from "./errors.ts";
import type { Descriptor, SocketCalls } from "../ffi/types.ts";
import { type KeepAliveInfo, type KeepAliveOptions, validateKeepAlive } from "./options.ts";
import type { KnownKeepAlive, Platform } from "./os/platform.ts";
import { noHealth, type TcpHealth } from "./health.ts";

/** A connection as its runtime describes it: the addresses to match and where to look. */
export interface SocketTarget {
  /** Our end, as the runtime reports it. */
  local: SocketAddress;
  /** The peer's end, as the runtime reports it. */
  remote: SocketAddress;
  /**
   * Likely descriptors, best first (Bun: its `fd`; Deno: guesses). The first that verifies is
   * used; a wrong guess costs a few failed system calls and nothing else.
   */
  hints(): Iterable<Descriptor>;
  /**
   * Every descriptor that could be the socket, searched when no hint verifies (Deno: all open
   * descriptors). Absent where the runtime names the descriptor and nothing else may be tried.
   */
  scan?(): Iterable<Descriptor>;
  /**
   * True where the one hint is the descriptor the runtime itself holds for this very socket,
   * read from it just now, and no longer given once the runtime has closed it (a Bun socket's
   * own `fd` getter: -1 from its close on). The number cannot then carry another socket, so it
   * is checked to be a connected stream socket over IP, and `local` and `remote` (which the
   * runtime reads from the same descriptor) are not asked. Anything else that carries a
   * descriptor (a copy of one, an object the runtime did not make) is compared by address.
   */
  readonly named?: boolean;
  /**
   * Told which descriptor verified, and its addresses as the kernel gave them, so the runtime
   * can guess better next time (and need not ask the kernel again).
   */
  found?(fd: Descriptor, local: Endpoint, remote: Endpoint): void;
}

/** A target in comparable form, plus the descriptor it was last verified at. */
export interface ResolvedTarget {
  local: Endpoint;
  remote: Endpoint;
  fd: Descriptor;
  /** What the verification read of the socket's options (see {@linkcode Platform.tcpSocket}). */
  read: KnownKeepAlive;
}

const SOCKADDR_SIZE = 128;
const SOCKADDR = new Uint8Array(SOCKADDR_SIZE);

/**
 * If `fd` is, right now, a TCP socket with exactly these local and peer addresses: what the
 * check read of its options ({@linkcode Platform.tcpSocket}); else `undefined`. Never throws: a
 * closed, foreign or non-socket descriptor simply does not match.
 */
export function verify(
  platform: Platform,
  calls: SocketCalls,
  fd: Descriptor,
  local: Endpoint,
  remote: Endpoint,
): KnownKeepAlive | undefined {
  // Scratch shared by every call (synchronous; see platform.ts's INT for why).
  const buf = SOCKADDR.fill(0);
  const localLength = calls.getsockname(fd, buf);
  if (localLength < 0 || !sockaddrIs(buf, localLength, platform.families, local)) return;
  const remoteLength = calls.getpeername(fd, buf.fill(0));
  if (remoteLength < 0 || !sockaddrIs(buf, remoteLength, platform.families, remote)) return;
  // A connected UDP socket can have the same two addresses; only a TCP socket will do.
  return platform.tcpSocket(calls, fd);
}

/**
 * The socket a runtime just made for a connect: its descriptor, the address it connects to, and
 * the local address the connect bound it to, which identifies it from then on.
 */
export interface ConnectingTarget {
  readonly fd: Descriptor;
  readonly remote: Endpoint;
  /** The sockaddr getsockname gave. */
  readonly local: Uint8Array;
}

/**
 * Notes what identifies the socket at `fd`, made just now for a connect to `remote`: its local
 * address (one system call, for every connect). Nothing is verified here: nothing is done to it
 * now, and {@linkcode stillConnecting} checks everything before anything ever is. `undefined`
 * where the OS does not tell a connecting socket's peer (it could never be verified), or if
 * `fd` has no address.
 */
export function noteConnecting(
  platform: Platform,
  calls: SocketCalls,
  fd: Descriptor,
  remote: Endpoint,
): ConnectingTarget | undefined {
  if (!platform.connectingPeer) return undefined;
  const buf = SOCKADDR.fill(0);
  const localLength = calls.getsockname(fd, buf);
  return localLength < 0 ? undefined : { fd, remote, local: buf.slice(0, localLength) };
}

/**
 * Whether `target` is, right now, a stream socket still connecting to its address from the
 * local address {@linkcode noteConnecting} noted. Checked immediately before anything is done to
 * it: once the connect ends, its owner may close the descriptor, and the number be reused. Never
 * throws.
 */
export function stillConnecting(
  platform: Platform,
  calls: SocketCalls,
  target: ConnectingTarget,
): boolean {
  if (!platform.connectingPeer) return false;
  const { fd, remote, local } = target;
  const buf = SOCKADDR.fill(0);
  const peerLength = platform.connectingPeer(calls, fd, buf, !isIpv4(remote));
  if (peerLength < 0 || !sockaddrIs(buf, peerLength, platform.families, remote)) return false;
  const localLength = calls.getsockname(fd, buf.fill(0));
  return localLength === local.length && local.every((byte, i) => byte === buf[i]) &&
    platform.tcpSocket(calls, fd) !== undefined;
}

/** Converts a target's addresses, refusing what is not a literal IP address and port. */
export function endpoints(target: Pick<SocketTarget, "local" | "remote">): {
  local: Endpoint;
  remote: Endpoint;
} {
  const local = toEndpoint(target.local);
  const remote = toEndpoint(target.remote);
  if (!local || !remote) {
    throw new TypeError(
      `Cannot find the socket: the connection's addresses are not IP addresses ` +
        `(local ${JSON.stringify(target.local)}, remote ${JSON.stringify(target.remote)})`,
    );
  }
  return { local, remote };
}

/**
 * Finds the descriptor whose addresses are the target's: first among the hints (the first that
 * verifies wins, so the common case is a handful of system calls), then by a full scan.
 *
 * Within one network namespace no two connected TCP sockets share both addresses; across
 * namespaces they can (a descriptor inherited from a process in another one). So where the OS has
 * namespaces and the descriptor is a guess (the target has a scan: the runtime made the socket
 * but hides its descriptor), only a socket in the namespace this process makes sockets in can be
 * the connection's: a hint is taken only if it is one, and any other match sends the lookup to
 * the scan, which never takes a socket from elsewhere. (That namespace is read once; a process
 * that moves to another namespace afterwards finds no socket it makes there.) Where it cannot be
 * read, every match counts. The scan throws `ERR_SOCKET_AMBIGUOUS` when two different sockets
 * match (duplicates of one socket are fine) and `ERR_SOCKET_NOT_FOUND` when none does.
 */
export function resolveTarget(
  platform: Platform,
  calls: SocketCalls,
  target: SocketTarget,
): ResolvedTarget {
  if (target.named) {
    const own = connectedStream(platform, calls, target);
    if (own) return own;
    // Not a connected stream socket over IP: the lookup by address below says what it is.
  }
  const { local, remote } = endpoints(target);
  const guessed = target.scan !== undefined && platform.namespace !== undefined;
  const home = guessed ? homeNamespace(platform, calls) : undefined;
  // The hints tried without a match, which the scan need not try again: the first apart, so
  // that the usual lookup (the first hint verifies) allocates nothing for this.
  let firstTried: Descriptor | undefined;
  let tried: Descriptor[] | undefined;
  for (const fd of target.hints()) {
    if (fd === firstTried || tried?.includes(fd)) continue;
    const read = verify(platform, calls, fd, local, remote);
    if (!read) {
      if (firstTried === undefined) firstTried = fd;
      else (tried ??= []).push(fd);
      continue;
    }
    if (!guessed || (home !== undefined && platform.namespace!(calls, fd) === home)) {
      target.found?.(fd, local, remote);
      return { local, remote, fd, read };
    }
    // Our addresses in another namespace (or one we cannot tell): only the scan can decide.
    break;
  }
  const candidates: Array<
    { fd: Descriptor; read: KnownKeepAlive; cookie: bigint | undefined; atHome: boolean }
  > = [];
  for (const fd of target.scan?.() ?? []) {
    if (fd === firstTried || tried?.includes(fd)) continue;
    const read = verify(platform, calls, fd, local, remote);
    if (!read) continue;
    const atHome = home !== undefined && platform.namespace!(calls, fd) === home;
    candidates.push({ fd, read, cookie: platform.cookie(calls, fd), atHome });
  }
  const chosen = home === undefined ? candidates : candidates.filter((c) => c.atHome);
  const first = chosen[0];
  if (first === undefined) {
    const addresses = `local ${format(target.local)} and peer ${format(target.remote)}`;
    // With no match anywhere, the connection is gone: a runtime's socket whose addresses no
    // open socket has was closed (or reset: the kernel then forgets the peer's address).
    throw new SocketOptionError(
      candidates.length > 0
        ? `Cannot find the socket: no open TCP socket has ${addresses}; a socket with these ` +
          `addresses in another network namespace is not this connection's`
        : `Cannot find the socket: it is closed or was reset (no open TCP socket has ${addresses})`,
      { code: "ERR_SOCKET_NOT_FOUND", syscall: "lookup", option: "socket" },
    );
  }
  // Duplicates of one socket share its cookie; without cookies, two descriptors are two sockets.
  const other = chosen.slice(1).find((c) => c.cookie === undefined || c.cookie !== first.cookie);
  if (other) {
    throw new SocketOptionError(
      `Cannot find the socket: descriptors ${first.fd} and ${other.fd} both have local ` +
        `${format(target.local)} and peer ${format(target.remote)}; refusing to guess`,
      { code: "ERR_SOCKET_AMBIGUOUS", syscall: "lookup", option: "socket" },
    );
  }
  target.found?.(first.fd, local, remote);
  return { local, remote, fd: first.fd, read: first.read };
}

/**
 * A named target's descriptor, if it is a connected stream socket over IP: its addresses are
 * then the kernel's, read in the same two calls.
 */
function connectedStream(
  platform: Platform,
  calls: SocketCalls,
  target: SocketTarget,
): ResolvedTarget | undefined {
  for (const fd of target.hints()) {
    const buf = SOCKADDR.fill(0);
    const local = sockaddrEndpoint(buf, calls.getsockname(fd, buf), platform.families);
    if (!local) return undefined;
    const remote = sockaddrEndpoint(buf.fill(0), calls.getpeername(fd, buf), platform.families);
    if (!remote) return undefined;
    const read = platform.tcpSocket(calls, fd);
    if (!read) return undefined;
    target.found?.(fd, local, remote);
    return { local, remote, fd, read };
  }
  return undefined;
}

/** The namespace this process makes sockets in, read once per set of calls. */
function homeNamespace(platform: Platform, calls: SocketCalls): bigint | undefined {
  if (HOME.has(calls)) return HOME.get(calls);
  const home = platform.homeNamespace?.(calls);
  // Not remembered when unreadable: that may be passing (no descriptor free for the probe).
  if (home !== undefined) HOME.set(calls, home);
  return home;
}

const HOME = new WeakMap<SocketCalls, bigint>();

/**
 * Re-verifies a previously resolved descriptor, immediately before use. Throws
 * `ERR_SOCKET_NOT_FOUND` if it no longer carries the connection (closed, or reused).
 */
export function reverify(
  platform: Platform,
  calls: SocketCalls,
  resolved: ResolvedTarget,
): Descriptor {
  if (verify(platform, calls, resolved.fd, resolved.local, resolved.remote)) return resolved.fd;
  throw descriptorGone(resolved.fd);
}

/** `ERR_SOCKET_NOT_FOUND` for a socket found before that `fd` no longer carries. */
export function descriptorGone(fd: Descriptor): SocketOptionError {
  return new SocketOptionError(
    `Cannot use the socket: descriptor ${fd} no longer carries this connection ` +
      `(it was closed or reset)`,
    { code: "ERR_SOCKET_NOT_FOUND", syscall: "lookup", option: "socket" },
  );
}

/**
 * Validates `options`, applies them on the descriptor `resolve` verifies (with what its check
 * read), and returns the values read back from the kernel. Nothing is called on the socket if
 * validation fails. Keys in `bestEffort` are defaults the caller did not ask for: where the OS
 * cannot set one, it is left as is.
 */
export function applyKeepAlive(
  platform: Platform,
  calls: SocketCalls,
  resolve: () => Pick<ResolvedTarget, "fd" | "read">,
  options: KeepAliveOptions,
  bestEffort: ReadonlySet<keyof KeepAliveOptions> = NO_KEYS,
): KeepAliveInfo {
  const valid = validateKeepAlive(options, platform.limits);
  const { fd, read } = resolve();
  return applyValidKeepAlive(platform, calls, fd, valid, bestEffort, read);
}

/**
 * {@linkcode applyKeepAlive} for options already validated against this platform's limits, on
 * a descriptor verified by the caller just before; `read` is what that verification read of its
 * options (in the same synchronous turn, so still the kernel's).
 */
export function applyValidKeepAlive(
  platform: Platform,
  calls: SocketCalls,
  fd: Descriptor,
  valid: ReturnType<typeof validateKeepAlive>,
  bestEffort: ReadonlySet<keyof KeepAliveOptions> = NO_KEYS,
  read?: KnownKeepAlive,
): KeepAliveInfo {
  const known = platform.apply(calls, fd, valid, bestEffort, read);
  return platform.getKeepAlive(calls, fd, known ?? undefined);
}

const NO_KEYS: ReadonlySet<keyof KeepAliveOptions> = new Set();

function format(address: SocketAddress): string {
  return address.hostname.includes(":")
    ? `[${address.hostname}]:${address.port}`
    : `${address.hostname}:${address.port}`;
}

/**
 * The body of every adapter's public `setKeepAlive`: validate first (a bad option is refused
 * even for a closed or foreign socket), then describe the target, then find, verify and apply.
 */
export function setKeepAliveOn<S>(
  platform: Platform,
  calls: () => SocketCalls,
  targetOf: (socket: S) => SocketTarget,
  socket: S,
  options: KeepAliveOptions,
): KeepAliveInfo {
  const valid = validateKeepAlive(options, platform.limits);
  const t = targetOf(socket);
  const c = calls();
  const { fd, read } = resolveTarget(platform, c, t);
  return applyValidKeepAlive(platform, c, fd, valid, NO_KEYS, read);
}

/** The body of every adapter's public `getKeepAlive`. */
export function getKeepAliveOn<S>(
  platform: Platform,
  calls: () => SocketCalls,
  targetOf: (socket: S) => SocketTarget,
  socket: S,
): KeepAliveInfo {
  const t = targetOf(socket);
  const c = calls();
  const { fd, read } = resolveTarget(platform, c, t);
  return platform.getKeepAlive(c, fd, read);
}

/** The body of every adapter's public `getHealth`. */
export function getHealthOn<S>(
  platform: Platform,
  calls: () => SocketCalls,
  targetOf: (socket: S) => SocketTarget,
  socket: S,
): TcpHealth {
  if (!platform.health) throw noHealth();
  const t = targetOf(socket);
  const c = calls();
  return platform.health(c, resolveTarget(platform, c, t).fd);
}
