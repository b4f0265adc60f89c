/**
 * The {@linkcode SocketCalls} contract built on top of bound C functions, once for POSIX libc and
 * once for Winsock. Runtime-agnostic: each adapter binds the symbols with its own FFI and passes
 * how to read memory behind a pointer. Struct layouts live here, beside the numbers they use.
 *
 * @module
 */

import type {
  Descriptor,
  PosixLibrary,
  ReadinessPoller,
  ReadinessReport,
  SocketCalls,
} from "./types.ts";
import * as linux from "./linux.ts";
import * as windows from "./windows.ts";

/** How to read memory behind a pointer of the runtime's pointer type `P`. */
export interface PointerReader<P> {
  /** The int at the pointer. */
  i32(pointer: NonNullable<P>): number;
  /** The NUL-terminated string at `offset` bytes past the pointer. */
  cstring(pointer: NonNullable<P>, offset: number): string;
}

const STANDARD_DESCRIPTORS = [0, 1, 2] as const;
/** The most descriptor numbers tried when they cannot be listed (the limit may be unlimited). */
const MAX_PROBED = 1n << 20n;
/** `shutdown`'s "both directions": 2 on Linux, macOS and FreeBSD alike. */
const SHUT_RDWR = 2;

/**
 * `poll` on one descriptor without waiting, through `pollfd` (scratch of 2 ints): the returned
 * events (0 if none), or -1 if poll failed (errno is the caller's to read, at once).
 */
function pollNow(
  poll: (fds: Int32Array, count: bigint, timeout: number) => number,
  pollfd: Int32Array,
  fd: number,
  events: number,
): number {
  // struct pollfd { int fd; short events; short revents; }: revents is the high half of the
  // second int on little-endian machines.
  pollfd[0] = fd;
  pollfd[1] = events & 0xffff;
  const n = poll(pollfd, 1n, 0);
  return n < 0 ? -1 : n === 0 ? 0 : pollfd[1] >>> 16;
}

/** libc functions bound by a runtime's FFI; `P` is its pointer type. */
export interface BoundPosix<P> {
  setsockopt(fd: number, level: number, name: number, value: Uint8Array, length: number): number;
  getsockopt(
    fd: number,
    level: number,
    name: number,
    value: Uint8Array,
    length: Uint32Array,
  ): number;
  getsockname(fd: number, address: Uint8Array, length: Uint32Array): number;
  getpeername(fd: number, address: Uint8Array, length: Uint32Array): number;
  recv(fd: number, buffer: Uint8Array, length: bigint, flags: number): number | bigint;
  poll(fds: Int32Array, count: bigint, timeout: number): number;
  socket(domain: number, type: number, protocol: number): number;
  getrlimit(resource: number, limit: BigUint64Array): number;
  dup(fd: number): number;
  shutdown(fd: number, how: number): number;
  close(fd: number): number;
  opendir(name: Uint8Array): P;
  readdir(dir: NonNullable<P>): P;
  closedir(dir: NonNullable<P>): number;
  errnoLocation(): P;
}

