/**
 * `idleTimeout`, `health()` / `getHealth()` and `CloseInfo.lastReceivedAt` on real sockets over
 * loopback, in whichever runtime runs the tests: a silent peer ends the connection `broken` with
 * `IDLE_TIMEOUT` and its socket is closed; a peer that keeps sending never does; a connection
 * that holds bytes back because nobody reads waits; `listen()` takes the option too.
 */
import assert from "node:assert/strict";
import net from "node:net";
import process from "node:process";
import { sleep, test } from "./harness.ts";
import {
  type CloseInfo,
  connect,
  getHealth,
  listen,
  type NativeConnection,
  SocketOptionError,
} from "../mod.ts";

const opts = { sanitize: false, timeout: 15_000 };
const onLinux = process.platform === "linux";

/** A node:net server whose accepted sockets `onSocket` drives; closed after `fn`. */
async function serving<T>(
  onSocket: (socket: net.Socket) => void,
  fn: (port: number, ended: Promise<"end" | "close">) => Promise<T>,
): Promise<T> {
  const sockets = new Set<net.Socket>();
  let resolveEnded: (how: "end" | "close") => void = () => {};
  const ended = new Promise<"end" | "close">((resolve) => (resolveEnded = resolve));
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on("error", () => {});
    s.on("end", () => resolveEnded("end"));
    s.on("close", () => {
      sockets.delete(s);
      resolveEnded("close");
    });
    onSocket(s);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    return await fn((server.address() as net.AddressInfo).port, ended);
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

test(
  "idle: a peer that sends nothing ends the connection IDLE_TIMEOUT, and its socket is closed",
  async () => {
    await serving(() => {}, async (port, peerSaw) => {
      const conn = connect({ port, keepAlive: true, idleTimeout: 300 });
      await conn.opened;
      const info: CloseInfo = await conn.closed;
      assert.equal(info.state, "broken");
      assert.equal(info.code, "IDLE_TIMEOUT");
      assert.match(info.error!.message, /No byte received for \d+ ms \(idleTimeout 300 ms\)/);
      assert.ok(info.openForMs! >= 300 && info.openForMs! < 1500, `after ${info.openForMs} ms`);
      // Nothing arrived: the silence counts from the open.
      assert.equal(info.at - info.lastReceivedAt!, info.openForMs);
      assert.ok(["end", "close"].includes(await peerSaw), "the peer saw the socket close");
      await assert.rejects(conn.read(new Uint8Array(4)), (e: unknown) => {
        return (e as SocketOptionError).code === "IDLE_TIMEOUT";
      });
    });
  },
  opts,
);

test(
  "idle: never fires while bytes keep arriving; after the last one, counts from it",
  async () => {
    let stop = () => {};
    await serving((socket) => {
      const timer = setInterval(() => socket.write("x"), 60);
      stop = () => clearInterval(timer);
      socket.on("close", stop);
    }, async (port) => {
      const conn = connect({ port, idleTimeout: 250 });
      await conn.opened;
      let received = 0;
      void (async () => {
        const buffer = new Uint8Array(64);
        try {
          for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
            received += n;
          }
        } catch { /* the break, asserted below */ }
      })();
      await sleep(1200); // almost 5 idle timeouts
      assert.equal(conn.state, "open", "it fired while bytes kept arriving");
      assert.ok(received >= 10, `${received} bytes`);
      const lastBefore = Date.now();
      stop();
      const info = await conn.closed;
      assert.equal(info.code, "IDLE_TIMEOUT");
      const silent = info.at - info.lastReceivedAt!;
      assert.ok(silent >= 250 && silent < 1000, `silent ${silent} ms`);
      assert.ok(
        info.lastReceivedAt! <= lastBefore + 60 && info.lastReceivedAt! >= lastBefore - 200,
      );
    });
  },
  opts,
);

test("idle: bytes nobody has read yet count as received", async () => {
  let stop = () => {};
  await serving((socket) => {
    const timer = setInterval(() => socket.write("y"), 60);
    stop = () => clearInterval(timer);
    socket.on("close", stop);
  }, async (port) => {
    const conn = connect({ port, idleTimeout: 250 });
    await conn.opened;
    await sleep(800); // nobody reads: the bytes wait in the connection, well under the limit
    assert.equal(conn.state, "open", "it fired although bytes kept arriving");
    stop();
    assert.equal((await conn.closed).code, "IDLE_TIMEOUT");
    // What arrived before the timeout is still there, then the break.
    const reader = conn.readable.getReader();
    let got = 0;
    let error: unknown;
    try {
      for (let r = await reader.read(); !r.done; r = await reader.read()) got += r.value.length;
    } catch (e) {
      error = e;
    }
    assert.ok(got >= 5, `${got} bytes kept`);
    assert.equal((error as SocketOptionError).code, "IDLE_TIMEOUT");
  });
}, opts);

