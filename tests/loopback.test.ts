/**
 * Real sockets on loopback, in whichever runtime runs the tests: options set and read back
 * (with `ss` as an outside witness), and every way a connection ends.
 */
import assert from "node:assert/strict";
import net from "node:net";
import process from "node:process";
import {
  command,
  concat,
  descriptorOf,
  fixture,
  isBun,
  isPattern,
  keepaliveSeconds,
  nativeConnect,
  Proc,
  readAll,
  runtimeCommand,
  sleep,
  ssLine,
  startPeer,
  test,
  withPeer,
  withServer,
} from "./harness.ts";
import {
  type CloseInfo,
  connect,
  ConnectionClosedError,
  type ConnectOptions,
  getKeepAlive,
  type KeepAliveOptions,
  type LiveConnection,
  type NativeConnection,
  setKeepAlive,
  SocketOptionError,
  type StateChangeEvent,
} from "../mod.ts";
import { useReadinessMonitor, watchedConnections } from "../src/adapters/deno.ts";
import { systemFor } from "../src/os/systems.ts";

// Child processes (the python peer) are spawned in these tests.
const opts = { sanitize: false, timeout: 15_000 };

/** The time left on ss's keepalive timer, in seconds (see {@linkcode keepaliveSeconds}). */
function keepaliveTimer(line: string): number[] {
  const seconds = keepaliveSeconds(line);
  assert.ok(seconds, `no keepalive timer in: ${line}`);
  return seconds;
}

/** Connects to the python peer and waits until both ends have the connection. */
async function openTo(peer: Proc, options: ConnectOptions): Promise<LiveConnection> {
  const conn = connect(options);
  await conn.opened;
  await peer.waitFor(/^ACCEPTED/);
  return conn;
}

function record(
  conn: { addEventListener(t: "statechange", l: (e: StateChangeEvent) => void): void },
) {
  const seen: string[] = [];
  conn.addEventListener("statechange", (e) => seen.push(`${e.from}->${e.to}`));
  return seen;
}

test("loopback: setKeepAlive sets each option on a native socket and reads it back", async () => {
  await withPeer(async (peer, port) => {
    const native = await nativeConnect(port);
    await peer.waitFor(/^ACCEPTED/);
    try {
      const socket = native.socket as NativeConnection;
      const before = getKeepAlive(socket);
      assert.equal(before.enabled, false);
      const steps: Array<[object, object]> = [
        [{ idle: 3000 }, { enabled: true, idle: 3000 }],
        [{ interval: 2500 }, { interval: 3000 }], // whole seconds, rounded up
        [{ count: 7 }, { count: 7 }],
        [{ userTimeout: 4321 }, { userTimeout: 4321 }],
        [{ enabled: false }, { enabled: false }],
        [{ enabled: true, idle: 1, interval: 1, count: 1, userTimeout: 0 }, {
          enabled: true,
          idle: 1000,
          interval: 1000,
          count: 1,
          userTimeout: 0,
        }],
      ];
      let expected = { ...before };
      for (const [set, changed] of steps) {
        expected = { ...expected, ...changed };
        const returned = setKeepAlive(socket, set);
        assert.deepEqual(returned, expected, `after ${JSON.stringify(set)}`);
        assert.deepEqual(getKeepAlive(socket), expected);
      }
    } finally {
      native.close();
    }
  });
}, opts);

test("loopback: ss, an outside witness, sees the keepalive timer the library set", async () => {
  await withPeer(async (peer, port) => {
    const conn = await openTo(peer, { port, keepAlive: { idle: 7000, interval: 2000, count: 4 } });
    const seconds = keepaliveTimer(await ssLine(conn.localAddr!.port));
    assert.ok(
      seconds.some((s) => s > 5 && s <= 7),
      `keepalive timer ${seconds}, expected (5, 7] s`,
    );
    assert.deepEqual(conn.keepAlive, {
      enabled: true,
      idle: 7000,
      interval: 2000,
      count: 4,
      userTimeout: 15000,
    });
    assert.deepEqual(conn.getKeepAlive(), conn.keepAlive);
    assert.deepEqual(conn.setKeepAlive({ idle: 20000 }), { ...conn.keepAlive, idle: 20000 });
    const after = keepaliveTimer(await ssLine(conn.localAddr!.port));
    assert.ok(after.some((s) => s > 18 && s <= 20), `timer after setting idle 20 s: ${after}`);
    await conn.close();
  });
}, opts);

test(
  "loopback: connections opened with the same options share one frozen conn.keepAlive",
  async () => {
    await withPeer(async (peer, port) => {
      const keepAlive = { idle: 7000, interval: 2000, count: 4 };
      const a = await openTo(peer, { port, keepAlive });
      const b = await openTo(peer, { port, keepAlive });
      try {
        assert.ok(Object.isFrozen(a.keepAlive));
        assert.equal(a.keepAlive, b.keepAlive, "one object for the two");
        assert.deepEqual(b.getKeepAlive(), b.keepAlive, "still what the kernel holds");
        const changed = b.setKeepAlive({ idle: 9000 });
        assert.equal(b.keepAlive, changed);
        assert.equal(a.keepAlive!.idle, 7000, "the other connection's values are its own");
        assert.deepEqual(a.getKeepAlive(), a.keepAlive);
      } finally {
        await a.close();
        await b.close();
      }
    });
  },
  opts,
);

test("loopback: keepAlive false turns probing off, and ss shows no keepalive timer", async () => {
  await withPeer(async (peer, port) => {
    const conn = await openTo(peer, { port, keepAlive: false });
    assert.equal(conn.keepAlive!.enabled, false);
    assert.doesNotMatch(await ssLine(conn.localAddr!.port), /keepalive/);
    await conn.close();
  });
}, opts);

