/**
 * The contract between sockalive's portable socket code and a runtime's FFI: plain numbers in,
 * plain numbers out. Each adapter implements it on top of `Deno.dlopen` or `bun:ffi`; tests
 * implement it with fakes that record or count calls.
 *
 * Every call reads errno right after the C call returns, inside the adapter, so nothing can run
 * between the failing call and the read.
 *
 * @module
 */

/** A socket descriptor: an int fd on POSIX. */
export type Descriptor = number;

/** The system calls sockalive makes on a socket. */
export interface SocketCalls {
  /** `setsockopt`: 0 on success, else the errno (a positive number). */
  setsockopt(fd: Descriptor, level: number, name: number, value: Uint8Array): number;
  /**
   * `getsockopt` into `value`: the number of bytes the kernel wrote (0 or more) on success, else
   * the negated errno.
   */
  getsockopt(fd: Descriptor, level: number, name: number, value: Uint8Array): number;
  /** `getsockname` into `address`: the sockaddr length, else the negated errno. */
  getsockname(fd: Descriptor, address: Uint8Array): number;
  /** `getpeername` into `address`: the sockaddr length, else the negated errno. */
  getpeername(fd: Descriptor, address: Uint8Array): number;
  /**
   * `WSAIoctl(s, code, input, ...)`. Windows only. Without `output` (nothing to read back, as for
   * `SIO_KEEPALIVE_VALS`): 0 on success, else the error number. With `output` (a query, as
   * `SIO_TCP_INFO`): as {@linkcode SocketCalls.getsockopt}, the number of bytes the call wrote
   * into `output` (`*lpcbBytesReturned`, 0 or more) on success, else the negated error number.
   */
  ioctl?(fd: Descriptor, code: number, input: Uint8Array, output?: Uint8Array): number;
  /**
   * `socket(domain, type, protocol)`: the new descriptor, else the negated errno. POSIX only;
   * used for a socket of sockalive's own, never to reach a connection's.
   */
  socket?(domain: number, type: number, protocol: number): number;
  /** `close` on a descriptor {@linkcode SocketCalls.socket} returned: 0, else the errno. */
  close?(fd: Descriptor): number;
  /**
   * `shutdown(fd, SHUT_RDWR)`: 0 on success, else the errno. It ends a connect in progress
   * without closing the descriptor, which stays its owner's to close. POSIX only.
   */
  shutdown?(fd: Descriptor): number;
  /**
   * `recv(fd, 1 byte, MSG_PEEK | MSG_DONTWAIT)`: what a read would return now, taking nothing but
   * an error: 1 if bytes wait, 0 at the end of the stream, else the negated errno (an error the
   * kernel held is then taken, as a read takes it; `EAGAIN`: nothing yet). POSIX only.
   */
  recvPeek?(fd: Descriptor): number;
  /** `poll` on one descriptor without waiting: the returned events (0 or more), else -errno. */
  poll(fd: Descriptor, events: number): number;
  /** The process's open descriptor numbers, in no particular order. */
  listDescriptors(): Descriptor[];
  /**
   * The lowest free descriptor number right now (found with `dup` and given back at once), which
   * is where the next socket will go; `undefined` if it cannot be found.
   */
  lowestFreeDescriptor(): Descriptor | undefined;
}

/** One watch's report: its token, and whether the kernel holds an error for the socket. */
export interface ReadinessReport {
  readonly token: number;
  /** `EPOLLERR`: the kernel has failed the socket (a reset, a timeout), perhaps behind bytes. */
  readonly error: boolean;
}

/**
 * Waits for many sockets at once (Linux: one epoll instance), so an idle connection needs no
 * read of its own pending. Each watch is one-shot: it reports once, then stays quiet until
 * re-armed.
 */
export interface ReadinessPoller {
  /**
   * Watches `fd` (verified by the caller) until it has bytes, a FIN or an error, reporting
   * `token` once; `rearm` for a descriptor already watched. 0 on success, else the errno.
   */
  watch(fd: Descriptor, token: number, rearm: boolean): number;
  /**
   * Keeps `fd` watched but quiet for now (nothing but errors, which epoll always reports), while
   * the caller reads it directly; re-arm with `watch(fd, token, true)`. 0 on success, else the
   * errno.
   */
  quiet(fd: Descriptor, token: number): number;
  /** Stops watching `fd` (before it is closed). 0 on success, else the errno. */
  unwatch(fd: Descriptor): number;
  /** Whether a read on `fd` would return at once (bytes, FIN or error), without waiting. */
  readable(fd: Descriptor): boolean;
  /**
   * Waits off the main thread until a watch reports or {@linkcode ReadinessPoller.wake} is
   * called; resolves with the watches that reported (possibly none), or `undefined` if the wait
   * failed. One wait at a time.
   */
  wait(): Promise<ReadinessReport[] | undefined>;
  /** Makes a pending (or the next) wait resolve now. */
  wake(): void;
}

