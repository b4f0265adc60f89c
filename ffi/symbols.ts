/**
 * The C functions sockalive calls, in one table, with the C prototype beside each parameter.
 *
 * The table is written in Deno's FFI vocabulary ({@linkcode ForeignLibraryInterface}); the Bun
 * adapter translates each type name to its `bun:ffi` twin. What either runtime binds from it is
 * typed by `BoundFunctions` (ffi/types.ts) and checked against the interfaces ffi/calls.ts calls. Nothing here opens
 * a library: the adapters do that lazily, on first use, so importing the state machine needs no
 * permission.
 *
 * @module
 */

import type { ForeignLibraryInterface } from "./types.ts";

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
  // ssize_t recv(int sockfd, void *buf, size_t len, int flags);
  recv: {
    parameters: [
      "i32", // int sockfd
      "buffer", // void *buf
      "usize", // size_t len
      "i32", // int flags
    ],
    result: "isize",
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
  // int socket(int domain, int type, int protocol);
  socket: {
    parameters: [
      "i32", // int domain
      "i32", // int type
      "i32", // int protocol
    ],
    result: "i32",
  },
  // int getrlimit(int resource, struct rlimit *rlim);
  getrlimit: {
    parameters: [
      "i32", // int resource
      "buffer", // struct rlimit *rlim (rlim_t rlim_cur, rlim_max: two 64-bit unsigned)
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
  // int shutdown(int sockfd, int how);
  shutdown: {
    parameters: [
      "i32", // int sockfd
      "i32", // int how
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
} as const satisfies ForeignLibraryInterface;

/**
 * Linux epoll, for waiting on many sockets with one call (Deno only: Bun's sockets already have
 * an event loop). `epoll_wait` runs on a worker thread (`nonblocking`) and resolves a promise;
 * errno is thread-local, so its failures are only seen as -1.
 */
export const epollSymbols = {
  // int epoll_create1(int flags);
  epoll_create1: {
    parameters: [
      "i32", // int flags
    ],
    result: "i32",
  },
  // int epoll_ctl(int epfd, int op, int fd, struct epoll_event *event);
  epoll_ctl: {
    parameters: [
      "i32", // int epfd
      "i32", // int op
      "i32", // int fd
      "buffer", // struct epoll_event *event
    ],
    result: "i32",
  },
  // int epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout);
  epoll_wait: {
    parameters: [
      "i32", // int epfd
      "buffer", // struct epoll_event *events
      "i32", // int maxevents
      "i32", // int timeout
    ],
    result: "i32",
    nonblocking: true,
  },
  // int eventfd(unsigned int initval, int flags);
  eventfd: {
    parameters: [
      "u32", // unsigned int initval
      "i32", // int flags
    ],
    result: "i32",
  },
  // ssize_t write(int fd, const void *buf, size_t count);
  write: {
    parameters: [
      "i32", // int fd
      "buffer", // const void *buf
      "usize", // size_t count
    ],
    result: "isize",
  },
  // ssize_t read(int fd, void *buf, size_t count);
  read: {
    parameters: [
      "i32", // int fd
      "buffer", // void *buf
      "usize", // size_t count
    ],
    result: "isize",
  },
} as const satisfies ForeignLibraryInterface;

/** Linux (glibc and musl) reads errno through this. */
export const linuxErrnoSymbols = {
  // int *__errno_location(void);
  __errno_location: { parameters: [], result: "pointer" },
} as const satisfies ForeignLibraryInterface;

/** macOS and FreeBSD read errno through this. */
export const bsdErrnoSymbols = {
  // int *__error(void);
  __error: { parameters: [], result: "pointer" },
} as const satisfies ForeignLibraryInterface;

/**
 * Winsock (ws2_32.dll). `SOCKET` is `UINT_PTR`, pointer-sized, hence `usize`; lengths are `int`.
 * All are `WSAAPI` (stdcall), which on x64 is the one Windows calling convention.
 */
export const winsockSymbols = {
  // int setsockopt(SOCKET s, int level, int optname, const char *optval, int optlen);
  setsockopt: {
    parameters: [
      "usize", // SOCKET s
      "i32", // int level
      "i32", // int optname
      "buffer", // const char *optval
      "i32", // int optlen
    ],
    result: "i32",
  },
  // int getsockopt(SOCKET s, int level, int optname, char *optval, int *optlen);
  getsockopt: {
    parameters: [
      "usize", // SOCKET s
      "i32", // int level
      "i32", // int optname
      "buffer", // char *optval
      "buffer", // int *optlen
    ],
    result: "i32",
  },
  // int getsockname(SOCKET s, struct sockaddr *name, int *namelen);
  getsockname: {
    parameters: [
      "usize", // SOCKET s
      "buffer", // struct sockaddr *name
      "buffer", // int *namelen
    ],
    result: "i32",
  },
  // int getpeername(SOCKET s, struct sockaddr *name, int *namelen);
  getpeername: {
    parameters: [
      "usize", // SOCKET s
      "buffer", // struct sockaddr *name
      "buffer", // int *namelen
    ],
    result: "i32",
  },
  // int WSAIoctl(SOCKET s, DWORD dwIoControlCode, LPVOID lpvInBuffer, DWORD cbInBuffer,
  //              LPVOID lpvOutBuffer, DWORD cbOutBuffer, LPDWORD lpcbBytesReturned,
  //              LPWSAOVERLAPPED lpOverlapped,
  //              LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine);
  WSAIoctl: {
    parameters: [
      "usize", // SOCKET s
      "u32", // DWORD dwIoControlCode
      "buffer", // LPVOID lpvInBuffer
      "u32", // DWORD cbInBuffer
      "buffer", // LPVOID lpvOutBuffer (NULL when nothing is read back)
      "u32", // DWORD cbOutBuffer
      "buffer", // LPDWORD lpcbBytesReturned
      "pointer", // LPWSAOVERLAPPED lpOverlapped (NULL)
      "pointer", // LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine (NULL)
    ],
    result: "i32",
  },
  // int WSAGetLastError(void);
  WSAGetLastError: { parameters: [], result: "i32" },
  // int WSAPoll(LPWSAPOLLFD fdArray, ULONG fds, INT timeout);
  WSAPoll: {
    parameters: [
      "buffer", // LPWSAPOLLFD fdArray
      "u32", // ULONG fds
      "i32", // INT timeout
    ],
    result: "i32",
  },
} as const satisfies ForeignLibraryInterface;

/** The type of {@linkcode posixSymbols}. */
export type PosixSymbols = typeof posixSymbols;