test("idle: a connection holding bytes back because nobody reads does not time out", async () => {
  let sent = false;
  await serving((socket) => {
    socket.write(new Uint8Array(64 * 1024), () => (sent = true));
  }, async (port) => {
    const conn = connect({ port, idleTimeout: 200, maxBufferedBytes: 4096 });
    await conn.opened;
    await sleep(700);
    assert.ok(sent);
    assert.equal(conn.state, "open", "timed out while its own backpressure held the peer back");
    // Reading again lets the bytes in, and the silence after them counts.
    const buffer = new Uint8Array(64 * 1024);
    let total = 0;
    while (total < 64 * 1024) {
      const n = await conn.read(buffer);
      assert.ok(n !== null);
      total += n;
    }
    assert.equal((await conn.closed).code, "IDLE_TIMEOUT");
  });
}, opts);

test("idle: listen() takes idleTimeout for every accepted connection", async () => {
  await using server = listen({ port: 0, idleTimeout: 250 });
  const client = net.connect({ host: "127.0.0.1", port: server.addr.port });
  client.on("error", () => {});
  const clientEnded = new Promise<void>((resolve) => client.on("close", () => resolve()));
  try {
    for await (const conn of server) {
      await conn.opened;
      const info = await conn.closed;
      assert.equal(info.code, "IDLE_TIMEOUT");
      assert.ok(info.openForMs! >= 250);
      break;
    }
    await clientEnded;
  } finally {
    client.destroy();
  }
}, opts);

test("idle: idleTimeout is checked like the other timeouts", () => {
  for (const bad of [0, -1, NaN, Infinity, 2 ** 31]) {
    assert.throws(
      () => connect({ port: 1, idleTimeout: bad }),
      (e: unknown) =>
        e instanceof RangeError && /"idleTimeout" must be a positive number/.test(e.message),
    );
    assert.throws(() => listen({ port: 0, idleTimeout: bad }), RangeError);
  }
  assert.throws(
    () => connect({ port: 1, idleTimeout: "30s" as unknown as number }),
    (e: unknown) =>
      e instanceof TypeError && /"idleTimeout" must be a number of ms/.test(e.message),
  );
});

test("health: open connections read the kernel's record; ended ones give undefined", async () => {
  await serving((socket) => socket.write(new Uint8Array(3000)), async (port) => {
    const conn = connect({ port, keepAlive: { idle: 5000, interval: 1000, count: 3 } });
    assert.equal(conn.health(), undefined, "undefined while connecting");
    await conn.opened;
    const buffer = new Uint8Array(4096);
    for (let total = 0; total < 3000;) total += (await conn.read(buffer)) ?? 0;
    const h = conn.health();
    assert.ok(h, "open: a record");
    if (onLinux) {
      assert.equal(h.state, "ESTABLISHED");
      assert.equal(h.bytesReceived, 3000);
      assert.equal(h.probes, 0);
      assert.equal(h.unacked, 0);
      assert.equal(typeof h.rtt, "number");
      assert.ok(h.lastReceived! >= 0 && h.lastReceived! < 5000);
    }
    await conn.close();
    assert.equal(conn.health(), undefined, "undefined once ended");
    assert.equal((await conn.closed).lastReceivedAt! <= Date.now(), true);
  });
}, opts);

test(
  "health: getHealth() reads any socket setKeepAlive takes: the runtime's and node:net's",
  async () => {
    await serving((socket) => socket.write(new Uint8Array(100)), async (port) => {
      const socket = net.connect({ host: "127.0.0.1", port });
      await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
      const received = new Promise<void>((resolve) => socket.once("data", () => resolve()));
      await received;
      try {
        const h = getHealth(socket);
        if (onLinux) {
          assert.equal(h.state, "ESTABLISHED");
          assert.ok(h.bytesReceived! >= 100);
        }
      } finally {
        socket.destroy();
      }
      await sleep(20);
      assert.throws(() => getHealth(socket), (e: unknown) => e instanceof SocketOptionError);
      assert.throws(() => getHealth({} as unknown as NativeConnection), TypeError);
    });
  },
  opts,
);