test("loopback: connecting -> open -> broken ECONNRESET when the peer resets", async () => {
  await withPeer(async (peer, port) => {
    const conn = connect({ port, keepAlive: { idle: 1000, interval: 1000, count: 3 } });
    const seen = record(conn);
    assert.equal(conn.state, "connecting");
    await conn.opened;
    assert.equal(conn.state, "open");
    await peer.waitFor(/^ACCEPTED/);
    await command(peer, "reset");
    const info = await conn.closed;
    assert.equal(info.state, "broken");
    assert.equal(info.code, "ECONNRESET");
    assert.ok(info.error instanceof Error);
    assert.equal(typeof info.openForMs, "number");
    assert.deepEqual(seen, ["connecting->open", "open->broken"]);
    await assert.rejects(
      conn.write(new Uint8Array(1)),
      (e: unknown) => e instanceof ConnectionClosedError && e.code === "ECONNRESET",
    );
    await assert.rejects(
      readAll(conn.readable),
      (e: unknown) => e instanceof ConnectionClosedError && e.code === "ECONNRESET",
    );
  });
}, opts);

test(
  "loopback: an idle connection's reset reaches it as the kernel's error (Deno: with no read)",
  async () => {
    await withPeer(async (peer, port) => {
      const conn = await openTo(peer, { port });
      await command(peer, "reset");
      const info = await conn.closed;
      assert.equal(info.code, "ECONNRESET");
      assert.equal((info.error as { code?: string }).code, "ECONNRESET");
      if (!isBun) {
        // Learnt from the socket when the shared wait reported it: not a Deno ConnectionReset,
        // whose making cost most of a break when thousands come at once.
        assert.equal(info.error!.name, "Error");
        assert.equal(
          info.error!.message,
          "The connection was lost: the peer reset it (ECONNRESET)",
        );
      }
    });
  },
  opts,
);

test("loopback: 1 MiB then FIN arrives intact, then closed-gracefully by peer", async () => {
  await withPeer(async (peer, port) => {
    const conn = connect({ port });
    const seen = record(conn);
    await conn.opened;
    await peer.waitFor(/^ACCEPTED/);
    await command(peer, `send ${1 << 20}`);
    await command(peer, "close");
    const bytes = await readAll(conn.readable);
    assert.equal(bytes.byteLength, 1 << 20);
    assert.ok(isPattern(bytes), "bytes arrive intact and in order");
    const info = await conn.closed;
    assert.equal(info.state, "closed-gracefully");
    assert.equal(info.by, "peer");
    assert.equal(conn.bytesRead, 1 << 20);
    assert.deepEqual(seen, ["connecting->open", "open->closed-gracefully"]);
  });
}, opts);

test(
  "loopback: a BYOB reader gets 1 MiB intact in its own buffer, reused read after read",
  async () => {
    await withPeer(async (peer, port) => {
      const conn = await openTo(peer, { port });
      await command(peer, `send ${1 << 20}`);
      await command(peer, "close");
      const reader = conn.readable.getReader({ mode: "byob" });
      let buffer = new ArrayBuffer(16 * 1024);
      const received = new Uint8Array(1 << 20);
      let total = 0;
      for (;;) {
        const { value, done } = await reader.read(new Uint8Array(buffer));
        if (done) break;
        assert.ok(value.byteLength > 0 && value.byteLength <= 16 * 1024);
        assert.equal(value.buffer.byteLength, 16 * 1024, "the reader's own buffer comes back");
        received.set(value, total);
        total += value.byteLength;
        buffer = value.buffer;
      }
      assert.equal(total, 1 << 20);
      assert.ok(isPattern(received), "bytes arrive intact and in order");
      assert.equal(conn.bytesRead, 1 << 20);
      const info = await conn.closed;
      assert.deepEqual([info.state, info.by], ["closed-gracefully", "peer"]);
    });
  },
  opts,
);

test(
  "loopback: a BYOB read waiting when the peer ends resolves done; when it resets, rejects",
  async () => {
    await withPeer(async (peer, port) => {
      const conn = await openTo(peer, { port });
      const reader = conn.readable.getReader({ mode: "byob" });
      const waiting = reader.read(new Uint8Array(1024));
      await sleep(100);
      await command(peer, "close");
      const { done } = await waiting;
      assert.equal(done, true);
      assert.equal((await conn.closed).by, "peer");
    });
    await withPeer(async (peer, port) => {
      const conn = await openTo(peer, { port });
      const reader = conn.readable.getReader({ mode: "byob" });
      // Handled from the start: the read may reject before the peer confirms the reset.
      const rejected = assert.rejects(
        reader.read(new Uint8Array(1024)),
        (e: unknown) => e instanceof ConnectionClosedError && e.code === "ECONNRESET",
      );
      await sleep(100);
      await command(peer, "reset");
      await rejected;
      assert.equal((await conn.closed).code, "ECONNRESET");
    });
  },
  opts,
);

test(
  "loopback: cancelling a BYOB read drops the bytes but keeps the connection monitored",
  async () => {
    await withPeer(async (peer, port) => {
      const conn = await openTo(peer, { port });
      const reader = conn.readable.getReader({ mode: "byob" });
      const waiting = reader.read(new Uint8Array(1024));
      await reader.cancel();
      assert.equal((await waiting).done, true);
      await command(peer, "send 5000");
      await sleep(200);
      assert.equal(conn.state, "open");
      assert.equal(conn.bytesRead, 5000, "still read from the kernel, and dropped");
      await command(peer, "reset");
      assert.equal((await conn.closed).code, "ECONNRESET");
    });
  },
  opts,
);

