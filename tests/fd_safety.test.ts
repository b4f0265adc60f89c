/**
 * Descriptor safety (issue 5, part 3): when a connection closes and its descriptor number is
 * reused by another socket before options are applied, the other socket's options never change.
 * Checked with real sockets in this runtime (getsockopt on the other socket, through
 * getKeepAlive on its native object), and deterministically with the fake kernel, including the
 * window between dialing and applying keepalive inside LiveConnection.
 */
import assert from "node:assert/strict";
import {
  descriptorOf,
  isBun,
  nativeConnect,
  type NativeSocket,
  preloadFfi,
  realCalls,
  sleep,
  test,
  withServer,
} from "./harness.ts";
import { FakeRuntime, targetOver } from "./fixtures/fake_kernel.ts";
import {
  connect,
  ConnectionClosedError,
  getKeepAlive,
  type NativeConnection,
  setKeepAlive,
  SocketOptionError,
} from "../mod.ts";
import { LiveConnection } from "../src/connection.ts";
import { setKeepAliveOn } from "../src/sockopt.ts";
import { linux } from "../src/os/linux.ts";
import type { SocketCalls } from "../ffi/types.ts";
import type { SocketAddress } from "../src/address.ts";

preloadFfi();

const ROUNDS = 25;
const HOSTILE = { enabled: false, idle: 1000, interval: 1000, count: 1, userTimeout: 1 };
const VICTIM = { enabled: true, idle: 7000, interval: 3000, count: 4, userTimeout: 12345 };

function notFound(e: unknown): boolean {
  return e instanceof SocketOptionError && e.code === "ERR_SOCKET_NOT_FOUND";
}

/** Real calls with setsockopt counted. */
function countingSets(): { calls: SocketCalls; sets: () => number } {
  const real = realCalls();
  let sets = 0;
  const calls = Object.create(real) as SocketCalls;
  calls.setsockopt = (...args) => {
    sets++;
    return real.setsockopt(...args);
  };
  return { calls, sets: () => sets };
}

/** Opens native sockets until one lands on `fd`; closes the others. */
async function openOn(fd: number, port: number): Promise<NativeSocket> {
  const extra: NativeSocket[] = [];
  try {
    for (let i = 0; i < 20; i++) {
      const s = await nativeConnect(port);
      if (descriptorOf(s.localPort, port) === fd) return s;
      extra.push(s);
    }
    throw new Error(`no new socket landed on descriptor ${fd}`);
  } finally {
    for (const s of extra) s.close();
  }
}

/** A plain copy of a native socket's identity, as a caller might keep it after closing it. */
function snapshot(s: NativeSocket): NativeConnection {
  if (isBun) {
    const b = s.socket as {
      fd: number;
      localAddress: string;
      localPort: number;
      remoteAddress: string;
      remotePort: number;
    };
    return {
      fd: b.fd,
      localAddress: b.localAddress,
      localPort: b.localPort,
      remoteAddress: b.remoteAddress,
      remotePort: b.remotePort,
    };
  }
  const d = s.socket as Deno.TcpConn;
  return { localAddr: { ...d.localAddr }, remoteAddr: { ...d.remoteAddr } } as NativeConnection;
}

async function closedAt(fd: number, localPort: number, remotePort: number): Promise<void> {
  for (let i = 0; i < 100 && descriptorOf(localPort, remotePort) === fd; i++) await sleep(5);
  assert.notEqual(descriptorOf(localPort, remotePort), fd, "the old socket is gone");
}