/**
 * Where one field of a C struct lies: its byte offset from the start and its width in bytes, for
 * an unsigned little-endian integer (every OS sockalive drives runs little-endian here).
 */
export interface StructField {
  /** Bytes from the start of the struct. */
  readonly offset: number;
  /** Bytes the field takes. */
  readonly width: 1 | 2 | 4 | 8;
}

/** A C struct the kernel fills: its size, and the fields sockalive reads, by their C names. */
export interface StructLayout<Name extends string> {
  /** `sizeof` the struct, as declared in the header the layout is quoted from. */
  readonly size: number;
  /** Each field read, by its C name. */
  readonly fields: { readonly [F in Name]: StructField };
}

/** A full path where an OS keeps a library. */
export interface LibraryPath {
  /** The path. */
  readonly path: string;
  /** The one architecture (as Deno names it: `x86_64`, `aarch64`) the path is for, if it names one. */
  readonly arch?: string;
}

/** A POSIX C library as one OS ships it. */
export interface PosixLibrary {
  /** `"posix"`. */
  kind: "posix";
  /** Name for dlopen (the dynamic loader finds it). */
  path: string;
  /**
   * Where the library is, by full path, the usual places first. Deno's `--allow-ffi=PATH` allows
   * `Deno.dlopen` of that very path string (or of paths under it), so with a narrowed permission
   * the library is opened by one of these.
   */
  fullPaths: readonly LibraryPath[];
  /** Name of the function returning errno's address. */
  errnoSymbol: "__errno_location" | "__error";
  /** Directory listing the open descriptors. */
  fdDirectory: string;
  /** Offset of `d_name` in `struct dirent`. */
  direntNameOffset: number;
  /** `RLIMIT_NOFILE` for `getrlimit`. */
  rlimitNofile: number;
  /** `MSG_PEEK | MSG_DONTWAIT` for `recv`. */
  peekNow: number;
}

/** Winsock. */
export interface WinsockLibrary {
  /** `"winsock"`. */
  kind: "winsock";
  /** Name for dlopen (the loader finds it). */
  path: string;
  /** Its full paths, as {@linkcode PosixLibrary.fullPaths}. */
  fullPaths: readonly LibraryPath[];
}

/**
 * A C type in a symbol table, in Deno's FFI vocabulary (the Bun adapter translates each to its
 * `bun:ffi` twin): the few sockalive's functions use.
 */
export type NativeType = "i32" | "u32" | "usize" | "isize" | "buffer" | "pointer";

/** One C function: its parameter and result types; `nonblocking` runs it off the main thread. */
export interface ForeignFunction {
  /** Parameter types, in order. */
  readonly parameters: readonly NativeType[];
  /** Result type. */
  readonly result: NativeType;
  /** Runs on a worker thread, resolving a promise (Deno only). */
  readonly nonblocking?: boolean;
}

/** A symbol table for `dlopen`: each C function by its name. */
export type ForeignLibraryInterface = Readonly<Record<string, ForeignFunction>>;

/**
 * The JavaScript type an FFI passes for a parameter of C type `T` (Deno's and Bun's agree on
 * these); `P` is the runtime's pointer type.
 */
export type NativeArgument<T, P> = T extends "i32" | "u32" ? number
  : T extends "usize" | "isize" ? number | bigint
  : T extends "buffer" ? ArrayBufferView | null
  : P;

/** The JavaScript type an FFI returns for a result of C type `T`; `P` as for arguments. */
export type NativeResult<T, P> = T extends "i32" | "u32" ? number
  : T extends "usize" | "isize" ? number | bigint
  : P;

/** The argument list for the parameter types `T`. */
export type NativeArguments<T extends readonly unknown[], P> = {
  -readonly [I in keyof T]: NativeArgument<T[I], P>;
};

/** The functions `dlopen` binds for the symbol table `S`: what the calls are checked against. */
export type BoundFunctions<S extends ForeignLibraryInterface, P> = {
  readonly [K in keyof S]: (
    ...args: NativeArguments<S[K]["parameters"], P>
  ) => S[K]["nonblocking"] extends true ? Promise<NativeResult<S[K]["result"], P>>
    : NativeResult<S[K]["result"], P>;
};
