/**
 * The fault matrix (issue 5, part 1), run in whichever runtime runs the tests (Deno and Bun).
 * Each case asserts the terminal state, `by`/`code`, that the end is reported exactly once, and
 * the bytes delivered through `readable`.
 *
 * Cases a loopback peer can produce run in this process against the python peer on 127.0.0.1;
 * cases that need a network that can fail (pulled cable, vanished host, unreachable address) run
 * a client process (tests/fixtures/matrix_client.ts) in a network namespace (tools/netns.ts,
 * 198.18.0.0/15 only), skipped without root, failing under CI=true.
 *
 * Each case prints one "MATRIX | case | runtime | state | by | code | bytes" line.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import net from "node:net";
import {
  command,
  concat,
  fixture,
  isBun,
  isPattern,
  netnsTestOptions,
  Proc,
  runtimeCommand,
  sleep,
  startPeer,
  test,
  withPeer,
} from "./harness.ts";
import { SERVER_IP, TestNet } from "../tools/netns.ts";
import {
  type CloseInfo,
  connect,
  ConnectionClosedError,
  type LiveConnection,
  type StateChangeEvent,
} from "../mod.ts";

const RUNTIME = isBun ? "Bun" : "Deno";
/** An address in the client's /24 of the test net that nobody has: ARP goes unanswered. */
const UNREACHABLE_IP = "198.18.0.3";

// Child processes (the python peer) are spawned in these tests.
const opts = { sanitize: false, timeout: 20_000 };

function report(name: string, info: { state: string; by?: string; code?: string }, bytes: number) {
  console.log(
    `MATRIX | ${name} | ${RUNTIME} | ${info.state} | ${info.by ?? "-"} | ${
      info.code ?? "-"
    } | ${bytes}`,
  );
}

/** Every statechange event, as "from->to". */
function record(conn: LiveConnection): string[] {
  const seen: string[] = [];
  conn.addEventListener("statechange", (e: StateChangeEvent) => seen.push(`${e.from}->${e.to}`));
  return seen;
}

/** Reads `readable` to its end: the bytes delivered, and the error it ended with, if any. */
async function drain(
  readable: ReadableStream<Uint8Array>,
): Promise<{ bytes: Uint8Array; error?: unknown }> {
  const chunks: Uint8Array[] = [];
  let error: unknown;
  try {
    for await (const chunk of readable) chunks.push(chunk);
  } catch (e) {
    error = e;
  }
  return { bytes: concat(chunks), error };
}

/** Waits until the connection has taken `n` bytes from the kernel (bounded by the test timeout). */
async function untilRead(conn: LiveConnection, n: number): Promise<void> {
  while (conn.bytesRead < n) await sleep(5);
}

/** After `closed` settles, waits a little and checks the end was reported exactly once. */
async function settledOnce(conn: LiveConnection, seen: string[]): Promise<CloseInfo> {
  const info = await conn.closed;
  await sleep(200);
  const terminal = seen.filter((s) => /->(closed-gracefully|broken)$/.test(s));
  assert.equal(terminal.length, 1, `terminal state reported once, saw ${seen.join(", ")}`);
  assert.equal(conn.state, info.state);
  assert.strictEqual(await conn.closed, info, "closed settles once, with one outcome");
  return info;
}

// ---------------------------------------------------------------------------------------------
// Loopback cases, in this process.

test("matrix: peer FIN -> closed-gracefully by peer, every byte delivered", async () => {
  await withPeer(async (peer, port) => {
    const conn = connect({ port });
    const seen = record(conn);
    await conn.opened;
    await peer.waitFor(/^ACCEPTED/);
    await command(peer, "send 1000");
    await command(peer, "close");
    const { bytes, error } = await drain(conn.readable);
    const info = await settledOnce(conn, seen);
    assert.equal(error, undefined);
    assert.equal(info.state, "closed-gracefully");
    assert.equal(info.by, "peer");
    assert.equal(info.code, undefined);
    assert.equal(bytes.byteLength, 1000);
    assert.ok(isPattern(bytes));
    assert.deepEqual(seen, ["connecting->open", "open->closed-gracefully"]);
    report("peer FIN", info, bytes.byteLength);
  });
}, opts);