test(
  "fd safety: a closed socket's descriptor reused by another socket is never touched",
  async () => {
    await withServer(async (port) => {
      for (let round = 0; round < ROUNDS; round++) {
        const a = await nativeConnect(port);
        const fdA = descriptorOf(a.localPort, port);
        assert.ok(fdA !== undefined);
        const old = snapshot(a);
        const local: SocketAddress = { hostname: "127.0.0.1", port: a.localPort };
        const remote: SocketAddress = { hostname: "127.0.0.1", port };
        a.close();
        await closedAt(fdA, a.localPort, port);
        const b = await openOn(fdA, port);
        try {
          const victim = b.socket as NativeConnection;
          setKeepAlive(victim, VICTIM);
          const before = getKeepAlive(victim);
          // Through the public API, with the closed socket's own handle kept by the caller.
          assert.throws(() => setKeepAlive(old, HOSTILE), notFound);
          // Through the core, told to try exactly the reused descriptor.
          const { calls, sets } = countingSets();
          assert.throws(
            () =>
              setKeepAliveOn(
                linux,
                () => calls,
                () => targetOver(local, remote, () => [fdA]),
                undefined,
                HOSTILE,
              ),
            notFound,
          );
          assert.equal(sets(), 0, "setsockopt was never called");
          assert.deepEqual(
            getKeepAlive(victim),
            before,
            `round ${round}: the other socket is untouched`,
          );
        } finally {
          b.close();
        }
      }
    });
  },
  { timeout: 20_000 },
);

test(
  "fd safety: a LiveConnection closed or reset, its descriptor reused: setKeepAlive refuses",
  async () => {
    await withServer(async (port, server) => {
      for (const how of ["close", "reset"] as const) {
        for (let round = 0; round < 10; round++) {
          const conn = connect({ port, keepAlive: { idle: 2000, interval: 1000, count: 2 } });
          await conn.opened;
          const fdA = descriptorOf(conn.localAddr!.port, port);
          assert.ok(fdA !== undefined);
          if (how === "close") await conn.close();
          else {
            await sleep(10); // the server has accepted
            server.resetAll();
            assert.equal((await conn.closed).code, "ECONNRESET");
          }
          await closedAt(fdA, conn.localAddr!.port, port);
          const b = await openOn(fdA, port);
          try {
            const victim = b.socket as NativeConnection;
            setKeepAlive(victim, VICTIM);
            const before = getKeepAlive(victim);
            assert.throws(() => conn.setKeepAlive(HOSTILE), ConnectionClosedError);
            assert.throws(() => conn.getKeepAlive(), ConnectionClosedError);
            assert.deepEqual(getKeepAlive(victim), before, `${how} round ${round}`);
          } finally {
            b.close();
          }
        }
      }
    });
  },
  { timeout: 20_000 },
);

// ---------------------------------------------------------------------------------------------
// The fake kernel: reuse at exactly the moments that matter, without depending on timing.

const OTHER_LOCAL = { hostname: "127.0.0.1", port: 50000 };
const OTHER_REMOTE = { hostname: "127.0.0.1", port: 8000 };

test("fd safety (fake): descriptor reused between dial and applying keepalive -> broken, other socket untouched", async () => {
  class ReusingRuntime extends FakeRuntime {
    override async dial(where: { hostname: string; port: number }) {
      const transport = await super.dial(where);
      // Before LiveConnection looks the socket up, it closes and an unrelated socket takes the
      // same number.
      this.kernel.close(this.fd);
      this.kernel.open(this.fd, OTHER_LOCAL, OTHER_REMOTE);
      return transport;
    }
  }
  const runtime = new ReusingRuntime();
  const conn = new LiveConnection(runtime, { port: 7000 });
  await assert.rejects(conn.opened, notFound);
  const info = await conn.closed;
  assert.equal(info.state, "broken");
  assert.equal(info.code, "ERR_SOCKET_NOT_FOUND");
  assert.equal(runtime.kernel.counts.setsockopt, 0, "nothing was set on the other socket");
  assert.equal(runtime.kernel.sets.length, 0);
});

test("fd safety (fake): descriptor reused while open -> setKeepAlive/getKeepAlive refuse, the paused check does not poll it", async () => {
  const runtime = new FakeRuntime();
  const conn = new LiveConnection(runtime, { port: 7000, maxBufferedBytes: 16 });
  await conn.opened;
  const setsAtOpen = runtime.kernel.counts.setsockopt;
  // The runtime closed the socket behind our back and the number was reused at once.
  runtime.kernel.close(runtime.fd);
  runtime.kernel.open(runtime.fd, OTHER_LOCAL, OTHER_REMOTE);
  assert.throws(() => conn.setKeepAlive(HOSTILE), notFound);
  assert.throws(() => conn.getKeepAlive(), notFound);
  // Overflow the buffer so the connection pauses and checks the socket every 100 ms.
  runtime.last!.sink!.data(new Uint8Array(64));
  await sleep(250);
  assert.equal(runtime.kernel.counts.poll, 0, "poll was never called on the reused descriptor");
  assert.equal(runtime.kernel.counts.setsockopt, setsAtOpen, "no setsockopt after the reuse");
  await conn.close();
});

