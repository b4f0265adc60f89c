/**
 * The errors callers catch, and how a runtime's I/O error becomes a connection outcome.
 *
 * @module
 */

/**
 * The system call a {@linkcode SocketOptionError} came from.
 *
 * @example
 * ```ts
 * import { SocketOptionError, type Syscall } from "@sockalive/sockalive";
 * import assert from "node:assert/strict";
 * const syscall: Syscall = "setsockopt";
 * const error = new SocketOptionError("Cannot set keepalive: setsockopt failed", {
 *   code: "EINVAL", errno: 22, syscall, option: "idle",
 * });
 * assert.equal(error.syscall, "setsockopt");
 * ```
 */
export type Syscall =
  | "setsockopt"
  | "getsockopt"
  | "getsockname"
  | "getpeername"
  | "poll"
  | "WSAIoctl"
  | "dlopen"
  | "lookup";

/**
 * Options the error may concern: one of the keepalive knobs, the socket lookup itself, or the
 * kernel's record of the connection (`"health"`).
 *
 * @example
 * ```ts
 * import { SocketOptionError, type SocketOptionName } from "@sockalive/sockalive";
 * import assert from "node:assert/strict";
 * const error = new SocketOptionError("Cannot find the socket", {
 *   code: "ERR_SOCKET_NOT_FOUND", syscall: "lookup", option: "socket",
 * });
 * const option: SocketOptionName = error.option;
 * assert.equal(option, "socket"); // the lookup failed, not one of the keepalive knobs
 * ```
 */
export type SocketOptionName =
  | "enabled"
  | "idle"
  | "interval"
  | "count"
  | "userTimeout"
  | "socket"
  | "health";

/**
 * A socket option could not be set or read, or the socket could not be found.
 *
 * `code` is the errno name (`"ENOPROTOOPT"`, `"EBADF"`, ...) or one of sockalive's own:
 * `"ERR_FFI_PERMISSION"` (Deno without `--allow-ffi` for the C library; the message names the
 * path to allow), `"ERR_FFI_UNAVAILABLE"` (the C library could not be opened),
 * `"ERR_SOCKET_NOT_FOUND"` (the socket is closed: its runtime says so, or no
 * descriptor has the connection's addresses), `"ERR_SOCKET_AMBIGUOUS"` (two different sockets
 * have them), `"ERR_SOCKET_NOT_CONNECTED"` (a `node:net` or `node:tls` socket that has not
 * connected yet), `"ERR_UNSUPPORTED_PLATFORM"`.
 *
 * @example
 * ```ts
 * import { SocketOptionError } from "@sockalive/sockalive";
 * const error = new SocketOptionError("Cannot set keepalive: setsockopt failed", {
 *   code: "EBADF", errno: 9, syscall: "setsockopt", option: "idle",
 * });
 * console.log(error.code, error.option); // EBADF idle
 * ```
 */
export class SocketOptionError extends Error {
  /** errno name or an `ERR_*` code; see the class description. */
  readonly code: string;
  /** The raw errno, or 0 when the error did not come from a system call. */
  readonly errno: number;
  /** The call that failed. */
  readonly syscall: Syscall;
  /** The option being set or read when it failed. */
  readonly option: SocketOptionName;

  /** Creates the error; `cause` keeps the underlying error where there is one. */
  constructor(
    message: string,
    init: {
      code: string;
      errno?: number;
      syscall: Syscall;
      option: SocketOptionName;
      cause?: unknown;
    },
  ) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = "SocketOptionError";
    this.code = init.code;
    this.errno = init.errno ?? 0;
    this.syscall = init.syscall;
    this.option = init.option;
  }
}

/**
 * Thrown by writes on a connection that has reached a terminal state, and used as the readable's
 * error after a break. `code` is the break's code (`"ETIMEDOUT"`, `"ECONNRESET"`, ...) or
 * `"ERR_CONNECTION_CLOSED"` after a graceful close.
 *
 * @example
 * ```ts
 * import { ConnectionClosedError } from "@sockalive/sockalive";
 * const error = new ConnectionClosedError("Cannot write: the connection is broken (ECONNRESET)", "ECONNRESET");
 * console.log(error.code); // ECONNRESET
 * ```
 */
export class ConnectionClosedError extends Error {
  /** The break's errno name, or `"ERR_CONNECTION_CLOSED"` after a graceful close. */
  readonly code: string;

  /** Creates the error; `cause` keeps the runtime's original error where there is one. */
  constructor(message: string, code: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ConnectionClosedError";
    this.code = code;
  }
}

