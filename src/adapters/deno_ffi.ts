/**
 * Deno's side of the FFI: the C library opened once through `Deno.dlopen`, and on Linux the one
 * epoll wait every idle Deno connection shares (see {@linkcode ReadinessMonitor}).
 *
 * @module
 */

import { type BoundEpoll, epollPoller, posixCalls, winsockCalls } from "../../ffi/calls.ts";
import {
  bsdErrnoSymbols,
  epollSymbols,
  linuxErrnoSymbols,
  posixSymbols,
  winsockSymbols,
} from "../../ffi/symbols.ts";
import { SocketOptionError } from "../errors.ts";
import type {
  BoundFunctions,
  ForeignLibraryInterface,
  PosixLibrary,
  SocketCalls,
  WinsockLibrary,
} from "../../ffi/types.ts";
import type { Platform } from "../os/platform.ts";
import { platformFor, systemFor } from "../os/systems.ts";
import { DescriptorHints } from "../hints.ts";
import { ReadinessMonitor } from "../readiness.ts";
// Deno's API through declarations of its own, so that projects without Deno's types check this.
import * as Deno from "./deno_api.ts";

let calls: SocketCalls | undefined;

/**
 * Opens `library`. Deno's `--allow-ffi=PATH` allows `Deno.dlopen` of that path string only (a
 * bare name is taken as a file in the working directory), so under a narrowed permission the
 * library is opened by the first of its full paths allowed that opens; otherwise by its name, the
 * loader finding it (and Deno prompting, where it may).
 */
function dlopen<S extends ForeignLibraryInterface>(
  library: PosixLibrary | WinsockLibrary,
  symbols: S,
): BoundFunctions<S, Deno.PointerValue> {
  const arch = Deno.build().arch;
  const paths = library.fullPaths.flatMap((p) =>
    p.arch === undefined || p.arch === arch ? [p.path] : []
  );
  const narrowed = !Deno.allowed("ffi");
  const allowedPaths = narrowed ? paths.filter((path) => Deno.allowed("ffi", path)) : [];
  const tries = allowedPaths.length > 0 ? allowedPaths : [library.path];
  let failure: unknown;
  for (const path of tries) {
    try {
      return Deno.dlopen(path, symbols);
    } catch (error) {
      failure ??= error;
    }
  }
  // The path to allow: the first that is there, where that can be seen, else the usual one.
  const suggested = paths.find((path) => Deno.exists(path)) ?? paths[0] ?? library.path;
  const { NotCapable, PermissionDenied } = Deno.errors();
  const fix = `run Deno with --allow-ffi=${suggested} (or --allow-ffi, or -A)`;
  if (failure instanceof NotCapable || failure instanceof PermissionDenied) {
    throw new SocketOptionError(
      `Cannot use socket options: FFI access to ${library.path} is not allowed; ${fix}`,
      { code: "ERR_FFI_PERMISSION", syscall: "dlopen", option: "socket", cause: failure },
    );
  }
  if (narrowed && allowedPaths.length === 0 && Deno.allowed("ffi", library.path)) {
    throw new SocketOptionError(
      `Cannot use socket options: --allow-ffi=${library.path} allows a file of that name in the ` +
        `working directory, not the system's ${library.path}; ${fix}`,
      { code: "ERR_FFI_PERMISSION", syscall: "dlopen", option: "socket", cause: failure },
    );
  }
  throw new SocketOptionError(
    `Cannot use socket options: could not open ${tries.join(", ")}: ${(failure as Error).message}`,
    { code: "ERR_FFI_UNAVAILABLE", syscall: "dlopen", option: "socket", cause: failure },
  );
}

/** The socket calls through `Deno.dlopen`: libc or ws2_32.dll, opened once on first use. */
export function denoCalls(): SocketCalls {
  if (calls) return calls;
  const os = Deno.build().os;
  const { library } = systemFor(os);
  if (library.kind === "winsock") {
    calls = winsockCalls(dlopen(library, winsockSymbols));
    return calls;
  }
  const errnoSymbols = library.errnoSymbol === "__error" ? bsdErrnoSymbols : linuxErrnoSymbols;
  // On Linux the same library also gives epoll, for the readiness monitor: one library, opened
  // once (a second one would also be a second handle for Deno's test sanitizer to report).
  const table = { ...posixSymbols, ...errnoSymbols };
  const withEpoll = os === "linux" ? dlopen(library, { ...table, ...epollSymbols }) : undefined;
  const symbols = withEpoll ?? dlopen(library, table);
  const errnoLocation = "__error" in symbols ? symbols.__error : symbols.__errno_location;
  if (withEpoll) epoll = { ...withEpoll, errno: () => Deno.readInt32(errnoLocation()!) };
  calls = posixCalls<Deno.PointerValue>(
    { ...symbols, errnoLocation },
    { i32: (pointer) => Deno.readInt32(pointer), cstring: Deno.readCString },
    library,
  );
  return calls;
}

let osPlatform: Platform | undefined;

/** The OS implementation Deno runs on (asked on every call that sets or reads an option). */
export function platform(): Platform {
  return osPlatform ??= platformFor(Deno.build().os);
}

/**
 * Where Deno's sockets are likely to be. Deno keeps the descriptor private, so sockalive guesses
 * (see {@linkcode DescriptorHints}) and falls back to scanning every open descriptor; either way
 * each candidate is verified by its addresses before anything is set on it.
 */
export const denoHints: DescriptorHints = new DescriptorHints();

let epoll: BoundEpoll | undefined;
let monitor: ReadinessMonitor | undefined | null;
let monitorEnabled = true;

/**
 * The readiness monitor (Linux: one epoll wait for every idle connection), opened once on first
 * use; `undefined` where there is none or it cannot be opened: connections then keep a read
 * pending, as on other systems.
 */
export function denoMonitor(): ReadinessMonitor | undefined {
  if (monitor !== undefined) return monitor ?? undefined;
  monitor = null;
  try {
    denoCalls(); // opens the library, with epoll where there is one
  } catch {
    return undefined; // no FFI: the error comes when keepalive is applied
  }
  const poller = epoll && epollPoller(epoll, Deno.build().arch);
  if (poller) monitor = new ReadinessMonitor(poller);
  return monitor ?? undefined;
}

/**
 * Whether new Deno connections wait for readiness through the shared monitor (the default on
 * Linux) or keep a read pending each (the way on other systems). For tests and benchmarks that
 * compare the two; connections already open keep their way.
 */
export function useReadinessMonitor(enabled: boolean): void {
  monitorEnabled = enabled;
}

/** How many Deno connections the readiness monitor watches now (for tests). */
export function watchedConnections(): number {
  return monitor?.size ?? 0;
}

/** Whether new connections are to wait through the monitor (see `useReadinessMonitor`). */
export function monitorEnabledNow(): boolean {
  return monitorEnabled;
}