test("fd safety (fake): a socket the kernel ended is told by its cookie, without a read", async () => {
  const ECONNRESET = 104;
  const runtime = new FakeRuntime();
  runtime.waitsForReadiness = true;
  const conn = new LiveConnection(runtime, { port: 7000 });
  await conn.opened;
  const sink = runtime.last!.sink!;
  // Bytes wait before the error: a read must deliver them first.
  runtime.kernel.sockets.get(runtime.fd)!.unread = 10;
  runtime.kernel.fail(runtime.fd, ECONNRESET);
  assert.equal(sink.failedInKernel!(), false);
  assert.equal(conn.state, "open");
  runtime.kernel.sockets.get(runtime.fd)!.unread = 0;
  assert.equal(sink.failedInKernel!(), true);
  const info = await conn.closed;
  assert.equal(info.state, "broken");
  assert.equal(info.code, "ECONNRESET");
  assert.match(info.error!.message, /the peer reset it \(ECONNRESET\)/);
});

test("fd safety (fake): connections the kernel ended the same way share one frozen error", async () => {
  const ECONNRESET = 104, ETIMEDOUT = 110;
  const infos = [];
  for (const [fd, errno] of [[7, ECONNRESET], [8, ECONNRESET], [9, ETIMEDOUT]]) {
    const runtime = new FakeRuntime(undefined, fd);
    runtime.waitsForReadiness = true;
    const conn = new LiveConnection(runtime, { port: 7000 });
    await conn.opened;
    runtime.kernel.fail(runtime.fd, errno);
    assert.equal(runtime.last!.sink!.failedInKernel!(), true);
    infos.push(await conn.closed);
  }
  const [a, b, c] = infos;
  assert.deepEqual(infos.map((i) => i.code), ["ECONNRESET", "ECONNRESET", "ETIMEDOUT"]);
  assert.equal(a.error, b.error, "one object for the same code");
  assert.notEqual(a.error, c.error);
  assert.ok(Object.isFrozen(a.error) && a.error instanceof Error);
  assert.equal((a.error as Error & { code: string }).code, "ECONNRESET");
});

test("fd safety (fake): descriptor reused before the kernel's error is asked: nothing taken from the other socket", async () => {
  const ETIMEDOUT = 110;
  const runtime = new FakeRuntime();
  runtime.waitsForReadiness = true;
  const conn = new LiveConnection(runtime, { port: 7000 });
  await conn.opened;
  const sink = runtime.last!.sink!;
  // Ours closed behind our back; another socket, which the kernel has also failed, took its
  // number: its error is its owner's, and stays for its owner's read.
  runtime.kernel.close(runtime.fd);
  runtime.kernel.open(runtime.fd, OTHER_LOCAL, OTHER_REMOTE);
  runtime.kernel.fail(runtime.fd, ETIMEDOUT);
  assert.equal(sink.failedInKernel!(), false);
  assert.equal(runtime.kernel.counts.recv, 0, "recv was never called on the other socket");
  assert.equal(runtime.kernel.sockets.get(runtime.fd)!.error, ETIMEDOUT);
  assert.equal(conn.state, "open");
  await conn.close();
});

test("fd safety (fake): a transport that keeps a read pending is never asked for the kernel's error", async () => {
  const runtime = new FakeRuntime();
  const conn = new LiveConnection(runtime, { port: 7000 });
  await conn.opened;
  runtime.kernel.fail(runtime.fd, 104);
  assert.equal(runtime.last!.sink!.failedInKernel!(), false);
  assert.equal(runtime.kernel.counts.recv, 0);
  await conn.close();
});