test(
  "matrix: peer FIN with data unread by us -> closed-gracefully by peer, then all the data",
  async () => {
    await withPeer(async (peer, port) => {
      const conn = connect({ port });
      const seen = record(conn);
      await conn.opened;
      await peer.waitFor(/^ACCEPTED/);
      await command(peer, "send 200000");
      await command(peer, "close");
      // Nobody reads until the outcome is known.
      const info = await settledOnce(conn, seen);
      assert.equal(info.state, "closed-gracefully");
      assert.equal(info.by, "peer");
      const { bytes, error } = await drain(conn.readable);
      assert.equal(error, undefined);
      assert.equal(bytes.byteLength, 200000);
      assert.ok(isPattern(bytes));
      assert.equal(conn.bytesRead, 200000);
      report("peer FIN, data unread by us", info, bytes.byteLength);
    });
  },
  opts,
);

test("matrix: peer RST (SO_LINGER 0) -> broken ECONNRESET after the bytes before it", async () => {
  await withPeer(async (peer, port) => {
    const conn = connect({ port });
    const seen = record(conn);
    await conn.opened;
    await peer.waitFor(/^ACCEPTED/);
    await command(peer, "send 5000");
    await untilRead(conn, 5000);
    await command(peer, "reset");
    const info = await settledOnce(conn, seen);
    assert.equal(info.state, "broken");
    assert.equal(info.code, "ECONNRESET");
    assert.equal(info.by, undefined);
    const { bytes, error } = await drain(conn.readable);
    assert.equal(bytes.byteLength, 5000);
    assert.ok(isPattern(bytes));
    assert.ok(error instanceof ConnectionClosedError && error.code === "ECONNRESET");
    assert.deepEqual(seen, ["connecting->open", "open->broken"]);
    report("peer RST (SO_LINGER 0)", info, bytes.byteLength);
  });
}, opts);

test("matrix: peer killed (SIGKILL) with our data unread -> broken ECONNRESET", async () => {
  await withPeer(async (peer, port) => {
    const conn = connect({ port });
    const seen = record(conn);
    await conn.opened;
    await peer.waitFor(/^ACCEPTED/);
    await command(peer, "send 5000");
    await untilRead(conn, 5000);
    // The peer never reads this: its kernel holds unread data when the process dies, so it
    // answers the close with RST rather than FIN.
    await conn.write(new Uint8Array(1000));
    await sleep(50);
    await peer.kill();
    const info = await settledOnce(conn, seen);
    assert.equal(info.state, "broken");
    assert.equal(info.code, "ECONNRESET");
    const { bytes, error } = await drain(conn.readable);
    assert.equal(bytes.byteLength, 5000);
    assert.ok(isPattern(bytes));
    assert.ok(error instanceof ConnectionClosedError && error.code === "ECONNRESET");
    assert.deepEqual(seen, ["connecting->open", "open->broken"]);
    report("peer SIGKILL, our data unread", info, bytes.byteLength);
  });
}, opts);

test(
  "matrix: connection refused -> broken ECONNREFUSED, opened rejects, nothing delivered",
  async () => {
    const { peer, port } = await startPeer();
    await peer.kill(); // nobody listens on this port now
    const conn = connect({ port });
    const seen = record(conn);
    await assert.rejects(
      conn.opened,
      (e: unknown) => (e as { code?: string }).code === "ECONNREFUSED",
    );
    const info = await settledOnce(conn, seen);
    assert.equal(info.state, "broken");
    assert.equal(info.code, "ECONNREFUSED");
    assert.equal(info.openForMs, undefined);
    const { bytes, error } = await drain(conn.readable);
    assert.equal(bytes.byteLength, 0);
    assert.ok(error instanceof ConnectionClosedError && error.code === "ECONNREFUSED");
    assert.deepEqual(seen, ["connecting->broken"]);
    report("connection refused", info, 0);
  },
  opts,
);