test("loopback: read() with one reused buffer gets 1 MiB intact, then null", async () => {
  await withPeer(async (peer, port) => {
    const conn = await openTo(peer, { port });
    // Sent before anyone reads: whatever arrives first waits for read(), nothing is lost.
    await command(peer, "send 5000");
    await sleep(100);
    const received = new Uint8Array(5000 + (1 << 20));
    const buffer = new Uint8Array(1000);
    let total = 0;
    while (total < 5000) {
      const n = await conn.read(buffer);
      assert.ok(n !== null && n > 0 && n <= 1000);
      received.set(buffer.subarray(0, n), total);
      total += n;
    }
    assert.equal(total, 5000);
    assert.ok(isPattern(received.subarray(0, 5000)));
    await command(peer, `send ${1 << 20}`);
    await command(peer, "close");
    const big = new Uint8Array(64 * 1024);
    for (let n = await conn.read(big); n !== null; n = await conn.read(big)) {
      received.set(big.subarray(0, n), total);
      total += n;
    }
    assert.equal(total, 5000 + (1 << 20));
    assert.ok(isPattern(received.subarray(5000)), "bytes arrive intact and in order");
    assert.equal(await conn.read(big), null, "stays at the end");
    assert.deepEqual([(await conn.closed).state, conn.bytesRead], ["closed-gracefully", total]);
  });
}, opts);

test(
  "loopback: conn.setKeepAlive with new times moves a userTimeout that was the budget, not one asked for",
  async () => {
    await withServer(async (port) => {
      const derived = connect({ port, keepAlive: { idle: 600_000, interval: 1000, count: 3 } });
      const asked = connect({
        port,
        keepAlive: { idle: 600_000, interval: 1000, count: 3, userTimeout: 5000 },
      });
      try {
        await derived.opened;
        await asked.opened;
        assert.equal(derived.keepAlive?.userTimeout, 603_000, "connect derives the budget");
        // New times, nothing said of userTimeout: the budget it was follows them.
        assert.equal(derived.setKeepAlive({ idle: 1000 }).userTimeout, 4000);
        assert.equal(derived.getKeepAlive().userTimeout, 4000, "the kernel holds the new budget");
        assert.equal(derived.setKeepAlive({ count: 5 }).userTimeout, 6000);
        // Asked for: it stays.
        assert.equal(asked.setKeepAlive({ idle: 1000 }).userTimeout, 5000);
        // Said explicitly: taken as said.
        assert.equal(derived.setKeepAlive({ idle: 2000, userTimeout: 0 }).userTimeout, 0);
        assert.equal(derived.setKeepAlive({ idle: 3000 }).userTimeout, 0, "0 is not a budget");
      } finally {
        await derived.close();
        await asked.close();
      }
    });
  },
  opts,
);

/** How many of this process's epoll sets hold `fd`, as the kernel lists them (/proc/self/fdinfo). */
function epollSetsHolding(fd: number): number {
  let sets = 0;
  for (const entry of Deno.readDirSync("/proc/self/fd")) {
    let link = "";
    try {
      link = Deno.readLinkSync(`/proc/self/fd/${entry.name}`);
    } catch {
      continue;
    }
    if (link !== "anon_inode:[eventpoll]") continue;
    const info = Deno.readTextFileSync(`/proc/self/fdinfo/${entry.name}`);
    if ([...info.matchAll(/^tfd:\s+(\d+)/gm)].some((m) => Number(m[1]) === fd)) sets++;
  }
  return sets;
}

if (!isBun) {
  test(
    "loopback (Deno, Linux): a read() consumer's socket leaves the shared wait while it reads, and returns",
    async () => {
      if (Deno.build.os !== "linux") return;
      await withPeer(async (peer, port) => {
        const conn = await openTo(peer, { port });
        try {
          // Deno's own reactor holds the socket in its epoll set(s); the shared wait in another.
          const fd = descriptorOf(conn.localAddr!.port, conn.remoteAddr!.port);
          assert.ok(fd !== undefined, "the connection's descriptor");
          const idle = epollSetsHolding(fd);
          assert.ok(idle >= 2, `idle: in Deno's epoll set and in the shared wait (${idle})`);
          await command(peer, `send ${4 << 20}`);
          const buffer = new Uint8Array(64 * 1024);
          let total = 0;
          let seenOut = false;
          while (total < 4 << 20) {
            const n = await conn.read(buffer);
            assert.ok(n !== null);
            total += n;
            if (epollSetsHolding(fd) === idle - 1) seenOut = true;
          }
          assert.ok(seenOut, "while read straight through, the socket stayed in the shared wait");
          await sleep(50); // the consumer stopped: watched again
          assert.equal(epollSetsHolding(fd), idle, "after the reads, the socket is watched again");
          await command(peer, "reset");
          assert.equal((await conn.closed).code, "ECONNRESET", "and a break is still seen");
        } finally {
          await conn.close();
        }
      });
    },
    opts,
  );
}

test(
  "loopback (Linux): the kernel holds each keepalive value exactly as set, at every bound",
  async () => {
    if (process.platform !== "linux") return;
    await withServer(async (port) => {
      const native = await nativeConnect(port);
      try {
        // sockalive does not read back what it has just set on Linux (the kernel stores it as
        // given); here every returned value is checked against a fresh read from the kernel.
        const cases: KeepAliveOptions[] = [
          { idle: 1000, interval: 1000, count: 1, userTimeout: 0 },
          { idle: 1001, interval: 1999, count: 127, userTimeout: 1 },
          { idle: 32_767_000, interval: 32_767_000, count: 64, userTimeout: 2 ** 31 - 1 },
          { enabled: false, idle: 7000, interval: 3000, count: 9, userTimeout: 123_457 },
        ];
        for (let i = 0; i < 40; i++) {
          cases.push({
            idle: 1000 + Math.floor(Math.random() * 32_766_000),
            interval: 1000 + Math.floor(Math.random() * 1_000_000),
            count: 1 + Math.floor(Math.random() * 127),
            userTimeout: Math.floor(Math.random() * 2 ** 31),
          });
        }
        for (const options of cases) {
          const returned = setKeepAlive(native.socket as NativeConnection, options);
          const fresh = getKeepAlive(native.socket as NativeConnection); // every value read
          assert.deepEqual(returned, fresh, JSON.stringify(options));
          assert.equal(returned.idle, Math.ceil(options.idle! / 1000) * 1000);
          assert.equal(returned.userTimeout, options.userTimeout);
        }
      } finally {
        native.close();
      }
    });
  },
  opts,
);

