/**
 * Picks the {@linkcode Platform} for the operating system a runtime reports.
 *
 * @module
 */

import { SocketOptionError } from "./errors.ts";
import { linux } from "./os/linux.ts";
import type { Platform } from "./platform.ts";

/**
 * The implementation for `os` as `Deno.build.os` or Node's `process.platform` names it.
 * Throws `ERR_UNSUPPORTED_PLATFORM` for an OS sockalive does not drive yet.
 */
export function platformFor(os: string): Platform {
  switch (os) {
    case "linux":
    case "android":
      return linux;
    default:
      throw new SocketOptionError(
        `Cannot use socket options: ${os} is not supported yet (supported: linux)`,
        { code: "ERR_UNSUPPORTED_PLATFORM", syscall: "lookup", option: "socket" },
      );
  }
}