test(
  "matrix: local close with a write pending -> closed-gracefully by local, the write rejects",
  async () => {
    await withPeer(async (peer, port) => {
      const conn = connect({ port });
      const seen = record(conn);
      await conn.opened;
      await peer.waitFor(/^ACCEPTED/);
      // The peer does not read: 32 MiB cannot all reach the kernel, so the write stays pending.
      const size = 32 << 20;
      const pending = conn.write(new Uint8Array(size));
      let settled = false;
      pending.then(() => (settled = true), () => (settled = true));
      await sleep(300);
      assert.equal(settled, false, "the write is still pending");
      const info = await conn.close();
      await assert.rejects(
        pending,
        (e: unknown) => e instanceof ConnectionClosedError && e.code === "ERR_CONNECTION_CLOSED",
      );
      assert.equal(await settledOnce(conn, seen), info);
      assert.equal(info.state, "closed-gracefully");
      assert.equal(info.by, "local");
      // Counted as the kernel took it: the part of the write that went out before the close.
      const written = conn.bytesWritten;
      assert.ok(written > 0 && written < size, `${written} of ${size} bytes counted`);
      // What the kernel already held is still delivered, then FIN (not RST).
      await command(peer, "read");
      const end = await peer.waitFor(/^(EOF|RESET) /);
      const [kind, got] = end.split(" ");
      assert.equal(kind, "EOF");
      assert.equal(Number(got), written, "the peer received exactly what was counted");
      const { bytes, error } = await drain(conn.readable);
      assert.equal(bytes.byteLength, 0);
      assert.equal(error, undefined);
      assert.deepEqual(seen, ["connecting->open", "open->closed-gracefully"]);
      console.log(
        `local close with a write pending: the peer received ${got} of ${size} bytes, then FIN`,
      );
      report("local close with a write pending", info, 0);
    });
  },
  opts,
);

test("matrix: half-close by the peer (it shuts its write side, keeps reading)", async () => {
  await withPeer(async (peer, port) => {
    const conn = connect({ port });
    const seen = record(conn);
    await conn.opened;
    await peer.waitFor(/^ACCEPTED/);
    await command(peer, "read");
    await conn.write(new Uint8Array(100));
    await command(peer, "send 700");
    await command(peer, "shutdown");
    // The library treats the peer's FIN as the end of the connection.
    const info = await settledOnce(conn, seen);
    assert.equal(info.state, "closed-gracefully");
    assert.equal(info.by, "peer");
    const { bytes, error } = await drain(conn.readable);
    assert.equal(error, undefined);
    assert.equal(bytes.byteLength, 700);
    assert.ok(isPattern(bytes));
    // Although the peer still reads, we can no longer write: writes reject ...
    await assert.rejects(
      conn.write(new Uint8Array(10)),
      (e: unknown) => e instanceof ConnectionClosedError && e.code === "ERR_CONNECTION_CLOSED",
    );
    await assert.rejects(
      conn.closeWrite(),
      (e: unknown) => e instanceof ConnectionClosedError && e.code === "ERR_CONNECTION_CLOSED",
    );
    // ... and the socket was closed: the peer reads what we wrote before its FIN, then EOF.
    assert.equal(await peer.waitFor(/^(EOF|RESET) /), "EOF 100");
    assert.deepEqual(seen, ["connecting->open", "open->closed-gracefully"]);
    report("half-close by the peer", info, bytes.byteLength);
  });
}, opts);