test(
  "loopback (Linux): setting the other four leaves the user timeout as it was, so the check's read of it is the read-back",
  async () => {
    if (process.platform !== "linux") return;
    await withServer(async (port) => {
      const native = await nativeConnect(port);
      try {
        const socket = native.socket as NativeConnection;
        // The verification reads TCP_USER_TIMEOUT before anything is set, and setKeepAlive
        // returns that value when the caller does not set it: true only if none of the other
        // options moves it. Each value is checked against a read made after the sets.
        for (const userTimeout of [0, 1, 4000, 123_457, 2 ** 31 - 1]) {
          setKeepAlive(socket, { userTimeout });
          for (const enabled of [true, false]) {
            const returned = setKeepAlive(socket, {
              enabled,
              idle: 1000 + Math.floor(Math.random() * 1_000_000),
              interval: 1000 + Math.floor(Math.random() * 1_000_000),
              count: 1 + Math.floor(Math.random() * 127),
            });
            assert.equal(returned.userTimeout, userTimeout);
            assert.equal(getKeepAlive(socket).userTimeout, userTimeout, "read after the sets");
          }
        }
      } finally {
        native.close();
      }
    });
  },
  opts,
);

test(
  "loopback: a read() consumer that stops reading is still watched: later bytes wait, a reset is seen",
  async () => {
    await withPeer(async (peer, port) => {
      const conn = await openTo(peer, { port });
      await command(peer, `send ${256 * 1024}`);
      const buffer = new Uint8Array(4096);
      for (let total = 0; total < 256 * 1024;) {
        const n = await conn.read(buffer);
        assert.ok(n !== null);
        total += n;
      }
      // Nobody reads from here on: only the watch can notice what comes next.
      await sleep(50);
      await command(peer, "send 3000");
      await sleep(100);
      await command(peer, "reset");
      const info = await Promise.race([conn.closed, sleep(3000).then(() => undefined)]);
      assert.equal(info?.code, "ECONNRESET", "the reset was not noticed without a read pending");
      let late = 0;
      for (;;) {
        try {
          const n = await conn.read(buffer);
          if (n === null) break;
          late += n;
        } catch (error) {
          assert.equal((error as ConnectionClosedError).code, "ECONNRESET");
          break;
        }
      }
      assert.equal(late, 3000, "the bytes sent before the reset were kept for read()");
    });
  },
  opts,
);

test(
  "loopback: a waiting read() gets null at FIN and rejects at RST; read() and readable exclude each other",
  async () => {
    await withPeer(async (peer, port) => {
      const conn = connect({ port });
      await assert.rejects(conn.read("not bytes" as never), TypeError);
      const waiting = conn.read(new Uint8Array(100)); // before open: waits for it
      await assert.rejects(conn.read(new Uint8Array(100)), TypeError, "one read at a time");
      assert.throws(() => conn.readable, TypeError);
      await conn.opened;
      await peer.waitFor(/^ACCEPTED/);
      await command(peer, "close");
      assert.equal(await waiting, null);
    });
    await withPeer(async (peer, port) => {
      const conn = await openTo(peer, { port });
      const rejected = assert.rejects(
        conn.read(new Uint8Array(100)),
        (e: unknown) => e instanceof ConnectionClosedError && e.code === "ECONNRESET",
      );
      await command(peer, "reset");
      await rejected;
      await assert.rejects(conn.read(new Uint8Array(100)), ConnectionClosedError, "and after");
    });
    await withPeer(async (_peer, port) => {
      const conn = connect({ port });
      void conn.readable;
      await assert.rejects(conn.read(new Uint8Array(10)), TypeError);
      await conn.close();
    });
  },
  opts,
);

test(
  "loopback: for await gets bytes queued in the stream first, then the rest, the stream locked",
  async () => {
    await withPeer(async (peer, port) => {
      const conn = await openTo(peer, { port });
      const readable = conn.readable; // made now: what arrives is queued in the stream
      await command(peer, "send 100000");
      while (conn.bytesRead < 100000) await sleep(10);
      await command(peer, `send ${1 << 20}`);
      await command(peer, "close");
      const chunks: Uint8Array[] = [];
      for await (const chunk of readable) {
        assert.equal(readable.locked, true);
        assert.throws(() => readable.getReader(), TypeError);
        chunks.push(chunk);
      }
      const all = concat(chunks);
      assert.equal(all.byteLength, 100000 + (1 << 20));
      // Each send is its own run of the pattern.
      assert.ok(isPattern(all.subarray(0, 100000)), "the queued bytes come first, intact");
      assert.ok(isPattern(all.subarray(100000)), "then the rest, intact and in order");
      assert.equal(readable.locked, false, "the lock is released at the end");
      assert.equal((await readable.getReader().read()).done, true, "and the stream is closed");
      assert.equal((await conn.closed).by, "peer");
    });
  },
  opts,
);

test(
  "loopback: leaving for await cancels readable (connection still monitored); preventCancel keeps the rest",
  async () => {
    await withPeer(async (peer, port) => {
      const conn = await openTo(peer, { port });
      // The loop waits on an empty stream first, so chunks reach a waiting read as they arrive.
      const loop = (async () => {
        for await (const chunk of conn.readable) {
          assert.ok(chunk.byteLength > 0);
          break;
        }
      })();
      await sleep(50);
      await command(peer, "send 200000");
      await loop;
      assert.equal(conn.readable.locked, false);
      assert.equal((await conn.readable.getReader().read()).done, true, "cancelled");
      assert.equal(conn.state, "open");
      await command(peer, "reset");
      assert.equal((await conn.closed).code, "ECONNRESET", "a break is still noticed");
    });
    await withPeer(async (peer, port) => {
      const conn = await openTo(peer, { port });
      let first = 0;
      const loop = (async () => {
        for await (const chunk of conn.readable.values({ preventCancel: true })) {
          first = chunk.byteLength;
          // Let the rest arrive, so it is queued when the loop is left.
          while (conn.bytesRead < 200000) await sleep(10);
          break;
        }
      })();
      await sleep(50);
      await command(peer, "send 200000");
      await loop;
      await command(peer, "close");
      const rest = await readAll(conn.readable);
      assert.ok(first > 0);
      assert.equal(first + rest.byteLength, 200000, "nothing lost, nothing twice");
      assert.ok(
        rest.every((byte, i) => byte === (first + i) % 251),
        "the rest starts where the loop stopped, intact",
      );
      assert.equal((await conn.closed).by, "peer");
    });
  },
  opts,
);

