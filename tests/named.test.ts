/**
 * Named descriptors: a socket whose runtime holds the descriptor and names it, live (a Bun
 * socket's own `fd`, -1 once it closes), is verified by what the descriptor is (a connected
 * stream socket over IP) rather than by comparing addresses the runtime reads from that same
 * descriptor; anything else that carries a descriptor (a copy, an object Bun did not make) is
 * still compared by address. Checked with the fake kernel (both runtimes) and with real Bun
 * sockets.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { countedCalls, isBun, test, withServer } from "./harness.ts";
import { FakeKernel } from "./fixtures/fake_kernel.ts";
import { setKeepAliveOn, type SocketTarget } from "../src/sockopt.ts";
import { linux } from "../src/os/linux.ts";
import type { SocketAddress } from "../src/address.ts";
import { sockalive } from "../src/api.ts";
import { SocketOptionError } from "../mod.ts";
import type { Adapter } from "../src/transport.ts";

const OPTIONS = { idle: 2000, interval: 1000, count: 3 };
const LOCAL = { hostname: "127.0.0.1", port: 41000 };
const REMOTE = { hostname: "127.0.0.1", port: 8000 };
const SOCK_DGRAM = 2;

/** A named target at `fd` whose addresses count how often they are asked. */
function namedTarget(fd: number): SocketTarget & { asked: number } {
  let asked = 0;
  return {
    named: true,
    get local(): SocketAddress {
      asked++;
      return LOCAL;
    },
    get remote(): SocketAddress {
      asked++;
      return REMOTE;
    },
    hints: () => [fd],
    get asked() {
      return asked;
    },
  };
}

function notFound(e: unknown): boolean {
  return e instanceof SocketOptionError && e.code === "ERR_SOCKET_NOT_FOUND";
}

test("named (fake): a connected stream socket is used without asking its runtime's addresses", () => {
  const kernel = new FakeKernel();
  kernel.open(9, LOCAL, REMOTE);
  const target = namedTarget(9);
  const got = setKeepAliveOn(linux, () => kernel, () => target, undefined, OPTIONS);
  assert.equal(got.idle, 2000);
  assert.equal(target.asked, 0, "the runtime's addresses were not read");
  assert.equal(kernel.counts.getsockname, 1);
  assert.equal(kernel.counts.getpeername, 1);
  assert.equal(kernel.peekOptions(9)["6/4"], 2, "TCP_KEEPIDLE is set, in seconds");
});

test("named (fake): the descriptor's addresses, as the kernel gave them, are told to the runtime", () => {
  const kernel = new FakeKernel();
  kernel.open(9, LOCAL, REMOTE);
  const told: Array<[number, number, number]> = [];
  const target = {
    ...namedTarget(9),
    found: (fd: number, l: { port: number }, r: { port: number }) =>
      void told.push([fd, l.port, r.port]),
  };
  setKeepAliveOn(linux, () => kernel, () => target, undefined, OPTIONS);
  assert.deepEqual(told, [[9, LOCAL.port, REMOTE.port]]);
});

for (
  const [what, open] of [
    [
      "a UDP socket with the same addresses",
      (k: FakeKernel) => k.open(9, LOCAL, REMOTE, SOCK_DGRAM),
    ],
    ["a stream socket not connected", (k: FakeKernel) => k.open(9, LOCAL)],
    ["a closed descriptor", () => {}],
  ] as const
) {
  test(`named (fake): ${what} is refused, nothing set`, () => {
    const kernel = new FakeKernel();
    open(kernel);
    assert.throws(
      () => setKeepAliveOn(linux, () => kernel, () => namedTarget(9), undefined, OPTIONS),
      notFound,
    );
    assert.equal(kernel.counts.setsockopt, 0);
  });
}

