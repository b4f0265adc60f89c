#!/usr/bin/env python3
"""The outside witness of tests/wine.test.ts: what the Linux kernel holds for a socket that a
Windows runtime under Wine configured through ws2_32.dll.

Usage: linux-sockopts.py PORT

Wine passes setsockopt(SO_KEEPALIVE) and WSAIoctl(SIO_KEEPALIVE_VALS) on to a real Linux socket,
held by the wine process and by wineserver. This finds every established TCP socket with local
port PORT (`ss -p` names the holders), duplicates each holder's descriptor with pidfd_getfd
(Linux 5.6+; needs ptrace rights over the holder, in practice root) and reads the options with
getsockopt, so what it prints is what the kernel took, not what Wine or sockalive report.

Prints each `ss` line ("ss: ..."), then one JSON object a descriptor read, for example
{"pid": 123, "fd": 45, "SO_KEEPALIVE": 1, "TCP_KEEPIDLE": 3, "TCP_KEEPINTVL": 2, "TCP_KEEPCNT": 9}.
Exits 1, saying why on stderr, if no descriptor could be read.
"""
import ctypes
import json
import os
import re
import socket
import subprocess
import sys

# Not in Python's os module; 438 on every Linux architecture (it is newer than the unified table).
SYS_pidfd_getfd = 438
libc = ctypes.CDLL(None, use_errno=True)


def main(port: str) -> int:
    ss = subprocess.run(
        ["ss", "-tnoHp", "state", "established", f"( sport = :{port} )"],
        capture_output=True, text=True, check=True,
    )
    read = 0
    for line in ss.stdout.splitlines():
        print("ss:", line.strip())
        for pid, fd in re.findall(r"pid=(\d+),fd=(\d+)", line):
            try:
                pidfd = os.pidfd_open(int(pid))
            except OSError as e:  # the holder exited in between
                print(f"pid={pid} fd={fd}: pidfd_open: {e}", file=sys.stderr)
                continue
            try:
                dup = libc.syscall(SYS_pidfd_getfd, pidfd, int(fd), 0)
                if dup < 0:
                    err = ctypes.get_errno()
                    print(f"pid={pid} fd={fd}: pidfd_getfd: {os.strerror(err)}", file=sys.stderr)
                    continue
            finally:
                os.close(pidfd)
            with socket.socket(fileno=dup) as s:  # closes the duplicate, not the holder's socket
                tcp = socket.IPPROTO_TCP
                print(json.dumps({
                    "pid": int(pid),
                    "fd": int(fd),
                    "SO_KEEPALIVE": s.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
                    "TCP_KEEPIDLE": s.getsockopt(tcp, socket.TCP_KEEPIDLE),
                    "TCP_KEEPINTVL": s.getsockopt(tcp, socket.TCP_KEEPINTVL),
                    "TCP_KEEPCNT": s.getsockopt(tcp, socket.TCP_KEEPCNT),
                }), flush=True)
            read += 1
    if read == 0:
        print(f"no established TCP socket with local port {port} could be read", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        sys.exit("usage: linux-sockopts.py PORT")
    sys.exit(main(sys.argv[1]))
