/**
 * Every socket a program holds, in the runtime running the tests ("Reach the connections services
 * really hold", part 2). For each kind the runtime has — Deno: `Deno.TcpConn`, `Deno.TlsConn`
 * (connectTls, startTls, listenTls), node:net and node:tls sockets; Bun: Bun sockets (plain and
 * TLS, dialed and accepted), node:net and node:tls sockets — options are set, read back with
 * `getKeepAlive`, and checked by two outside witnesses: the descriptor itself, found and verified
 * here independently (getsockname/getpeername), read with getsockopt; and `ss -tnoi`, which must
 * show the kernel's keepalive timer. Then the states around it (not connected yet, closed), wrong
 * objects (a TypeError that names them, before the C library is even asked for), and a driver's
 * habits: `net.connect` + `setNoDelay()` + its own `setKeepAlive(true, ms)`, measured.
 *
 * TLS uses a CA and a leaf certificate for IP 127.0.0.1 made with `openssl` at test time (Deno
 * rejects a self-signed CA as the end entity), in a temporary directory removed afterwards.
 */
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import tls from "node:tls";
import {
  countedCalls,
  descriptorOf,
  isBun,
  keepaliveSeconds,
  preloadFfi,
  Proc,
  realCalls,
  sleep,
  test,
} from "./harness.ts";
import { makePki, type Pki } from "./fixtures/pki.ts";
import {
  getKeepAlive,
  type KeepAliveInfo,
  type NativeConnection,
  setKeepAlive,
  SocketOptionError,
} from "../mod.ts";
import * as auto from "../mod.ts";
import * as denoEntry from "../deno.ts";
import * as bunEntry from "../bun.ts";
import { sockalive } from "../src/api.ts";
import type { Adapter } from "../src/transport.ts";
import { denoRuntime } from "../src/adapters/deno.ts";
import { bunRuntime } from "../src/adapters/bun.ts";
import {
  IPPROTO_TCP,
  SO_KEEPALIVE,
  SOL_SOCKET,
  TCP_KEEPCNT,
  TCP_KEEPIDLE,
  TCP_KEEPINTVL,
  TCP_USER_TIMEOUT,
} from "../ffi/linux.ts";

preloadFfi();

// Servers, child processes (openssl, ss) and Deno's TLS closing in the background: no sanitizers.
const opts = { sanitize: false, timeout: 20_000 };

/** Asked for on every socket: none of it is any runtime's default. */
const OPTIONS = { enabled: true, idle: 7000, interval: 3000, count: 4, userTimeout: 12345 };
const APPLIED: KeepAliveInfo = { ...OPTIONS };

// ---------------------------------------------------------------------------------------------
// Witnesses.

/** The connection's keepalive read straight off its descriptor with getsockopt. */
function kernelKeepAlive(localPort: number, remotePort: number): KeepAliveInfo {
  const fd = descriptorOf(localPort, remotePort);
  assert.ok(fd !== undefined, `a descriptor has local port ${localPort}, peer ${remotePort}`);
  const calls = realCalls();
  const read = (level: number, name: number) => {
    const value = new Uint8Array(4);
    assert.equal(calls.getsockopt(fd, level, name, value), 4);
    return new DataView(value.buffer).getInt32(0, true);
  };
  const info: KeepAliveInfo = {
    enabled: read(SOL_SOCKET, SO_KEEPALIVE) !== 0,
    idle: read(IPPROTO_TCP, TCP_KEEPIDLE) * 1000,
    interval: read(IPPROTO_TCP, TCP_KEEPINTVL) * 1000,
    count: read(IPPROTO_TCP, TCP_KEEPCNT),
    userTimeout: read(IPPROTO_TCP, TCP_USER_TIMEOUT),
  };
  // Still that connection after reading: the values are its own.
  assert.equal(descriptorOf(localPort, remotePort), fd);
  return info;
}

/**
 * Seconds left on the keepalive timer ss shows for this connection. iproute2 prints "6.992sec",
 * "1min14sec", or (6.1 on recent kernels) seconds with an "ms" suffix; both readings of the
 * latter are returned.
 */