/** {@linkcode SocketCalls} over libc. */
export function posixCalls<P>(
  c: BoundPosix<P>,
  read: PointerReader<P>,
  library: PosixLibrary,
): SocketCalls {
  // Read errno right after the failing call: nothing else runs in between.
  const errno = () => read.i32(c.errnoLocation()!);
  const length = new Uint32Array(1);
  const addressCall = (name: "getsockname" | "getpeername", fd: number, out: Uint8Array) => {
    length[0] = out.byteLength;
    return c[name](fd, out, length) === 0 ? length[0] : -errno();
  };
  const pollfd = new Int32Array(2); // scratch for pollNow
  const peeked = new Uint8Array(1); // scratch for recvPeek: the byte is looked at, never taken
  const dir = new TextEncoder().encode(`${library.fdDirectory}\0`);
  return {
    setsockopt: (fd, level, name, value) =>
      c.setsockopt(fd, level, name, value, value.byteLength) === 0 ? 0 : errno(),
    getsockopt(fd, level, name, value) {
      length[0] = value.byteLength;
      return c.getsockopt(fd, level, name, value, length) === 0 ? length[0] : -errno();
    },
    getsockname: (fd, out) => addressCall("getsockname", fd, out),
    getpeername: (fd, out) => addressCall("getpeername", fd, out),
    socket(domain, type, protocol) {
      const fd = c.socket(domain, type, protocol);
      return fd >= 0 ? fd : -errno();
    },
    close: (fd) => c.close(fd) === 0 ? 0 : errno(),
    recvPeek(fd) {
      const n = Number(c.recv(fd, peeked, 1n, library.peekNow));
      return n >= 0 ? n : -errno();
    },
    poll(fd, events) {
      const revents = pollNow(c.poll, pollfd, fd, events);
      return revents < 0 ? -errno() : revents;
    },
    shutdown: (fd) => c.shutdown(fd, SHUT_RDWR) === 0 ? 0 : errno(),
    lowestFreeDescriptor() {
      // dup() returns the lowest free number; closing our own duplicate at once frees it again.
      for (const std of STANDARD_DESCRIPTORS) {
        const fd = c.dup(std);
        if (fd >= 0) {
          c.close(fd);
          return fd;
        }
      }
      return undefined;
    },
    listDescriptors() {
      const handle = c.opendir(dir);
      if (handle === null || handle === undefined || handle === 0) {
        // Listing takes a descriptor of its own, so a process at its limit (EMFILE) cannot
        // list; every number below the limit is then a candidate (each is verified anyway).
        const limit = new BigUint64Array(2);
        if (c.getrlimit(library.rlimitNofile, limit) !== 0) return [];
        const current = limit[0]!; // rlim_cur
        const count = Number(current < MAX_PROBED ? current : MAX_PROBED);
        return Array.from({ length: count }, (_, fd) => fd);
      }
      const out: Descriptor[] = [];
      try {
        for (let entry = c.readdir(handle!); entry; entry = c.readdir(handle!)) {
          const name = read.cstring(entry!, library.direntNameOffset);
          if (name !== "." && name !== "..") out.push(Number(name));
        }
      } finally {
        c.closedir(handle!);
      }
      return out;
    },
  };
}

/** Winsock functions bound by a runtime's FFI; `SOCKET` is pointer-sized, passed as a bigint. */
export interface BoundWinsock {
  setsockopt(s: bigint, level: number, name: number, value: Uint8Array, length: number): number;
  getsockopt(s: bigint, level: number, name: number, value: Uint8Array, length: Int32Array): number;
  getsockname(s: bigint, address: Uint8Array, length: Int32Array): number;
  getpeername(s: bigint, address: Uint8Array, length: Int32Array): number;
  WSAIoctl(
    s: bigint,
    code: number,
    input: Uint8Array,
    inputLength: number,
    output: Uint8Array | null,
    outputLength: number,
    bytesReturned: Uint32Array,
    overlapped: null,
    completion: null,
  ): number;
  WSAGetLastError(): number;
  WSAPoll(fds: Uint8Array, count: number, timeout: number): number;
}

/** {@linkcode SocketCalls} over Winsock; errors are WSA error numbers. */
export function winsockCalls(c: BoundWinsock): SocketCalls {
  const length = new Int32Array(1);
  const returned = new Uint32Array(1);
  const addressCall = (name: "getsockname" | "getpeername", s: number, out: Uint8Array) => {
    length[0] = out.byteLength;
    return c[name](BigInt(s), out, length) === 0 ? length[0] : -c.WSAGetLastError();
  };
  const pollfd = new Uint8Array(windows.WSAPOLLFD_SIZE);
  const pollView = new DataView(pollfd.buffer);
  return {
    setsockopt: (s, level, name, value) =>
      c.setsockopt(BigInt(s), level, name, value, value.byteLength) === 0 ? 0 : c.WSAGetLastError(),
    getsockopt(s, level, name, value) {
      length[0] = value.byteLength;
      return c.getsockopt(BigInt(s), level, name, value, length) === 0
        ? length[0]
        : -c.WSAGetLastError();
    },
    getsockname: (s, out) => addressCall("getsockname", s, out),
    getpeername: (s, out) => addressCall("getpeername", s, out),
    ioctl(s, code, input, output) {
      returned[0] = 0;
      const failed = c.WSAIoctl(
        BigInt(s),
        code,
        input,
        input.byteLength,
        output ?? null,
        output?.byteLength ?? 0,
        returned,
        null,
        null,
      ) !== 0;
      // Without an output buffer: 0 or the error; with one: the bytes written, or -error.
      if (output === undefined) return failed ? c.WSAGetLastError() : 0;
      return failed ? -c.WSAGetLastError() : returned[0];
    },
    poll(s, events) {
      // struct WSAPOLLFD { SOCKET fd; SHORT events; SHORT revents; } (8 + 2 + 2, padded to 16)
      pollView.setBigUint64(0, BigInt(s), true);
      pollView.setInt16(8, events, true);
      pollView.setInt16(10, 0, true);
      const n = c.WSAPoll(pollfd, 1, 0);
      return n < 0 ? -c.WSAGetLastError() : n === 0 ? 0 : pollView.getUint16(10, true);
    },
    // Windows hands out handles in no particular order: no guess.
    lowestFreeDescriptor: () => undefined,
    listDescriptors() {
      // SOCKET values are kernel handles: multiples of 4. Each candidate is verified by address
      // before use, so scanning numbers that are not sockets is harmless (WSAENOTSOCK).
      const out: Descriptor[] = [];
      for (let h = 4; h <= windows.MAX_SCANNED_HANDLE; h += 4) out.push(h);
      return out;
    },
  };
}