test(
  "loopback: for await after a reset gets every byte before it, then ECONNRESET; readable errors",
  async () => {
    await withPeer(async (peer, port) => {
      const conn = await openTo(peer, { port });
      const readable = conn.readable;
      let total = 0;
      const loop = (async () => {
        for await (const chunk of readable) {
          if (total === 0) {
            // Hold the first chunk until every byte is in and the peer has reset: the rest
            // is queued, and must still come before the error.
            while (conn.bytesRead < 300000) await sleep(10);
            await command(peer, "reset");
            await conn.closed;
          }
          total += chunk.byteLength;
        }
      })();
      await sleep(50);
      await command(peer, "send 300000");
      await assert.rejects(
        loop,
        (e: unknown) => e instanceof ConnectionClosedError && e.code === "ECONNRESET",
      );
      assert.equal(total, 300000);
      assert.equal(readable.locked, false);
      await assert.rejects(readable.getReader().read(), ConnectionClosedError, "errored");
    });
  },
  opts,
);

test("loopback: next() called again before the first settles waits its turn", async () => {
  await withPeer(async (peer, port) => {
    const conn = await openTo(peer, { port });
    const iterator = conn.readable[Symbol.asyncIterator]();
    const first = iterator.next();
    const second = iterator.next();
    await command(peer, "send 1000");
    const a = await first;
    assert.equal(a.done, false);
    await command(peer, "send 1000");
    await command(peer, "close");
    const b = await second;
    assert.equal(b.done, false);
    let total = a.value!.byteLength + b.value!.byteLength;
    for (let r = await iterator.next(); !r.done; r = await iterator.next()) {
      total += r.value.byteLength;
    }
    assert.equal(total, 2000, "each byte once, none lost");
    assert.equal((await conn.closed).by, "peer");
  });
}, opts);

test("loopback: nothing listening: opened rejects, broken ECONNREFUSED", async () => {
  // Find a port nobody listens on: listen, note it, close.
  const { peer, port } = await startPeer();
  await peer.kill();
  const conn = connect({ port });
  const seen = record(conn);
  await assert.rejects(
    conn.opened,
    (e: unknown) => (e as { code?: string }).code === "ECONNREFUSED",
  );
  const info: CloseInfo = await conn.closed;
  assert.equal(info.state, "broken");
  assert.equal(info.code, "ECONNREFUSED");
  assert.equal("openForMs" in info, false);
  assert.deepEqual(seen, ["connecting->broken"]);
}, opts);

test("loopback: local close -> closed-gracefully by local; the peer sees FIN", async () => {
  await withPeer(async (peer, port) => {
    const conn = await openTo(peer, { port });
    await conn.write(new TextEncoder().encode("bye"));
    const info = await conn.close();
    assert.equal(info.state, "closed-gracefully");
    assert.equal(info.by, "local");
    assert.equal(conn.state, "closed-gracefully");
    assert.deepEqual(await conn.close(), info, "closing again returns the same outcome");
    await assert.rejects(
      conn.write(new Uint8Array(1)),
      (e: unknown) => e instanceof ConnectionClosedError && e.code === "ERR_CONNECTION_CLOSED",
    );
    assert.throws(() => conn.getKeepAlive(), ConnectionClosedError);
  });
}, opts);

test("loopback: close while connecting -> closed-gracefully by local, opened rejects", async () => {
  await withPeer(async (_peer, port) => {
    const conn = connect({ port });
    const seen = record(conn);
    const info = await conn.close();
    assert.equal(info.state, "closed-gracefully");
    assert.equal(info.by, "local");
    await assert.rejects(conn.opened, ConnectionClosedError);
    assert.deepEqual(seen, ["connecting->closed-gracefully"]);
  });
}, opts);

test("loopback: a consumer that never reads cannot hide the end; nothing is lost", async () => {
  await withPeer(async (peer, port) => {
    const conn = await openTo(peer, { port, maxBufferedBytes: 1024 });
    await command(peer, "send 4096");
    // Reads start small and grow, so the pause comes somewhere past the 1 KiB limit.
    await sleep(300);
    const taken = conn.bytesRead;
    assert.ok(taken >= 1024 && taken <= 4096, `took ${taken} bytes, then paused`);
    // Over the limit: sockalive takes nothing more, so these and the FIN wait in the kernel.
    await command(peer, "send 40000");
    await sleep(300);
    assert.equal(conn.bytesRead, taken, "paused: nothing more was taken from the kernel");
    // The FIN lands behind the unread bytes; sockalive notices it without a read and drains.
    await command(peer, "close");
    const info = await conn.closed; // settles although nobody has read a byte
    assert.equal(info.state, "closed-gracefully");
    assert.equal(info.by, "peer");
    const bytes = await readAll(conn.readable);
    assert.equal(bytes.byteLength, 44096);
    assert.ok(isPattern(bytes.subarray(0, 4096)) && isPattern(bytes.subarray(4096)));
  });
}, opts);

test("loopback: a reset while the consumer is not reading is still reported", async () => {
  await withPeer(async (peer, port) => {
    const conn = await openTo(peer, { port, maxBufferedBytes: 16 * 1024 });
    await command(peer, `send ${256 * 1024}`);
    await command(peer, "reset");
    const info = await conn.closed;
    assert.equal(info.state, "broken");
    assert.equal(info.code, "ECONNRESET");
  });
}, opts);

