/**
 * The one table of operating systems sockalive drives: for each name a runtime reports
 * (`Deno.build.os`, Node's `process.platform`), how to set the options ({@linkcode Platform})
 * and which C library gives the calls.
 *
 * @module
 */

import { SocketOptionError } from "../errors.ts";
import { freebsd, macos } from "./bsd.ts";
import { linux } from "./linux.ts";
import { windows } from "./windows.ts";
import type { Platform } from "./platform.ts";
import type { PosixLibrary, WinsockLibrary } from "../../ffi/types.ts";
import { LIBRARY as FREEBSD_LIBRARY } from "../../ffi/freebsd.ts";
import { LIBRARY as LINUX_LIBRARY } from "../../ffi/linux.ts";
import { LIBRARY as MACOS_LIBRARY } from "../../ffi/macos.ts";
import { LIBRARY as WINDOWS_LIBRARY } from "../../ffi/windows.ts";

/** One operating system: its option implementation and its library. */
export interface System {
  /** How each option is set and read. */
  readonly platform: Platform;
  /** The library to open, and how to use it. */
  readonly library: PosixLibrary | WinsockLibrary;
}

const LINUX: System = { platform: linux, library: LINUX_LIBRARY };
const WINDOWS: System = { platform: windows, library: WINDOWS_LIBRARY };
const SYSTEMS: Readonly<Record<string, System>> = {
  linux: LINUX,
  android: LINUX,
  darwin: { platform: macos, library: MACOS_LIBRARY },
  freebsd: { platform: freebsd, library: FREEBSD_LIBRARY },
  windows: WINDOWS,
  win32: WINDOWS,
};

/**
 * The system for `os` as a runtime names it. Throws `ERR_UNSUPPORTED_PLATFORM` for an OS
 * sockalive does not drive.
 */
export function systemFor(os: string): System {
  if (Object.hasOwn(SYSTEMS, os)) return SYSTEMS[os]!;
  throw new SocketOptionError(
    `Cannot use socket options: ${os} is not supported (supported: linux, darwin, freebsd, windows)`,
    { code: "ERR_UNSUPPORTED_PLATFORM", syscall: "lookup", option: "socket" },
  );
}

/** The option implementation for `os` (see {@linkcode systemFor}). */
export function platformFor(os: string): Platform {
  return systemFor(os).platform;
}
