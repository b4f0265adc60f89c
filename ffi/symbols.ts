/**
 * The C functions sockalive calls, in one table, with the C prototype beside each parameter.
 *
 * The table is written in Deno's `ForeignLibraryInterface` vocabulary because Deno checks it at
 * type level; the Bun adapter translates each type name to its `bun:ffi` twin. Nothing here opens a
 * library: the adapters do that lazily, on first use, so importing the state machine needs no
 * permission.
 *
 * @module
 */

/** POSIX socket calls, found in libc (Linux) and libSystem (macOS). */
export const posixSymbols = {
  // int setsockopt(int sockfd, int level, int optname, const void *optval, socklen_t optlen);
  setsockopt: {
    parameters: [
      "i32", // int sockfd
      "i32", // int level
      "i32", // int optname
      "buffer", // const void *optval
      "u32", // socklen_t optlen
    ],
    result: "i32",
  },
  // int getsockopt(int sockfd, int level, int optname, void *optval, socklen_t *optlen);
  getsockopt: {
    parameters: [
      "i32", // int sockfd
      "i32", // int level
      "i32", // int optname
      "buffer", // void *optval
      "buffer", // socklen_t *optlen
    ],
    result: "i32",
  },
  // int getsockname(int sockfd, struct sockaddr *addr, socklen_t *addrlen);
  getsockname: {
    parameters: [
      "i32", // int sockfd
      "buffer", // struct sockaddr *addr
      "buffer", // socklen_t *addrlen
    ],
    result: "i32",
  },
  // int getpeername(int sockfd, struct sockaddr *addr, socklen_t *addrlen);
  getpeername: {
    parameters: [
      "i32", // int sockfd
      "buffer", // struct sockaddr *addr
      "buffer", // socklen_t *addrlen
    ],
    result: "i32",
  },
  // int poll(struct pollfd *fds, nfds_t nfds, int timeout);
  poll: {
    parameters: [
      "buffer", // struct pollfd *fds
      "usize", // nfds_t nfds (unsigned long)
      "i32", // int timeout
    ],
    result: "i32",
  },
  // int dup(int oldfd);
  dup: {
    parameters: [
      "i32", // int oldfd
    ],
    result: "i32",
  },
  // int close(int fd);
  close: {
    parameters: [
      "i32", // int fd
    ],
    result: "i32",
  },
  // DIR *opendir(const char *name);
  opendir: {
    parameters: [
      "buffer", // const char *name (NUL-terminated)
    ],
    result: "pointer",
  },
  // struct dirent *readdir(DIR *dirp);
  readdir: {
    parameters: [
      "pointer", // DIR *dirp
    ],
    result: "pointer",
  },
  // int closedir(DIR *dirp);
  closedir: {
    parameters: [
      "pointer", // DIR *dirp
    ],
    result: "i32",
  },
} as const satisfies Deno.ForeignLibraryInterface;

/** Linux (glibc and musl) reads errno through this. */
export const linuxErrnoSymbols = {
  // int *__errno_location(void);
  __errno_location: { parameters: [], result: "pointer" },
} as const satisfies Deno.ForeignLibraryInterface;

/** The type of {@linkcode posixSymbols}. */
export type PosixSymbols = typeof posixSymbols;
