/**
 * Picks the {@linkcode Platform} for the operating system a runtime reports.
 *
 * @module
 */

import { SocketOptionError } from "./errors.ts";
import { freebsd, macos } from "./os/bsd.ts";
import { linux } from "./os/linux.ts";
import { windows } from "./os/windows.ts";
import type { Platform } from "./platform.ts";

/**
 * The implementation for `os` as `Deno.build.os` or Node's `process.platform` names it.
 * Throws `ERR_UNSUPPORTED_PLATFORM` for an OS sockalive does not drive.
 */
export function platformFor(os: string): Platform {
  switch (os) {
    case "linux":
    case "android":
      return linux;
    case "darwin":
      return macos;
    case "freebsd":
      return freebsd;
    case "windows":
    case "win32":
      return windows;
    default:
      throw new SocketOptionError(
        `Cannot use socket options: ${os} is not supported (supported: linux, darwin, freebsd, windows)`,
        { code: "ERR_UNSUPPORTED_PLATFORM", syscall: "lookup", option: "socket" },
      );
  }
}