if (isBun) {
  const { bunRuntime } = await import("../src/adapters/bun.ts");
  type Bunish = { fd: number; localPort: number; remotePort: number; terminate(): void };
  const bun = (globalThis as unknown as {
    Bun: {
      connect(o: unknown): Promise<Bunish>;
    };
  }).Bun;

  /** The Bun adapter with its C calls counted by name. */
  const counted = () => {
    const { calls: proxy, counts: calls } = countedCalls();
    const runtime = bunRuntime as Adapter<unknown>;
    return { api: sockalive<unknown>({ ...runtime, calls: () => proxy }), calls, runtime };
  };

  test("named (Bun): a Bun socket names its descriptor; a copy of it and a look-alike do not", async () => {
    await withServer(async (port) => {
      const socket = await bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
      try {
        const { runtime } = counted();
        assert.equal(runtime.target(socket).named, true);
        const copy = {
          ...socket,
          fd: socket.fd,
          localAddress: "127.0.0.1",
          remoteAddress: "127.0.0.1",
          localPort: socket.localPort,
          remotePort: socket.remotePort,
        };
        assert.notEqual(runtime.target(copy).named, true, "a plain copy is compared by address");
        const lookalike = Object.create(Object.getPrototypeOf(socket));
        assert.throws(() => runtime.target(lookalike).named, TypeError);
      } finally {
        socket.terminate();
      }
    });
  });

  test("named (Bun): a copy of a Bun socket whose descriptor now carries another socket is refused", async () => {
    await withServer(async (port) => {
      const a = await bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
      const b = await bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
      try {
        // A copy that claims b's descriptor with a's addresses: the addresses decide.
        const forged = {
          fd: b.fd,
          localAddress: "127.0.0.1",
          localPort: a.localPort,
          remoteAddress: "127.0.0.1",
          remotePort: a.remotePort,
        };
        const { api, calls } = counted();
        assert.throws(() => api.setKeepAlive(forged, OPTIONS), notFound);
        assert.equal(calls.setsockopt ?? 0, 0);
      } finally {
        a.terminate();
        b.terminate();
      }
    });
  });

  test("named (Bun): setKeepAlive on a Bun socket verifies it with one getsockname and one getpeername", async () => {
    await withServer(async (port) => {
      const socket = await bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
      try {
        const { api, calls } = counted();
        assert.equal(api.setKeepAlive(socket, OPTIONS).idle, 2000);
        assert.deepEqual([calls.getsockname, calls.getpeername, calls.setsockopt], [1, 1, 4]);
        socket.terminate();
        assert.throws(() => api.getKeepAlive(socket), notFound);
        assert.deepEqual([calls.getsockname, calls.getpeername], [1, 1], "a closed one: no call");
      } finally {
        socket.terminate();
      }
    });
  });

  test("named (Bun): a LiveConnection's socket, found at open, needs no address call again", async () => {
    await withServer(async (port) => {
      const { api, calls } = counted();
      const conn = api.connect({ port, keepAlive: OPTIONS });
      await conn.opened;
      try {
        const opened = { ...calls };
        assert.equal(conn.getKeepAlive().idle, 2000);
        conn.setKeepAlive({ idle: 3000 });
        assert.equal(conn.health()?.state, "ESTABLISHED");
        assert.equal(calls.getsockname ?? 0, opened.getsockname ?? 0, "no getsockname after open");
        assert.equal(calls.getpeername ?? 0, opened.getpeername ?? 0, "no getpeername after open");
        assert.equal(conn.localAddr?.hostname, "127.0.0.1");
        assert.equal(conn.remoteAddr?.port, port);
      } finally {
        await conn.close();
      }
      // Closed: its ports and addresses are still told, as the kernel gave them at open.
      assert.equal(conn.localAddr?.hostname, "127.0.0.1");
      assert.equal(conn.remoteAddr?.hostname, "127.0.0.1");
      assert.equal(conn.remoteAddr?.port, port);
      assert.ok((conn.localAddr?.port ?? 0) > 0);
    });
  });

  test("named (Bun): a broken IPv6 connection still tells both its addresses", async () => {
    const server = net.createServer((s) => s.on("error", () => {}));
    await new Promise<void>((resolve) => server.listen(0, "::1", resolve));
    const port = (server.address() as net.AddressInfo).port;
    const accepted = new Promise<net.Socket>((resolve) => server.once("connection", resolve));
    try {
      const conn = counted().api.connect({ hostname: "::1", port, keepAlive: OPTIONS });
      await conn.opened;
      (await accepted).resetAndDestroy();
      assert.equal((await conn.closed).state, "broken");
      // Bun answers for a closed socket's addresses only if they were asked while it was open.
      assert.equal(conn.localAddr?.hostname, "::1");
      assert.equal(conn.remoteAddr?.hostname, "::1");
      assert.equal(conn.remoteAddr?.port, port);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
}
