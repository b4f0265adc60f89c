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
   * `WSAIoctl(s, code, input, ...)` with no output buffer: 0 on success, else the error number.
   * Windows only.
   */
  ioctl?(fd: Descriptor, code: number, input: Uint8Array): number;
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