async function keepaliveTimer(localPort: number, remotePort: number): Promise<number[]> {
  // ss shows one timer: right after a TLS handshake it is the retransmission timer ("on") until
  // the peer's ACK of the last bytes is in; the keepalive timer shows once nothing is in flight.
  let line = "";
  let seconds: number[] | undefined;
  for (let i = 0; i < 40 && !seconds; i++) {
    if (i > 0) await sleep(25);
    const ss = new Proc([
      "ss",
      "-tnoiH",
      "state",
      "established",
      `( sport = :${localPort} and dport = :${remotePort} )`,
    ]);
    await ss.exited();
    line = ss.lines.join(" ");
    seconds = keepaliveSeconds(line);
  }
  assert.ok(seconds, `ss shows a keepalive timer for :${localPort} -> :${remotePort}: ${line}`);
  return seconds;
}

/**
 * Sets OPTIONS on `socket` through the public API and checks: the values returned, those
 * `getKeepAlive` reads back, those on the descriptor itself, and ss's timer (armed, at most
 * `idle`). Before, the descriptor had none of them.
 */
async function assertReached(
  socket: NativeConnection,
  localPort: number,
  remotePort: number,
): Promise<void> {
  assert.notDeepEqual(kernelKeepAlive(localPort, remotePort), APPLIED, "not set before");
  assert.deepEqual(setKeepAlive(socket, OPTIONS), APPLIED, "setKeepAlive returns what took");
  assert.deepEqual(getKeepAlive(socket), APPLIED, "getKeepAlive reads it back");
  assert.deepEqual(kernelKeepAlive(localPort, remotePort), APPLIED, "on the descriptor itself");
  const left = await keepaliveTimer(localPort, remotePort);
  assert.ok(
    left.some((s) => s > OPTIONS.idle / 1000 - 3 && s <= OPTIONS.idle / 1000),
    `the keepalive timer runs from idle (${OPTIONS.idle} ms): ${left} s left`,
  );
}

/** The descriptor Bun names for a socket, and that it is the one verified here. */
function assertBunDescriptor(fd: unknown, localPort: number, remotePort: number): void {
  assert.equal(typeof fd, "number");
  assert.equal(descriptorOf(localPort, remotePort), fd, "Bun's descriptor is the connection's");
}

// ---------------------------------------------------------------------------------------------
// Peers.

const once = <T = unknown>(emitter: NodeJS.EventEmitter, event: string): Promise<T> =>
  new Promise((resolve) => emitter.once(event, resolve as (value: unknown) => void));

