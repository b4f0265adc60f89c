/**
 * Bun's side of the FFI: the C library opened once through `bun:ffi`, with the symbol table of
 * ffi/symbols.ts translated to bun:ffi's type names. Nothing refers to `bun:ffi` until called,
 * so Deno can load this file.
 *
 * @module
 */

import { posixCalls, winsockCalls } from "../../ffi/calls.ts";
import {
  bsdErrnoSymbols,
  linuxErrnoSymbols,
  posixSymbols,
  winsockSymbols,
} from "../../ffi/symbols.ts";
import { SocketOptionError } from "../errors.ts";
import type { BoundFunctions, ForeignLibraryInterface, SocketCalls } from "../../ffi/types.ts";
import type { Platform } from "../os/platform.ts";
import { platformFor, systemFor } from "../os/systems.ts";

interface BunFfi {
  dlopen(
    path: string,
    symbols: Record<string, { args: readonly string[]; returns: string }>,
  ): { symbols: Record<string, (...args: unknown[]) => unknown> };
  read: { i32(pointer: number, offset?: number): number };
  CString: new (pointer: number, byteOffset?: number) => { toString(): string };
}

/** Deno's FFI type names, as written in ffi/symbols.ts, to bun:ffi's. */
const BUN_TYPES: Readonly<Record<string, string>> = {
  i32: "i32",
  u32: "u32",
  usize: "usize",
  isize: "i64", // Bun runs on 64-bit systems only
  buffer: "ptr",
  pointer: "ptr",
};

let calls: SocketCalls | undefined;

function loadFfi(): BunFfi {
  try {
    // import.meta.require is Bun's synchronous loader; it keeps bun:ffi out of Deno's module graph.
    return (import.meta as unknown as { require(id: string): BunFfi }).require("bun:ffi");
  } catch (error) {
    throw new SocketOptionError(
      `Cannot use socket options: bun:ffi is not available (${(error as Error).message})`,
      { code: "ERR_FFI_UNAVAILABLE", syscall: "dlopen", option: "socket", cause: error },
    );
  }
}

/**
 * Opens `path` with the symbols of ffi/symbols.ts, their types translated to bun:ffi's; bun:ffi
 * binds each as {@linkcode BoundFunctions} says (a pointer is a number, NULL is `null`).
 */
function dlopen<S extends ForeignLibraryInterface>(
  ffi: BunFfi,
  path: string,
  symbols: S,
): BoundFunctions<S, number | null> {
  const twin = (type: string): string => {
    const bunType = BUN_TYPES[type];
    if (bunType === undefined) throw new TypeError(`bun:ffi has no twin of FFI type "${type}"`);
    return bunType;
  };
  const table: Record<string, { args: string[]; returns: string }> = {};
  for (const [name, def] of Object.entries(symbols)) {
    table[name] = { args: def.parameters.map(twin), returns: twin(def.result) };
  }
  try {
    return ffi.dlopen(path, table).symbols as unknown as BoundFunctions<S, number | null>;
  } catch (error) {
    throw new SocketOptionError(
      `Cannot use socket options: could not open ${path}: ${(error as Error).message}`,
      { code: "ERR_FFI_UNAVAILABLE", syscall: "dlopen", option: "socket", cause: error },
    );
  }
}

/** The socket calls through `bun:ffi`: libc or ws2_32.dll, opened once on first use. */
export function bunCalls(): SocketCalls {
  if (calls) return calls;
  const os = (globalThis as unknown as { process: { platform: string } }).process.platform;
  const { library } = systemFor(os);
  const ffi = loadFfi();
  if (library.kind === "winsock") {
    calls = winsockCalls(dlopen(ffi, library.path, winsockSymbols));
    return calls;
  }
  const errnoSymbols = library.errnoSymbol === "__error" ? bsdErrnoSymbols : linuxErrnoSymbols;
  const c = dlopen(ffi, library.path, { ...posixSymbols, ...errnoSymbols });
  const errnoLocation = "__error" in c ? c.__error : c.__errno_location;
  calls = posixCalls<number | null>({ ...c, errnoLocation }, {
    i32: (pointer) => ffi.read.i32(pointer, 0),
    cstring: (pointer, offset) => new ffi.CString(pointer, offset).toString(),
  }, library);
  return calls;
}

let osPlatform: Platform | undefined;

/** The OS implementation Bun runs on (asked on every call that sets or reads an option). */
export function platform(): Platform {
  return osPlatform ??= platformFor(
    (globalThis as unknown as { process: { platform: string } }).process.platform,
  );
}