test("loopback: bad options are refused before any socket is touched", async () => {
  await withPeer(async (peer, port) => {
    assert.throws(() => connect({ port, keepAlive: { count: 0 } }), RangeError);
    assert.throws(() => connect({ port, keepAlive: { idle: "1s" as never } }), TypeError);
    assert.throws(() => connect({ port: 70000 }), RangeError);
    assert.throws(() => connect({ port, maxBufferedBytes: null as never }), TypeError);
    const native = await nativeConnect(port);
    await peer.waitFor(/^ACCEPTED/);
    const socket = native.socket as NativeConnection;
    const before = getKeepAlive(socket);
    assert.throws(() => setKeepAlive(socket, { idle: 1000, count: 500 }), RangeError);
    assert.deepEqual(getKeepAlive(socket), before, "nothing was set, not even idle");
    native.close();
    await sleep(20);
    // Closed: the library refuses to touch any descriptor rather than guess.
    assert.throws(
      () => setKeepAlive(socket, { idle: 1000 }),
      (e: unknown) => e instanceof SocketOptionError && e.code === "ERR_SOCKET_NOT_FOUND",
    );
    // Validation still comes first.
    assert.throws(() => setKeepAlive(socket, { idle: -1 }), RangeError);
    assert.throws(() => getKeepAlive({} as never), TypeError);
  });
}, opts);

test("loopback: a descriptor that does not carry the connection is never touched", async () => {
  await withPeer(async (peer, port) => {
    const victim = await nativeConnect(port);
    await peer.waitFor(/^ACCEPTED/);
    const victimSocket = victim.socket as NativeConnection;
    const before = getKeepAlive(victimSocket);
    // A socket-like object whose addresses belong to no connection; in Bun it also names the
    // victim's descriptor, in Deno every open descriptor is a candidate.
    const victimFd = isBun ? (victim.socket as { fd: number }).fd : -1;
    const forged = isBun
      ? {
        fd: victimFd,
        localAddress: "127.0.0.1",
        localPort: 1,
        remoteAddress: "127.0.0.1",
        remotePort: port,
      }
      : {
        localAddr: { transport: "tcp", hostname: "127.0.0.1", port: 1 },
        remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port },
      };
    assert.throws(
      () => setKeepAlive(forged as never, { idle: 1000, count: 1 }),
      (e: unknown) => e instanceof SocketOptionError && e.code === "ERR_SOCKET_NOT_FOUND",
    );
    assert.deepEqual(getKeepAlive(victimSocket), before);
    victim.close();
  });
}, opts);

test(
  "keepAlive: false needs no FFI (Deno: no --allow-ffi); listen() with keepalive throws before binding",
  async () => {
    // Deno gets --allow-net only; Bun always has its FFI, and must behave the same where it can.
    const argv = isBun
      ? [process.execPath, fixture("keepalive_off.ts")]
      : [Deno.execPath(), "run", "--allow-net", "--no-prompt", fixture("keepalive_off.ts")];
    const p = new Proc(argv);
    assert.equal(await p.exited(), 0, p.stderr);
    const steps = Object.fromEntries(p.lines.map((line) => {
      const { step, ...result } = JSON.parse(line);
      return [step, result];
    }));
    const ffi = isBun ? "ok" : "ERR_FFI_PERMISSION";
    assert.deepEqual(steps["connect-fin"], {
      // Without the FFI nothing is read back; with it, the kernel's "off".
      keepAlive: isBun ? false : "undefined",
      health: ffi,
      set: ffi,
      got: "hello",
      end: "end",
      state: "closed-gracefully",
      by: "peer",
    });
    assert.deepEqual(steps["connect-reset"], {
      got: "hello",
      end: "ECONNRESET",
      state: "broken",
      code: "ECONNRESET",
    });
    assert.deepEqual(steps["listen"], {
      got: "ping",
      end: "end",
      state: "closed-gracefully",
      by: "peer",
    });
    assert.deepEqual(steps["reconnecting"], { got: "hello", reason: "close" });
    const listened = steps["listen-keepalive"];
    if (isBun) assert.deepEqual(listened, { thrown: "ok", bound: "bound" });
    else {
      assert.match(listened.thrown, /^ERR_FFI_PERMISSION: .*--allow-ffi/);
      assert.equal(listened.bound, "bound", "listen() that threw left the port free");
    }
  },
  opts,
);