test(
  "matrix: peer resets the moment it accepts (before open) -> broken ECONNRESET, opened rejects",
  async () => {
    const server = net.createServer((s) => {
      s.on("error", () => {});
      s.resetAndDestroy();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const port = (server.address() as net.AddressInfo).port;
      for (let i = 0; i < 10; i++) {
        const conn = connect({ port });
        const seen = record(conn);
        await assert.rejects(
          conn.opened,
          (e: unknown) => (e as { code?: string }).code === "ECONNRESET",
        );
        const info = await settledOnce(conn, seen);
        assert.equal(info.state, "broken");
        assert.equal(info.code, "ECONNRESET");
        assert.deepEqual(seen, ["connecting->broken"]);
        const { bytes, error } = await drain(conn.readable);
        assert.equal(bytes.byteLength, 0);
        assert.ok(error instanceof ConnectionClosedError && error.code === "ECONNRESET");
        if (i === 0) report("peer resets on accept (before open)", info, 0);
      }
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  },
  opts,
);

test("matrix: connectTimeout bounds only the connect: an open connection outlives it", async () => {
  await withPeer(async (peer, port) => {
    const conn = connect({ port, connectTimeout: 200 });
    const seen = record(conn);
    await conn.opened;
    await peer.waitFor(/^ACCEPTED/);
    await sleep(500);
    assert.equal(conn.state, "open");
    const info = await conn.close();
    assert.equal(info.by, "local");
    assert.deepEqual(seen, ["connecting->open", "open->closed-gracefully"]);
  });
}, opts);

// ---------------------------------------------------------------------------------------------
// Network-namespace cases: the client runs in its own process in the client namespace.

type Line = Record<string, unknown>;

interface NetCase {
  config: Record<string, unknown>;
  listen?: boolean;
  act?: (ctx: { net: TestNet; client: Proc; peer?: Proc }) => Promise<void>;
}

async function netCase(
  c: NetCase,
): Promise<{ done: Line; states: Line[]; client: Proc; peer?: Proc }> {
  const net = TestNet.create();
  let peer: Proc | undefined;
  let client: Proc | undefined;
  try {
    const port = 7000;
    if (c.listen !== false) peer = (await startPeer(SERVER_IP, port, net.exec("server"))).peer;
    const config = { hostname: SERVER_IP, port, ...c.config };
    client = new Proc([
      ...net.exec("client"),
      ...runtimeCommand(fixture("matrix_client.ts"), [JSON.stringify(config)]),
    ]);
    await c.act?.({ net, client, peer });
    const done = JSON.parse(await client.waitFor(/"type":"done"/, 25_000));
    const states = client.lines.filter((l) => l.includes('"type":"state"')).map((l) =>
      JSON.parse(l)
    );
    return { done, states, client, peer };
  } finally {
    await client?.kill();
    await peer?.kill();
    net.destroy();
  }
}

const path = (states: Line[]) => states.map((s) => `${s.from}->${s.to}`);
const opened = (client: Proc) => client.waitFor(/"type":"opened"/, 10_000);
const IDLE_1S = { idle: 1000, interval: 1000, count: 3 };

function assertOnce(done: Line, states: Line[]): void {
  assert.equal(done.terminalEvents, 1, "the end is reported once");
  assert.equal(states.filter((s) => s.to === "broken" || s.to === "closed-gracefully").length, 1);
}

test("matrix/netns: pulled cable while idle -> broken ETIMEDOUT", async () => {
  let pulledAt = 0;
  const { done, states } = await netCase({
    config: { keepAlive: IDLE_1S },
    act: async ({ net, client, peer }) => {
      await opened(client);
      await peer!.waitFor(/^ACCEPTED/);
      await command(peer!, "send 3000");
      await sleep(200);
      pulledAt = net.pull();
    },
  });
  assert.deepEqual(path(states), ["connecting->open", "open->broken"]);
  assertOnce(done, states);
  assert.equal(done.state, "broken");
  assert.equal(done.code, "ETIMEDOUT");
  assert.equal(done.bytes, 3000);
  assert.equal(done.pattern, true);
  assert.equal(done.readError, "ETIMEDOUT");
  console.log(`pulled cable (idle): ${(states[1].at as number) - pulledAt} ms after the pull`);
  report("pulled cable while idle", done as never, done.bytes as number);
}, netnsTestOptions(30_000));

test(
  "matrix/netns: pulled cable with data in flight (userTimeout 3000) -> broken ETIMEDOUT",
  async () => {
    let pulledAt = 0;
    const { done, states } = await netCase({
      config: {
        keepAlive: { idle: 30000, interval: 10000, count: 3, userTimeout: 3000 },
        writeEveryMs: 50,
      },
      act: async ({ net, client, peer }) => {
        await opened(client);
        await command(peer!, "read");
        await sleep(300);
        pulledAt = net.pull();
      },
    });
    assert.deepEqual(path(states), ["connecting->open", "open->broken"]);
    assertOnce(done, states);
    assert.equal(done.state, "broken");
    assert.equal(done.code, "ETIMEDOUT");
    assert.equal(done.bytes, 0);
    assert.equal(done.readError, "ETIMEDOUT");
    console.log(`pulled cable (writing): ${(states[1].at as number) - pulledAt} ms after the pull`);
    report("pulled cable, data in flight (userTimeout)", done as never, 0);
  },
  netnsTestOptions(30_000),
);

test("matrix/netns: the peer's whole namespace deleted (host gone) -> broken", async () => {
  let goneAt = 0;
  const { done, states } = await netCase({
    config: { keepAlive: IDLE_1S },
    act: async ({ net, client, peer }) => {
      await opened(client);
      await peer!.waitFor(/^ACCEPTED/);
      await command(peer!, "send 3000");
      await sleep(200);
      // The host goes away at once: its link first (so the dying process's FIN or RST never
      // leaves), then every process in it, then the namespace itself, which removes the veth
      // pair, and with it the client's interface and route.
      net.pull();
      await peer!.kill();
      execFileSync("ip", ["netns", "del", net.server], { stdio: "pipe" });
      goneAt = Date.now();
      assert.ok(!TestNet.exists(net.server));
    },
  });
  assert.deepEqual(path(states), ["connecting->open", "open->broken"]);
  assertOnce(done, states);
  assert.equal(done.state, "broken");
  // Linux reports the keepalive timeout, not the route that vanished: the probes fail locally
  // (no route), which counts as unanswered.
  assert.equal(done.code, "ETIMEDOUT");
  assert.equal(done.bytes, 3000);
  assert.equal(done.pattern, true);
  console.log(`host gone: ${done.code} ${(states[1].at as number) - goneAt} ms after`);
  report("peer's namespace deleted (host gone)", done as never, done.bytes as number);
}, netnsTestOptions(30_000));

test("matrix/netns: unreachable address with connectTimeout 1000 -> broken ETIMEDOUT", async () => {
  const { done, states, client } = await netCase({
    listen: false,
    config: { hostname: UNREACHABLE_IP, connectTimeout: 1000 },
  });
  const rejected = JSON.parse(await client.waitFor(/"type":"rejected"/));
  assert.equal(rejected.code, "ETIMEDOUT");
  assert.deepEqual(path(states), ["connecting->broken"]);
  assertOnce(done, states);
  assert.equal(done.state, "broken");
  assert.equal(done.code, "ETIMEDOUT");
  assert.equal(done.bytes, 0);
  assert.equal(done.readError, "ETIMEDOUT");
  report("unreachable address, connectTimeout", done as never, 0);
}, netnsTestOptions(30_000));

test(
  "matrix/netns: unreachable address, AbortSignal aborted while connecting -> broken ABORTED",
  async () => {
    const { done, states, client } = await netCase({
      listen: false,
      config: { hostname: UNREACHABLE_IP, abortAfterMs: 500 },
    });
    const rejected = JSON.parse(await client.waitFor(/"type":"rejected"/));
    assert.equal(rejected.name, "AbortError");
    assert.deepEqual(path(states), ["connecting->broken"]);
    assertOnce(done, states);
    assert.equal(done.state, "broken");
    assert.equal(done.code, "ABORTED");
    assert.equal(done.bytes, 0);
    assert.equal(done.readError, "ABORTED");
    report("unreachable address, AbortSignal", done as never, 0);
  },
  netnsTestOptions(30_000),
);

test("matrix/netns: local close while connecting -> closed-gracefully by local", async () => {
  const { done, states, client } = await netCase({
    listen: false,
    config: { hostname: UNREACHABLE_IP, closeAfterMs: 300 },
  });
  const rejected = JSON.parse(await client.waitFor(/"type":"rejected"/));
  assert.equal(rejected.code, "ERR_CONNECTION_CLOSED");
  assert.equal(rejected.name, "ConnectionClosedError");
  assert.deepEqual(path(states), ["connecting->closed-gracefully"]);
  assertOnce(done, states);
  assert.equal(done.state, "closed-gracefully");
  assert.equal(done.by, "local");
  assert.equal(done.code, undefined);
  assert.equal(done.bytes, 0);
  assert.equal(done.readError, undefined);
  report("local close while connecting", done as never, 0);
}, netnsTestOptions(30_000));

test(
  "matrix/netns: pulled cable while the consumer never reads and a listener throws -> broken ETIMEDOUT",
  async () => {
    const { done, states } = await netCase({
      config: {
        keepAlive: IDLE_1S,
        maxBufferedBytes: 4096,
        read: "never",
        throwingListener: true,
      },
      act: async ({ net, client, peer }) => {
        await opened(client);
        await peer!.waitFor(/^ACCEPTED/);
        // Far more than maxBufferedBytes: sockalive pauses and the rest waits in the kernels.
        await command(peer!, `send ${256 * 1024}`);
        await sleep(300);
        net.pull();
      },
    });
    assert.deepEqual(path(states), ["connecting->open", "open->broken"]);
    assertOnce(done, states);
    assert.equal(done.state, "broken");
    assert.equal(done.code, "ETIMEDOUT");
    assert.deepEqual(done.listenerErrors, ["listener bug at open", "listener bug at broken"]);
    // Everything taken from the kernel is delivered, intact, before the break's error.
    assert.equal(done.bytes, done.bytesRead);
    assert.ok((done.bytes as number) >= 4096, `delivered ${done.bytes}`);
    assert.equal(done.pattern, true);
    assert.equal(done.readError, "ETIMEDOUT");
    report(
      "pulled cable, consumer never reads, listener throws",
      done as never,
      done.bytes as number,
    );
  },
  netnsTestOptions(30_000),
);