/** Linux epoll functions bound by a runtime's FFI; `epoll_wait` runs off the main thread. */
export interface BoundEpoll {
  epoll_create1(flags: number): number;
  epoll_ctl(epfd: number, op: number, fd: number, event: Uint8Array): number;
  epoll_wait(epfd: number, events: Uint8Array, maxEvents: number, timeout: number): Promise<number>;
  eventfd(initial: number, flags: number): number;
  write(fd: number, buffer: Uint8Array, count: bigint): number | bigint;
  read(fd: number, buffer: Uint8Array, count: bigint): number | bigint;
  poll(fds: Int32Array, count: bigint, timeout: number): number;
  close(fd: number): number;
  /** errno of the last call made on this thread. */
  errno(): number;
}

/**
 * A {@linkcode ReadinessPoller} over one epoll instance plus an eventfd that wakes it. Returns
 * `undefined` if either cannot be created. `arch` picks the `struct epoll_event` layout.
 */
export function epollPoller(
  c: BoundEpoll,
  arch: string,
  maxEvents = 256,
): ReadinessPoller | undefined {
  const epfd = c.epoll_create1(linux.EPOLL_CLOEXEC);
  if (epfd < 0) return undefined;
  const wakefd = c.eventfd(0, linux.EFD_CLOEXEC | linux.EFD_NONBLOCK);
  const { size, dataOffset } = linux.epollEventLayout(arch);
  // One buffer for epoll_ctl (main thread) and one that belongs to the pending epoll_wait (worker
  // thread): never the same memory.
  const event = new Uint8Array(size);
  const eventView = new DataView(event.buffer);
  const events = new Uint8Array(size * maxEvents);
  const eventsView = new DataView(events.buffer);
  const counter = new Uint8Array(8);
  const pollfd = new Int32Array(2);
  const WAKE = 0; // the eventfd's token; sockets get 1 and up
  const ctl = (op: number, fd: number, token: number, flags: number) => {
    eventView.setUint32(0, flags, true);
    eventView.setUint32(dataOffset, token, true);
    eventView.setUint32(dataOffset + 4, 0, true);
    return c.epoll_ctl(epfd, op, fd, event) === 0 ? 0 : c.errno();
  };
  if (wakefd < 0 || ctl(linux.EPOLL_CTL_ADD, wakefd, WAKE, linux.EPOLLIN) !== 0) {
    if (wakefd >= 0) c.close(wakefd);
    c.close(epfd);
    return undefined;
  }
  // EPOLLERR and EPOLLHUP are always reported; EPOLLRDHUP is the peer's FIN.
  const interest = linux.EPOLLIN | linux.EPOLLRDHUP | linux.EPOLLONESHOT;
  return {
    watch: (fd, token, rearm) =>
      ctl(rearm ? linux.EPOLL_CTL_MOD : linux.EPOLL_CTL_ADD, fd, token, interest),
    quiet: (fd, token) => ctl(linux.EPOLL_CTL_MOD, fd, token, linux.EPOLLONESHOT),
    unwatch: (fd) => ctl(linux.EPOLL_CTL_DEL, fd, 0, 0),
    // POLLERR and POLLHUP count too (always reported): a read reports them.
    readable: (fd) => pollNow(c.poll, pollfd, fd, linux.POLLIN | linux.POLLRDHUP) > 0,
    async wait() {
      const n = await c.epoll_wait(epfd, events, maxEvents, -1);
      if (n < 0) return undefined;
      const reports: ReadinessReport[] = [];
      for (let i = 0; i < n; i++) {
        const token = eventsView.getUint32(i * size + dataOffset, true);
        if (token === WAKE) c.read(wakefd, counter, 8n); // reset the eventfd's counter
        else {
          const error = (eventsView.getUint32(i * size, true) & linux.EPOLLERR) !== 0;
          reports.push({ token, error });
        }
      }
      return reports;
    },
    wake() {
      new DataView(counter.buffer).setBigUint64(0, 1n, true);
      c.write(wakefd, counter, 8n);
    },
  };
}