if (!isBun) {
  test("deno: without --allow-ffi the error names the missing flag", async () => {
    await withPeer(async (_peer, port) => {
      const p = new Proc([
        Deno.execPath(),
        "run",
        "--allow-net",
        fixture("no_ffi.ts"),
        String(port),
      ]);
      await p.exited();
      const out = p.lines.join("\n");
      assert.match(out, /ERR_FFI_PERMISSION/);
      assert.match(out, /--allow-ffi/);
      assert.match(out, /state broken/);
    });
  }, opts);

  test("deno: a narrowed --allow-ffi=PATH works; a wrong one names the path to allow", async () => {
    // The path this system's C library is at, as the README tells users to allow it.
    const { library } = systemFor(Deno.build.os);
    const paths = library.fullPaths.filter((p) =>
      p.arch === undefined || p.arch === Deno.build.arch
    )
      .map((p) => p.path);
    const real = paths.find((path) => {
      try {
        return Deno.statSync(path).isFile;
      } catch {
        return false;
      }
    }) ?? paths[0]!;
    const run = async (allowFfi: string) => {
      const p = new Proc([
        Deno.execPath(),
        "run",
        "--no-prompt",
        "--allow-net",
        `--allow-ffi=${allowFfi}`,
        fixture("narrowed_ffi.ts"),
      ]);
      assert.equal(await p.exited(), 0, p.stderr);
      return JSON.parse(p.lines.at(-1)!);
    };
    const parent = real.slice(0, real.lastIndexOf("/"));
    for (const allowFfi of [real, parent]) {
      const result = await run(allowFfi);
      assert.deepEqual(
        [result.code, result.keepAlive?.idle, result.keepAlive?.count],
        [undefined, 2000, 3],
        `--allow-ffi=${allowFfi}: ${result.message}`,
      );
    }
    for (const allowFfi of ["/nonexistent/" + library.path, library.path]) {
      const result = await run(allowFfi);
      assert.equal(result.code, "ERR_FFI_PERMISSION", `--allow-ffi=${allowFfi}`);
      assert.ok(
        result.message.includes(`run Deno with --allow-ffi=${real} (or --allow-ffi, or -A)`),
        result.message,
      );
    }
  }, { sanitize: false, timeout: 30_000 });

  test(
    "deno (Linux): a watched connection closed leaves no epoll set holding it; new ones are watched, and report",
    async () => {
      if (Deno.build.os !== "linux") return;
      await withServer(async (port, server) => {
        const keepAlive = { idle: 60_000, interval: 1000, count: 3 };
        const a = connect({ port, keepAlive });
        await a.opened;
        const fd = descriptorOf(a.localAddr!.port, port)!;
        // Deno's reactor holds it in its epoll set(s), the shared wait in one more.
        const watched = epollSetsHolding(fd);
        assert.ok(watched >= 2, `held by ${watched} epoll sets`);
        await a.close();
        assert.equal(epollSetsHolding(fd), 0, "closing it took it out of every set");
        // New sockets take the lowest free numbers (often this one): each is watched as before.
        for (let i = 0; i < 10; i++) {
          const b = connect({ port, keepAlive });
          await b.opened;
          const fdB = descriptorOf(b.localAddr!.port, port)!;
          assert.equal(epollSetsHolding(fdB), watched, `round ${i}: in the shared wait`);
          await b.close();
          assert.equal(epollSetsHolding(fdB), 0, `round ${i}: out of every set`);
        }
        // And the wait still reports: the peer's FIN ends an idle connection at once.
        const c = connect({ port, keepAlive });
        await c.opened;
        server.endAll();
        const info = await c.closed;
        assert.deepEqual([info.state, info.by], ["closed-gracefully", "peer"]);
      });
    },
    opts,
  );

  test(
    "deno (Linux): an idle connection is watched, not read; bytes, replies, FIN, then unwatched",
    async () => {
      await withPeer(async (peer, port) => {
        const before = watchedConnections();
        const conn = await openTo(peer, { port });
        // One epoll watch per connection instead of one pending read (see src/readiness.ts).
        assert.equal(watchedConnections(), before + (Deno.build.os === "linux" ? 1 : 0));
        // Request/response rounds: each reply arrives after the watch was armed again.
        const reader = conn.readable.getReader();
        for (let round = 0; round < 20; round++) {
          await command(peer, "send 100");
          let got = 0;
          while (got < 100) got += (await reader.read()).value!.byteLength;
          assert.equal(got, 100);
        }
        await command(peer, `send ${1 << 20}`);
        await command(peer, "close");
        let rest = 0;
        for (let r = await reader.read(); !r.done; r = await reader.read()) {
          rest += r.value.byteLength;
        }
        assert.equal(rest, 1 << 20);
        const info = await conn.closed;
        assert.deepEqual([info.state, info.by], ["closed-gracefully", "peer"]);
        assert.equal(watchedConnections(), before, "unwatched once closed");
      });
    },
    opts,
  );

  test(
    "deno: the pending-read way (macOS, Windows, or if the monitor fails) ends the same",
    async () => {
      useReadinessMonitor(false);
      try {
        await withPeer(async (peer, port) => {
          const before = watchedConnections();
          const conn = await openTo(peer, { port, maxBufferedBytes: 1024 });
          assert.equal(watchedConnections(), before, "not watched: a read is pending instead");
          await command(peer, "send 40000");
          await command(peer, "close");
          const info = await conn.closed; // noticed although nobody reads (see "never reads")
          assert.deepEqual([info.state, info.by], ["closed-gracefully", "peer"]);
          const bytes = await readAll(conn.readable);
          assert.equal(bytes.byteLength, 40000);
          assert.ok(isPattern(bytes));
        });
        await withPeer(async (peer, port) => {
          const conn = await openTo(peer, { port });
          await command(peer, "reset");
          const info = await conn.closed;
          assert.deepEqual([info.state, info.code], ["broken", "ECONNRESET"]);
        });
      } finally {
        useReadinessMonitor(true);
      }
    },
    opts,
  );

  test(
    "deno: turning the monitor off affects new connections only; a watched one still ends cleanly",
    async () => {
      await withPeer(async (peer, port) => {
        const before = watchedConnections();
        const watched = await openTo(peer, { port });
        assert.equal(watchedConnections(), before + (Deno.build.os === "linux" ? 1 : 0));
        useReadinessMonitor(false);
        try {
          await command(peer, "send 100");
          const buffer = new Uint8Array(100);
          let got = 0;
          while (got < 100) got += (await watched.read(buffer.subarray(got)))!;
          assert.ok(isPattern(buffer), "still read through the monitor");
          await watched.close();
          assert.equal(watchedConnections(), before, "unwatched although the monitor is off now");
        } finally {
          useReadinessMonitor(true);
        }
      });
    },
    opts,
  );

  test("deno: importing the module and running the state machine needs no permission", async () => {
    const p = new Proc([Deno.execPath(), "run", "--no-prompt", fixture("no_permissions.ts")]);
    assert.equal(await p.exited(), 0, p.stderr);
    assert.deepEqual(p.lines, ["connecting->open", "open->broken ETIMEDOUT", "4000"]);
  }, opts);
}

test("loopback: a listener that throws cannot wedge the connection", async () => {
  await withPeer(async (peer, port) => {
    const errors: unknown[] = [];
    const conn = connect({ port, onListenerError: (e) => errors.push(e) });
    const seen = record(conn);
    conn.addEventListener("statechange", () => {
      throw new Error("listener bug");
    });
    await conn.opened;
    await peer.waitFor(/^ACCEPTED/);
    await command(peer, "close");
    const info = await conn.closed;
    assert.equal(info.state, "closed-gracefully");
    assert.deepEqual(seen, ["connecting->open", "open->closed-gracefully"]);
    assert.equal(errors.length, 2);
  });
}, opts);