/** Accepted sockets, handed out in order. */
class Accepted<S> {
  #queue: S[] = [];
  #waiting: Array<(s: S) => void> = [];
  readonly all: S[] = [];
  push(s: S): void {
    this.all.push(s);
    const w = this.#waiting.shift();
    if (w) w(s);
    else this.#queue.push(s);
  }
  next(): Promise<S> {
    const s = this.#queue.shift();
    return s ? Promise.resolve(s) : new Promise((resolve) => this.#waiting.push(resolve));
  }
}

/** A node:net server on loopback, port 0; every socket is destroyed and the server closed after. */
async function withNetServer(
  fn: (port: number, accepted: Accepted<net.Socket>) => Promise<void>,
): Promise<void> {
  const accepted = new Accepted<net.Socket>();
  const server = net.createServer((s) => {
    s.on("error", () => {});
    accepted.push(s);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    await fn((server.address() as net.AddressInfo).port, accepted);
  } finally {
    for (const s of accepted.all) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

let pki: Pki | undefined;
/** The one PKI of this run, made on first use. */
const thePki = (): Pki => (pki ??= makePki());

/** A node:tls server on loopback, port 0, with the test leaf certificate. */
async function withTlsServer(
  fn: (port: number, accepted: Accepted<tls.TLSSocket>, pki: Pki) => Promise<void>,
): Promise<void> {
  const p = thePki();
  const accepted = new Accepted<tls.TLSSocket>();
  const server = tls.createServer({ key: p.key, cert: p.cert }, (s) => {
    s.on("error", () => {});
    accepted.push(s);
  });
  server.on("tlsClientError", () => {});
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    await fn((server.address() as net.AddressInfo).port, accepted, p);
  } finally {
    for (const s of accepted.all) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** A node:net or node:tls client's own two ports. */
const portsOf = (s: net.Socket): [number, number] => [s.localPort!, s.remotePort!];

// deno-lint-ignore no-explicit-any
const Bun = (globalThis as any).Bun;

// ---------------------------------------------------------------------------------------------
// node:net and node:tls: the sockets of every npm driver, in both runtimes.

test("sockets: a node:net Socket from net.connect", async () => {
  await withNetServer(async (port) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    try {
      await once(socket, "connect");
      await assertReached(socket, ...portsOf(socket));
      // deno-lint-ignore no-explicit-any
      if (isBun) assertBunDescriptor((socket as any)._handle.fd, ...portsOf(socket));
    } finally {
      socket.destroy();
    }
  });
}, opts);

test("sockets: a node:net Socket accepted by a net.Server", async () => {
  await withNetServer(async (port, accepted) => {
    const client = net.connect({ host: "127.0.0.1", port });
    try {
      await once(client, "connect");
      const socket = await accepted.next();
      assert.deepEqual(portsOf(socket), [port, client.localPort]);
      await assertReached(socket, ...portsOf(socket));
      // deno-lint-ignore no-explicit-any
      if (isBun) assertBunDescriptor((socket as any)._handle.fd, ...portsOf(socket));
      // The other end was left alone.
      assert.notDeepEqual(kernelKeepAlive(...portsOf(client)), APPLIED);
    } finally {
      client.destroy();
    }
  });
}, opts);

test("sockets: a node:tls TLSSocket from tls.connect", async () => {
  await withTlsServer(async (port, _accepted, { ca }) => {
    const socket = tls.connect({ host: "127.0.0.1", port, ca });
    try {
      await once(socket, "secureConnect");
      assert.equal(socket.authorized, true);
      await assertReached(socket, ...portsOf(socket));
      // deno-lint-ignore no-explicit-any
      if (isBun) assertBunDescriptor((socket as any)._handle.fd, ...portsOf(socket));
    } finally {
      socket.destroy();
    }
  });
}, opts);

test("sockets: a node:tls TLSSocket accepted by a tls.Server", async () => {
  await withTlsServer(async (port, accepted, { ca }) => {
    const client = tls.connect({ host: "127.0.0.1", port, ca });
    try {
      await once(client, "secureConnect");
      const socket = await accepted.next();
      await assertReached(socket, ...portsOf(socket));
      // deno-lint-ignore no-explicit-any
      if (isBun) assertBunDescriptor((socket as any)._handle.fd, ...portsOf(socket));
    } finally {
      client.destroy();
    }
  });
}, opts);

test(
  "sockets: a TLSSocket over a node:net Socket (tls.connect({ socket }), as pg upgrades)",
  async () => {
    await withTlsServer(async (port, _accepted, { ca }) => {
      const raw = net.connect({ host: "127.0.0.1", port });
      let secure: tls.TLSSocket | undefined;
      try {
        await once(raw, "connect");
        secure = tls.connect({ socket: raw, host: "127.0.0.1", ca });
        await once(secure, "secureConnect");
        assert.deepEqual(portsOf(secure), portsOf(raw));
        await assertReached(secure, ...portsOf(secure));
        // One TCP socket under both: the plain socket reads what was set through the TLS one.
        assert.deepEqual(getKeepAlive(raw), APPLIED);
        if (isBun) {
          // deno-lint-ignore no-explicit-any
          assert.equal((secure as any)._handle.fd, (raw as any)._handle.fd);
        }
      } finally {
        secure?.destroy();
        raw.destroy();
      }
    });
  },
  opts,
);

test(
  "sockets: a node:net-shaped socket that names no descriptor is found by its addresses",
  async () => {
    await withNetServer(async (port) => {
      const socket = net.connect({ host: "127.0.0.1", port });
      try {
        await once(socket, "connect");
        // A wrapper as a library might hand out: the node:net fields, no native handle. In Deno
        // every node:net socket is found this way; in Bun this is the fallback when no `_handle.fd`
        // is there: every open descriptor, verified.
        const wrapper = {
          connecting: false,
          destroyed: false,
          pending: false,
          localAddress: socket.localAddress,
          localPort: socket.localPort,
          remoteAddress: socket.remoteAddress,
          remotePort: socket.remotePort,
        };
        await assertReached(wrapper, ...portsOf(socket));
        assert.deepEqual(getKeepAlive(socket), APPLIED, "the same socket as the real one");
        // How each is found. Bun names the real socket's descriptor: one candidate, verified.
        // The wrapper names none: every open descriptor is a candidate (0, 1, 2 and more come
        // before this socket's), each verified (in Deno, where every socket is found by address,
        // a guess from an earlier lookup may verify first).
        const real = countedApi();
        real.api.getKeepAlive(socket);
        const byAddress = countedApi();
        byAddress.api.getKeepAlive(wrapper);
        if (isBun) {
          assert.equal(real.calls.getsockname, 1, "Bun: the descriptor given, verified");
          assert.ok(byAddress.calls.getsockname > 3, "no descriptor: the open ones searched");
        }
        assert.ok(byAddress.calls.getsockname >= 1 && byAddress.calls.getpeername >= 1);
      } finally {
        socket.destroy();
      }
    });
  },
  opts,
);

// ---------------------------------------------------------------------------------------------
// Deno's own sockets.

if (!isBun) {
  test("sockets (Deno): a Deno.TcpConn", async () => {
    await withNetServer(async (port) => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      try {
        await assertReached(conn, conn.localAddr.port, port);
      } finally {
        conn.close();
      }
    });
  }, opts);

  test("sockets (Deno): a Deno.TlsConn from Deno.connectTls", async () => {
    await withTlsServer(async (port, _accepted, { ca }) => {
      const conn = await Deno.connectTls({ hostname: "127.0.0.1", port, caCerts: [ca] });
      try {
        await conn.handshake();
        await assertReached(conn, conn.localAddr.port, port);
      } finally {
        conn.close();
      }
    });
  }, opts);

  test(
    "sockets (Deno): a Deno.TlsConn from Deno.startTls, whose addresses have no transport",
    async () => {
      await withTlsServer(async (port, _accepted, { ca }) => {
        const plain = await Deno.connect({ hostname: "127.0.0.1", port });
        const conn = await Deno.startTls(plain, { hostname: "127.0.0.1", caCerts: [ca] });
        try {
          await conn.handshake();
          const local = conn.localAddr as Deno.NetAddr;
          assert.equal((local as { transport?: string }).transport, undefined, "as Deno gives it");
          await assertReached(conn, local.port, port);
        } finally {
          conn.close();
        }
      });
    },
    opts,
  );

  test("sockets (Deno): a Deno.TlsConn accepted by Deno.listenTls", async () => {
    const { ca, key, cert } = thePki();
    const listener = Deno.listenTls({ hostname: "127.0.0.1", port: 0, key, cert });
    const accepting = listener.accept();
    const client = tls.connect({ host: "127.0.0.1", port: listener.addr.port, ca });
    client.on("error", () => {});
    try {
      const conn = await accepting;
      try {
        await Promise.all([conn.handshake(), once(client, "secureConnect")]);
        await assertReached(conn, listener.addr.port, client.localPort!);
      } finally {
        conn.close();
      }
    } finally {
      client.destroy();
      listener.close();
    }
  }, opts);
}

// ---------------------------------------------------------------------------------------------
// Bun's own sockets.

if (isBun) {
  test("sockets (Bun): a Bun Socket from Bun.connect, plain and with tls", async () => {
    await withTlsServer(async (port, _accepted, { ca }) => {
      // The node:tls server speaks TLS; the plain socket only connects, which is all TCP needs.
      for (const tlsOptions of [undefined, { ca }]) {
        let handshaken: () => void = () => {};
        const ready = new Promise<void>((resolve) => (handshaken = resolve));
        const socket = await Bun.connect({
          hostname: "127.0.0.1",
          port,
          ...(tlsOptions ? { tls: tlsOptions } : {}),
          socket: { data() {}, handshake: () => handshaken(), error() {} },
        });
        try {
          if (tlsOptions) {
            await ready;
            assert.equal(socket.authorized, true);
          }
          await assertReached(socket, socket.localPort, port);
          assertBunDescriptor(socket.fd, socket.localPort, port);
        } finally {
          socket.end();
        }
      }
    });
  }, opts);

  test("sockets (Bun): a Bun Socket accepted by Bun.listen, plain and with tls", async () => {
    const { ca, key, cert } = thePki();
    for (const secure of [false, true]) {
      const accepted = new Accepted<{ fd: number; localPort: number; remotePort: number }>();
      const server = Bun.listen({
        hostname: "127.0.0.1",
        port: 0,
        ...(secure ? { tls: { key, cert } } : {}),
        socket: { open: (s: never) => accepted.push(s), data() {}, error() {} },
      });
      const client = secure
        ? tls.connect({ host: "127.0.0.1", port: server.port, ca })
        : net.connect({ host: "127.0.0.1", port: server.port });
      client.on("error", () => {});
      try {
        await once(client, secure ? "secureConnect" : "connect");
        const socket = await accepted.next();
        await assertReached(socket as never, server.port, client.localPort!);
        assertBunDescriptor(socket.fd, server.port, client.localPort!);
      } finally {
        client.destroy();
        server.stop(true);
      }
    }
  }, opts);
}

// ---------------------------------------------------------------------------------------------
// Before connected, after closed.

const notConnected = (e: unknown) =>
  e instanceof SocketOptionError && e.code === "ERR_SOCKET_NOT_CONNECTED" &&
  e.message ===
    "Cannot find the socket: it is not connected yet; call this from the 'connect' event";
const closed = (e: unknown) =>
  e instanceof SocketOptionError && e.code === "ERR_SOCKET_NOT_FOUND" &&
  /it is closed/.test(e.message);

test(
  "sockets: not connected yet (net and tls, connecting or never asked) -> ERR_SOCKET_NOT_CONNECTED",
  async () => {
    await withTlsServer(async (port, _accepted, { ca }) => {
      const dialing = net.connect({ host: "127.0.0.1", port });
      const securing = tls.connect({ host: "127.0.0.1", port, ca });
      for (const s of [dialing, securing]) s.on("error", () => {});
      try {
        for (const socket of [dialing, securing, new net.Socket()]) {
          assert.throws(() => setKeepAlive(socket, OPTIONS), notConnected);
          assert.throws(() => getKeepAlive(socket), notConnected);
        }
        // Once connected, the same objects work.
        await Promise.all([once(dialing, "connect"), once(securing, "secureConnect")]);
        assert.deepEqual(setKeepAlive(dialing, OPTIONS), APPLIED);
        assert.deepEqual(setKeepAlive(securing, OPTIONS), APPLIED);
      } finally {
        dialing.destroy();
        securing.destroy();
      }
    });
  },
  opts,
);

test(
  "sockets: destroyed node:net and node:tls sockets -> ERR_SOCKET_NOT_FOUND, it is closed",
  async () => {
    await withTlsServer(async (port, _accepted, { ca }) => {
      const plain = net.connect({ host: "127.0.0.1", port });
      const secure = tls.connect({ host: "127.0.0.1", port, ca });
      for (const s of [plain, secure]) s.on("error", () => {});
      await Promise.all([once(plain, "connect"), once(secure, "secureConnect")]);
      for (const socket of [plain, secure]) {
        setKeepAlive(socket, OPTIONS);
        socket.destroy();
        // At once: the runtime says it is destroyed, before its 'close' event.
        assert.throws(() => getKeepAlive(socket), closed);
        await once(socket, "close");
        assert.throws(() => setKeepAlive(socket, OPTIONS), closed);
        assert.throws(() => getKeepAlive(socket), closed);
      }
    });
  },
  opts,
);

/** Waits until no descriptor has this connection any more (the runtime may close it later). */
async function gone(localPort: number, remotePort: number): Promise<void> {
  for (let i = 0; i < 200 && descriptorOf(localPort, remotePort) !== undefined; i++) {
    await sleep(10);
  }
  assert.equal(descriptorOf(localPort, remotePort), undefined, "the socket is gone");
}

if (!isBun) {
  test(
    "sockets (Deno): a closed Deno.TcpConn or Deno.TlsConn -> ERR_SOCKET_NOT_FOUND, it is closed",
    async () => {
      await withTlsServer(async (port, _accepted, { ca }) => {
        const tcp = await Deno.connect({ hostname: "127.0.0.1", port });
        const secure = await Deno.connectTls({ hostname: "127.0.0.1", port, caCerts: [ca] });
        await secure.handshake();
        for (const conn of [tcp, secure]) {
          setKeepAlive(conn, OPTIONS);
          conn.close();
          // Deno closes a TlsConn's socket in the background, a few ms after close() returns; until
          // then the socket is still there (and still that connection's).
          await gone(conn.localAddr.port, port);
          assert.throws(() => setKeepAlive(conn, OPTIONS), closed);
          assert.throws(() => getKeepAlive(conn), closed);
        }
      });
    },
    opts,
  );
}

if (isBun) {
  test(
    "sockets (Bun): a closed Bun Socket, plain or tls -> ERR_SOCKET_NOT_FOUND, it is closed",
    async () => {
      await withTlsServer(async (port, _accepted, { ca }) => {
        for (const tlsOptions of [undefined, { ca }]) {
          let ended: () => void = () => {};
          const done = new Promise<void>((resolve) => (ended = resolve));
          const socket = await Bun.connect({
            hostname: "127.0.0.1",
            port,
            ...(tlsOptions ? { tls: tlsOptions } : {}),
            socket: { data() {}, close: () => ended(), error() {} },
          });
          setKeepAlive(socket, OPTIONS);
          socket.end();
          await done;
          assert.equal(socket.fd, -1);
          assert.throws(() => setKeepAlive(socket, OPTIONS), closed);
          assert.throws(() => getKeepAlive(socket), closed);
        }
      });
    },
    opts,
  );
}

// ---------------------------------------------------------------------------------------------
// Not a socket of this runtime: a TypeError that says what it got, and nothing asked of the OS.

/**
 * The API over this runtime, counting how often the C library is asked for and each call made
 * through it (by name).
 */
function countedApi(): {
  api: ReturnType<typeof sockalive<NativeConnection>>;
  opened(): number;
  calls: Record<string, number>;
} {
  let opened = 0;
  const runtime = (isBun ? bunRuntime : denoRuntime) as Adapter<NativeConnection>;
  const { calls: counted, counts: calls } = countedCalls(runtime.calls());
  const api = sockalive<NativeConnection>({
    ...runtime,
    calls: () => {
      opened++;
      return counted;
    },
  });
  return { api, opened: () => opened, calls };
}

/** Each way of asking about `value` throws a TypeError naming it (`what`). */
function throwsNaming(api: ReturnType<typeof countedApi>["api"], value: unknown, what: RegExp) {
  const named = (e: unknown) =>
    e instanceof TypeError && /^Cannot find the socket: expected /.test(e.message) &&
    what.test(e.message);
  assert.throws(() => api.setKeepAlive(value as never, OPTIONS), named);
  assert.throws(() => api.getKeepAlive(value as never), named);
  assert.throws(() => setKeepAlive(value as never, OPTIONS), named);
}

/** `value` is refused with a TypeError naming it (`what`), before any system call could be made. */
function assertRefused(value: unknown, what: RegExp): void {
  const { api, opened } = countedApi();
  throwsNaming(api, value, what);
  assert.equal(opened(), 0, "the C library was not even asked for");
}

/**
 * `value`, a socket whose descriptor its runtime names, is refused with a TypeError naming it
 * (`what`) once the kernel has said what it is: read, never set.
 */
function assertRefusedByKernel(value: unknown, what: RegExp): void {
  const { api, calls } = countedApi();
  throwsNaming(api, value, what);
  assert.equal(calls.setsockopt ?? 0, 0, "nothing was set");
  assert.equal(calls.getsockopt ?? 0, 0, "no option was read: its addresses said enough");
  assert.equal(calls.getsockname, 2, "one getsockname per call counted");
}

test(
  "sockets: {}, null, a listener, UDP and Unix sockets -> TypeError naming each, nothing touched",
  async () => {
    assertRefused({}, /got an empty object$/);
    assertRefused(null, /got null$/);
    assertRefused(undefined, /got undefined$/);
    assertRefused(7, /got the number 7$/);
    assertRefused({ fd: "3", port: 1 }, /got an object with keys fd, port$/);
    const expected = isBun
      ? /expected a Bun Socket \(TCP or TLS\), a node:net Socket or a node:tls TLSSocket; /
      : /expected a Deno\.TcpConn, a Deno\.TlsConn, a node:net Socket or a node:tls TLSSocket; /;
    assertRefused({}, expected);

    // Listeners.
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      assertRefused(server, /got a Server$/);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    if (isBun) {
      const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
      try {
        assertRefused(listener, /got a Bun listener$/);
      } finally {
        listener.stop(true);
      }
    } else {
      const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      try {
        assertRefused(listener, /got a Listener$/);
      } finally {
        listener.close();
      }
    }

    // UDP: a connected node:dgram socket (both runtimes), and Bun's own.
    const a = dgram.createSocket("udp4");
    const b = dgram.createSocket("udp4");
    try {
      await new Promise<void>((resolve) => a.bind(0, "127.0.0.1", () => resolve()));
      await new Promise<void>((resolve) => b.bind(0, "127.0.0.1", () => resolve()));
      await new Promise<void>((resolve) =>
        b.connect(a.address().port, "127.0.0.1", () => resolve())
      );
      assertRefused(b, /got a node:dgram Socket \(UDP\)$/);
    } finally {
      await new Promise<void>((resolve) => a.close(() => resolve()));
      await new Promise<void>((resolve) => b.close(() => resolve()));
    }
    if (isBun) {
      const udp = await Bun.udpSocket({ hostname: "127.0.0.1", port: 0 });
      try {
        assertRefused(udp, /got a Bun UDP socket$/);
      } finally {
        udp.close();
      }
    }

    // Unix sockets: node:net over a path (both runtimes), and the runtime's own.
    const path = join(tmpdir(), `sockalive-sockets-${process.pid}.sock`);
    rmSync(path, { force: true });
    const unixServer = net.createServer((s) => s.on("error", () => {}));
    await new Promise<void>((resolve) => unixServer.listen(path, resolve));
    const unixClient = net.connect({ path });
    try {
      await once(unixClient, "connect");
      assertRefused(unixClient, /got a node:net Socket with no IP addresses \(a Unix socket\?\)$/);
      if (isBun) {
        const native = await Bun.connect({ unix: path, socket: { data() {} } });
        try {
          // Bun names its descriptor: the kernel is asked what it is rather than Bun (whose
          // answer would cost a system call on every apply to an IP socket).
          assertRefusedByKernel(
            native,
            /got a Bun Socket with no IP addresses \(a Unix socket\?\)$/,
          );
        } finally {
          native.end();
        }
      } else {
        const native = await Deno.connect({ transport: "unix", path });
        try {
          assertRefused(native, /got a UnixConn \(transport "unix", not TCP\)$/);
        } finally {
          native.close();
        }
      }
    } finally {
      unixClient.destroy();
      await new Promise<void>((resolve) => unixServer.close(() => resolve()));
      rmSync(path, { force: true });
    }
  },
  opts,
);

// ---------------------------------------------------------------------------------------------
// A driver's habits, without a driver: what the runtime's own socket.setKeepAlive does on top.

/**
 * What the runtime's own `socket.setKeepAlive(true, 60000)` does to sockalive's values, read
 * back (and off the descriptor): it sets `idle` (TCP_KEEPIDLE) to 60 s in both runtimes, and
 * Bun also sets `interval` to 1 s and `count` to 10; `userTimeout` stays.
 */
const AFTER_RUNTIME_60S: KeepAliveInfo = isBun
  ? { ...APPLIED, idle: 60_000, interval: 1000, count: 10 }
  : { ...APPLIED, idle: 60_000 };

test(
  "sockets: a driver-shaped client: net.connect, setNoDelay, sockalive, then its own setKeepAlive(true, 60000)",
  async () => {
    await withNetServer(async (port) => {
      // As pg, ioredis and postgres.js dial.
      const socket = net.connect({ host: "127.0.0.1", port });
      socket.setNoDelay(true);
      try {
        await once(socket, "connect");
        const [local, remote] = portsOf(socket);
        assert.deepEqual(setKeepAlive(socket, OPTIONS), APPLIED);

        // The driver then calls the runtime's own setKeepAlive with its delay (postgres.js: 60 s).
        socket.setKeepAlive(true, 60_000);
        assert.deepEqual(getKeepAlive(socket), AFTER_RUNTIME_60S, "idle is overwritten");
        assert.deepEqual(kernelKeepAlive(local, remote), AFTER_RUNTIME_60S);

        // Without a delay, or with 0 (pg's default keepAliveInitialDelayMillis), only `enabled` is
        // set: the times stay as sockalive set them.
        for (const call of [() => socket.setKeepAlive(true), () => socket.setKeepAlive(true, 0)]) {
          setKeepAlive(socket, OPTIONS);
          call();
          assert.deepEqual(getKeepAlive(socket), APPLIED);
          assert.deepEqual(kernelKeepAlive(local, remote), APPLIED);
        }
        // setKeepAlive(false) turns probing off and leaves the times.
        socket.setKeepAlive(false);
        assert.deepEqual(getKeepAlive(socket), { ...APPLIED, enabled: false });

        // sockalive applied after the driver's call: its values hold.
        socket.setKeepAlive(true, 60_000);
        assert.deepEqual(setKeepAlive(socket, OPTIONS), APPLIED);
        assert.deepEqual(kernelKeepAlive(local, remote), APPLIED);
        assert.ok((await keepaliveTimer(local, remote)).some((s) => s <= OPTIONS.idle / 1000));
      } finally {
        socket.destroy();
      }
    });
  },
  opts,
);

test(
  "sockets: a driver's setKeepAlive(true, 60000) before connect is applied before 'connect': sockalive there wins",
  async () => {
    await withNetServer(async (port) => {
      const socket = net.connect({ host: "127.0.0.1", port });
      socket.setNoDelay(true);
      socket.setKeepAlive(true, 60_000); // queued by node:net until connected
      try {
        const seen = await new Promise<KeepAliveInfo>((resolve) =>
          socket.once("connect", () => {
            const before = getKeepAlive(socket);
            setKeepAlive(socket, OPTIONS);
            resolve(before);
          })
        );
        assert.equal(seen.enabled, true);
        assert.equal(seen.idle, 60_000, "the queued call ran before 'connect'");
        assert.deepEqual(getKeepAlive(socket), APPLIED);
        assert.deepEqual(kernelKeepAlive(...portsOf(socket)), APPLIED);
      } finally {
        socket.destroy();
      }
    });
  },
  opts,
);

// ---------------------------------------------------------------------------------------------
// Compile time: each socket type passes to each entry point's functions as it is typed, no cast
// (checked by `deno check`; never called).

export function typeChecks(
  socket: net.Socket,
  secure: tls.TLSSocket,
  tcp: Deno.TcpConn,
  tlsConn: Deno.TlsConn,
): void {
  for (const s of [socket, secure, tcp, tlsConn]) auto.getKeepAlive(s);
  for (const s of [socket, secure, tcp, tlsConn]) denoEntry.getKeepAlive(s);
  for (const s of [socket, secure]) bunEntry.getKeepAlive(s);
}