/** Deno's error class names, for runtimes or versions whose errors carry no `code`. */
const DENO_ERROR_CODES: Readonly<Record<string, string>> = {
  TimedOut: "ETIMEDOUT",
  ConnectionReset: "ECONNRESET",
  BrokenPipe: "EPIPE",
  ConnectionRefused: "ECONNREFUSED",
  ConnectionAborted: "ECONNABORTED",
  NetworkUnreachable: "ENETUNREACH",
  HostUnreachable: "EHOSTUNREACH",
  // Deno refuses the connect or listen itself: no --allow-net for that host.
  NotCapable: "ERR_NET_PERMISSION",
};

/**
 * Codes a retry cannot fix: a missing permission, no FFI, an OS sockalive does not drive. A
 * reconnecting client stops at the first (reason `"permanent"`).
 */
export const PERMANENT_CODES: ReadonlySet<string> = new Set([
  "ERR_FFI_PERMISSION",
  "ERR_FFI_UNAVAILABLE",
  "ERR_NET_PERMISSION",
  "ERR_UNSUPPORTED_PLATFORM",
]);

/**
 * Deno reports a failed name lookup as a plain error with getaddrinfo's message; Bun as
 * `ENOTFOUND` (or `EAI_AGAIN` when the resolver could not answer). One code per cause in both.
 */
function lookupCode(message: string): string | undefined {
  if (!message.startsWith("failed to lookup address information")) return undefined;
  return /temporary failure/i.test(message) ? "EAI_AGAIN" : "ENOTFOUND";
}

/**
 * The errno-style code of an error thrown by a runtime's socket I/O: its `code` property where
 * it has one (Deno 2 and Bun both set it), else its Deno class name mapped (`NotCapable`, Deno's
 * missing `--allow-net`, is `ERR_NET_PERMISSION`), else a failed name lookup's code
 * (`ENOTFOUND`, `EAI_AGAIN`), else `"EIO"`.
 *
 * @example
 * ```ts
 * import { errorCode } from "./errors.ts";
 * import assert from "node:assert/strict";
 * assert.equal(errorCode(Object.assign(new Error("x"), { code: "ECONNRESET" })), "ECONNRESET");
 * ```
 */
export function errorCode(error: unknown): string {
  if (typeof error === "object" && error !== null) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === "string" && code !== "") return code;
    const name = (error as { name?: unknown }).name;
    if (typeof name === "string" && Object.hasOwn(DENO_ERROR_CODES, name)) {
      return DENO_ERROR_CODES[name]!;
    }
    const message = (error as { message?: unknown }).message;
    const lookup = typeof message === "string" ? lookupCode(message) : undefined;
    if (lookup) return lookup;
  }
  return "EIO";
}

const KERNEL_REASONS: Readonly<Record<string, string>> = {
  ETIMEDOUT: "the peer stopped answering (keepalive probes or retransmissions went unanswered)",
  ECONNRESET: "the peer reset it",
  EHOSTUNREACH: "the peer's host cannot be reached",
  ENETUNREACH: "the peer's network cannot be reached",
  EPIPE: "the peer is gone",
};

/**
 * The error of a connection the kernel ended, learnt from the socket without a read: an
 * `Error` with the errno name as `code`, like the runtimes' own, and no stack (the stack of the
 * shared wait that reported it would say nothing). One frozen object per code, shared by every
 * connection the kernel ended that way: it says only what the kernel said, and making an Error
 * costs Deno ~2 µs even without a stack, a tenth of what a break cost when thousands came at
 * once.
 *
 * @example
 * ```ts
 * import { kernelError } from "./errors.ts";
 * import assert from "node:assert/strict";
 * const error = kernelError("ETIMEDOUT");
 * assert.equal(error.code, "ETIMEDOUT");
 * assert.match(error.message, /stopped answering/);
 * assert.ok(error instanceof Error);
 * assert.ok(Object.isFrozen(error));
 * assert.equal(kernelError("ETIMEDOUT"), error); // one per code
 * ```
 */
export function kernelError(code: string): Readonly<Error & { code: string }> {
  let error = KERNEL_ERRORS.get(code);
  if (error) return error;
  const reason = KERNEL_REASONS[code] ?? "the kernel reported an error";
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    error = Object.freeze(
      Object.assign(new Error(`The connection was lost: ${reason} (${code})`), { code }),
    );
  } finally {
    Error.stackTraceLimit = limit;
  }
  KERNEL_ERRORS.set(code, error);
  return error;
}

const KERNEL_ERRORS = new Map<string, Readonly<Error & { code: string }>>();