if (isBun) {
  test(
    "bun: a write that finds the socket closed fails with the close event's reason, and its fallback timer holds nothing",
    async () => {
      // Bun can close a socket (write() returns -1) before its close event, which carries the
      // reason, has run. Made to happen here: the socket sockalive gets says -1 when asked to write.
      const bun = (globalThis as unknown as { Bun: { connect(o: unknown): Promise<object> } }).Bun;
      const realConnect = bun.connect;
      let refuse = false;
      bun.connect = async (options: unknown) => {
        const socket = await realConnect.call(bun, options);
        return new Proxy(socket, {
          get(target, key) {
            if (key === "write" && refuse) return () => -1;
            const value = Reflect.get(target, key);
            return typeof value === "function" ? value.bind(target) : value;
          },
        });
      };
      const realSetTimeout = globalThis.setTimeout;
      try {
        await withPeer(async (peer, port) => {
          const conn = connect({ port });
          await conn.opened;
          await peer.waitFor(/^ACCEPTED/);
          const armed: Array<{ hasRef(): boolean }> = [];
          globalThis.setTimeout = ((...args: Parameters<typeof setTimeout>) => {
            const timer = realSetTimeout(...args);
            armed.push(timer as unknown as { hasRef(): boolean });
            return timer;
          }) as typeof setTimeout;
          refuse = true;
          const writing = conn.write(new Uint8Array(16));
          globalThis.setTimeout = realSetTimeout;
          // The write waits for the close event; the timer that fails it if none ever comes must
          // not keep a program that has finished running for another second.
          assert.equal(armed.length, 1);
          assert.equal(armed[0].hasRef(), false);
          assert.equal(conn.state, "open");
          await command(peer, "reset");
          await assert.rejects(
            writing,
            (e: unknown) => e instanceof ConnectionClosedError && e.code === "ECONNRESET",
          );
          const info = await conn.closed;
          assert.equal(info.state, "broken");
          assert.equal(info.code, "ECONNRESET");
        });
      } finally {
        globalThis.setTimeout = realSetTimeout;
        bun.connect = realConnect;
      }
    },
    opts,
  );
}

test(
  "loopback: bytesWritten counts what the kernel took, while a 64 MiB write is in flight and after the peer resets midway",
  async () => {
    const size = 64 << 20;
    const littleBytes = 1 << 20;
    // The first connection's peer reads everything; the second's reads a little, then stops.
    const accepted: net.Socket[] = [];
    let received = 0;
    let readALittle!: () => void;
    const aLittle = new Promise<void>((resolve) => (readALittle = resolve));
    const server = net.createServer((s) => {
      const readsAll = accepted.push(s) === 1;
      s.on("error", () => {});
      s.on("data", (chunk: Uint8Array) => {
        if (readsAll) return;
        received += chunk.byteLength;
        if (received < littleBytes) return;
        s.pause();
        readALittle();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const whole = connect({ port });
      await whole.opened;
      await whole.write(new Uint8Array(size));
      assert.equal(whole.bytesWritten, size, "a write that completed counts all of it");
      await whole.close();

      const conn = connect({ port });
      await conn.opened;
      const writing = conn.write(new Uint8Array(size));
      let settled = false;
      writing.then(() => (settled = true), () => (settled = true));
      await aLittle;
      await sleep(50); // the peer has stopped reading: the kernel's buffers fill, then stay full
      assert.equal(settled, false, "the write is still in flight");
      const during = conn.bytesWritten;
      assert.ok(
        during >= received && during < size,
        `in flight: ${during} bytes counted, the peer has read ${received}, of ${size}`,
      );
      accepted[1].resetAndDestroy();
      await assert.rejects(
        writing,
        (e: unknown) =>
          e instanceof ConnectionClosedError && (e.code === "ECONNRESET" || e.code === "EPIPE"),
      );
      const info = await conn.closed;
      assert.equal(info.state, "broken");
      const after = conn.bytesWritten;
      assert.ok(
        after > 0 && after >= during && after <= size,
        `after the reset: ${after} bytes counted (${during} while in flight), of ${size}`,
      );
    } finally {
      for (const s of accepted) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  },
  opts,
);

if (isBun) {
  test(
    "bun: a node:net socket still connecting is reported as not connected yet, not as closed",
    async () => {
      await withServer(async (port) => {
        const notYet = (e: unknown) =>
          e instanceof SocketOptionError && e.code === "ERR_SOCKET_NOT_CONNECTED" &&
          e.message ===
            "Cannot find the socket: it is not connected yet; call this from the 'connect' event";
        const closed = (e: unknown) =>
          e instanceof SocketOptionError && e.code === "ERR_SOCKET_NOT_FOUND" &&
          /it is closed/.test(e.message);
        const socket = net.connect({ host: "127.0.0.1", port });
        socket.on("error", () => {});
        try {
          assert.equal(socket.connecting, true);
          assert.throws(() => getKeepAlive(socket as never), notYet);
          assert.throws(() => setKeepAlive(socket as never, { idle: 1000 }), notYet);
          // Nor is a socket that was never asked to connect.
          assert.throws(() => getKeepAlive(new net.Socket() as never), notYet);
          await new Promise((resolve) => socket.once("connect", resolve));
          assert.equal(setKeepAlive(socket as never, { idle: 3000 }).idle, 3000);
          socket.destroy();
          await new Promise((resolve) => socket.once("close", resolve));
          assert.throws(() => getKeepAlive(socket as never), closed);
        } finally {
          socket.destroy();
        }
      });
    },
    opts,
  );
}

// Keep the fixture path helper referenced in both runtimes.
void runtimeCommand;
