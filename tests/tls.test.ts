/**
 * TLS through sockalive's own `listen({ tls })` and `connect({ tls })`, in Deno and in Bun: the
 * bytes go encrypted, keepalive is on the TCP socket under TLS at both ends (read back, and seen
 * by `ss`), every failed handshake is `broken` with ERR_TLS_HANDSHAKE, bad options are refused
 * before any system call, and a pulled cable ends a TLS connection with ETIMEDOUT on time.
 *
 * The certificates are made here, with `openssl`, in a temporary directory that is removed as
 * soon as they are read: a test CA, a leaf it signed (subjectAltName IP:127.0.0.1 and
 * DNS:localhost; Deno refuses a self-signed CA certificate used as the server's own), and a second,
 * unrelated CA.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import net from "node:net";
import {
  concat,
  fixture,
  isBun,
  keepaliveSeconds,
  netnsTestOptions,
  preloadFfi,
  Proc,
  runtimeCommand,
  ssLine,
  test,
  withServer,
} from "./harness.ts";
import { FakeRuntime } from "./fixtures/fake_kernel.ts";
import { makePki, opensslMissing, type Pki } from "./fixtures/pki.ts";
import { watchedConnections } from "../src/adapters/deno.ts";
import { leftovers, SERVER_IP, TestNet } from "../tools/netns.ts";
import {
  type CloseInfo,
  connect,
  type ConnectOptions,
  listen,
  type ListenOptions,
  type LiveConnection,
  type LiveListener,
  reconnecting,
} from "../mod.ts";
import { LiveConnection as Connection } from "../src/connection.ts";

preloadFfi();

const noOpenssl = opensslMissing("the TLS tests");
const opts = { sanitize: false, timeout: 15_000, skip: noOpenssl };

const pki: Pki = noOpenssl ? { ca: "", cert: "", key: "", otherCa: "" } : makePki();
const serverTls = { cert: pki.cert, key: pki.key };
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The seconds left on ss's keepalive timer (see {@linkcode keepaliveSeconds}). */
function keepaliveTimer(line: string): number[] {
  const seconds = keepaliveSeconds(line);
  assert.ok(seconds, `no keepalive timer in: ${line}`);
  return seconds;
}

/**
 * The keepalive timer ss shows for the established socket with local port `port`. Right after a
 * handshake a socket may still have data unacknowledged (ss then shows the retransmission timer,
 * "timer:(on,...)"): asked again until the keepalive timer is the one running, for up to 2 s.
 */
async function keepaliveTimerOf(port: number): Promise<number[]> {
  let line = "";
  for (let i = 0; i < 40; i++) {
    line = await ssLine(port);
    if (/timer:\(keepalive,/.test(line)) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return keepaliveTimer(line);
}

/** A TLS listener whose accepted connections echo what they read; always closed after. */
async function withTlsServer<T>(
  options: Partial<ListenOptions>,
  fn: (server: LiveListener, accepted: LiveConnection[]) => Promise<T>,
): Promise<T> {
  const server = listen({ port: 0, tls: serverTls, ...options });
  const accepted: LiveConnection[] = [];
  void (async () => {
    for await (const conn of server) {
      accepted.push(conn);
      conn.opened.then(async () => {
        try {
          for await (const chunk of conn.readable) await conn.write(chunk);
        } catch { /* the test decides what the connection's end is */ }
      }, () => {});
    }
  })();
  try {
    return await fn(server, accepted);
  } finally {
    server.close();
    await Promise.all(accepted.map((c) => c.close()));
  }
}

/** The first connection the server accepts. */
async function firstAccepted(accepted: LiveConnection[]): Promise<LiveConnection> {
  for (let i = 0; i < 200 && accepted.length === 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.ok(accepted[0], "the server accepted no connection");
  return accepted[0];
}

/** Reads from `conn` until `n` bytes have come. */
async function readBytes(conn: LiveConnection, n: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let got = 0;
  const buffer = new Uint8Array(64 * 1024);
  while (got < n) {
    const read = await conn.read(buffer);
    assert.notEqual(read, null, `the stream ended after ${got} of ${n} bytes`);
    chunks.push(buffer.slice(0, read!));
    got += read!;
  }
  return concat(chunks);
}

/** Asserts the connection ended as a failed handshake, and returns how. */
async function assertHandshakeFailed(conn: LiveConnection): Promise<CloseInfo> {
  const rejected = await conn.opened.then(() => undefined, (error: unknown) => error);
  assert.ok(rejected instanceof Error, "opened resolved, but the handshake should have failed");
  const info = await conn.closed;
  assert.equal(info.state, "broken");
  assert.equal(info.code, "ERR_TLS_HANDSHAKE");
  assert.equal(info.openForMs, undefined, "it never opened");
  assert.equal(rejected, info.error, "opened rejects with the runtime's error, kept on info.error");
  assert.equal(conn.alpnProtocol, undefined);
  return info;
}

test("tls: echo over listen({ tls }) and connect({ tls }); ALPN; 1 MiB intact; FIN", async () => {
  await withTlsServer(
    { tls: { ...serverTls, alpnProtocols: ["sockalive/2", "sockalive/1"] } },
    async (server, accepted) => {
      const conn = connect({
        port: server.addr.port,
        tls: { caCerts: [pki.ca], alpnProtocols: ["sockalive/1"] },
      });
      let openedWhenCalled = false;
      conn.addEventListener("statechange", (e) => {
        if (e.to === "open") openedWhenCalled = true;
      });
      await conn.opened;
      assert.ok(openedWhenCalled);
      assert.equal(conn.state, "open");
      assert.equal(conn.alpnProtocol, "sockalive/1");
      const peer = await firstAccepted(accepted);
      await peer.opened;
      assert.equal(peer.alpnProtocol, "sockalive/1");
      assert.equal(peer.remoteAddr!.port, conn.localAddr!.port);

      await conn.write(encoder.encode("hello over TLS"));
      assert.equal(decoder.decode(await readBytes(conn, 14)), "hello over TLS");
      // Large: many TLS records, through Deno's pending read and Bun's event loop alike.
      const big = new Uint8Array(1 << 20).map((_, i) => i % 251);
      const [, echoed] = await Promise.all([conn.write(big), readBytes(conn, big.byteLength)]);
      assert.deepEqual(echoed, big);
      assert.equal(conn.bytesRead, 14 + big.byteLength);

      const info = await conn.close();
      assert.deepEqual([info.state, info.by], ["closed-gracefully", "local"]);
      const peerInfo = await peer.closed;
      assert.deepEqual([peerInfo.state, peerInfo.by], ["closed-gracefully", "peer"]);
    },
  );
}, opts);

// Deno's transport only: Bun's event loop reads its sockets, with no readiness wait to avoid.
if (!isBun) {
  test(
    "tls: in Deno a TLS connection keeps its read pending; the readiness wait watches plain TCP only",
    async () => {
      const before = watchedConnections();
      await withTlsServer({}, async (server, accepted) => {
        const conn = connect({ port: server.addr.port, tls: { caCerts: [pki.ca] } });
        await conn.opened;
        const peer = await firstAccepted(accepted);
        await peer.opened;
        // Neither end of the TLS connection is watched: epoll reports the TCP socket, not records.
        assert.equal(watchedConnections(), before);
        await withServer(async (port) => {
          const plain = connect({ port });
          await plain.opened;
          assert.equal(watchedConnections(), before + (Deno.build.os === "linux" ? 1 : 0));
          await plain.close();
        });
        // Idle for a while, then bytes in both directions: the pending reads take them.
        await new Promise((resolve) => setTimeout(resolve, 200));
        await conn.write(encoder.encode("after a pause"));
        assert.equal(decoder.decode(await readBytes(conn, 13)), "after a pause");
        await conn.close();
      });
    },
    opts,
  );
}

test("tls: reconnecting({ tls }) dials TLS again after the server closes", async () => {
  await withTlsServer({}, async (server, accepted) => {
    const client = reconnecting({
      port: server.addr.port,
      tls: { caCerts: [pki.ca], alpnProtocols: ["x"] },
      reconnect: { initialDelay: 10 },
    });
    const seen: number[] = [];
    for await (const conn of client) {
      assert.equal(conn.state, "open"); // yielded once the handshake is done
      seen.push(conn.localAddr!.port);
      await conn.write(encoder.encode("ping"));
      assert.equal(decoder.decode(await readBytes(conn, 4)), "ping");
      if (seen.length === 2) break;
      // The server ends this one: the client makes a new TLS connection.
      const peer = accepted[accepted.length - 1];
      await peer.close();
      assert.equal((await conn.closed).by, "peer");
    }
    assert.equal(seen.length, 2);
    assert.notEqual(seen[0], seen[1]);
    await client.close();
  });
}, opts);

test(
  "tls: keepalive is on the TCP socket under TLS at both ends, read back and seen by ss",
  async () => {
    const serverKeepAlive = { idle: 11_000, interval: 3000, count: 5 };
    await withTlsServer({ keepAlive: serverKeepAlive }, async (server, accepted) => {
      const conn = connect({
        port: server.addr.port,
        tls: { caCerts: [pki.ca] },
        keepAlive: { idle: 7000, interval: 2000, count: 4 },
      });
      await conn.opened;
      const peer = await firstAccepted(accepted);
      await peer.opened;
      assert.deepEqual(conn.keepAlive, {
        enabled: true,
        idle: 7000,
        interval: 2000,
        count: 4,
        userTimeout: 15_000,
      });
      assert.deepEqual(conn.getKeepAlive(), conn.keepAlive);
      assert.deepEqual(peer.keepAlive, { enabled: true, ...serverKeepAlive, userTimeout: 26_000 });
      assert.deepEqual(peer.getKeepAlive(), peer.keepAlive);

      // The kernel's own view: the client's socket and the accepted one carry the timers set.
      const client = await keepaliveTimerOf(conn.localAddr!.port);
      assert.ok(
        client.some((s) => s > 5 && s <= 7),
        `client keepalive timer ${client}, expected (5, 7] s`,
      );
      const accept = await keepaliveTimerOf(server.addr.port);
      assert.ok(
        accept.some((s) => s > 9 && s <= 11),
        `accepted keepalive timer ${accept}, expected (9, 11] s`,
      );

      // Changed on the open TLS connection: the TCP socket under it takes it.
      assert.deepEqual(conn.setKeepAlive({ idle: 20_000 }), { ...conn.keepAlive, idle: 20_000 });
      const after = await keepaliveTimerOf(conn.localAddr!.port);
      assert.ok(after.some((s) => s > 18 && s <= 20), `timer after setting idle 20 s: ${after}`);
      await conn.close();
    });
  },
  opts,
);

test(
  "tls: the bytes on the wire are TLS records, never the plaintext (a TCP sniffer in between)",
  async () => {
    const marker = "sockalive-plaintext-marker-7f3a";
    await withTlsServer({}, async (server) => {
      const wire = { up: [] as Uint8Array[], down: [] as Uint8Array[] };
      const sockets = new Set<net.Socket>();
      const sniffer = net.createServer((client) => {
        const upstream = net.connect(server.addr.port, "127.0.0.1");
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on("error", () => {});
        }
        client.on("data", (d: Uint8Array) => {
          wire.up.push(new Uint8Array(d));
          upstream.write(d);
        });
        upstream.on("data", (d: Uint8Array) => {
          wire.down.push(new Uint8Array(d));
          client.write(d);
        });
        client.on("end", () => upstream.end());
        upstream.on("end", () => client.end());
      });
      await new Promise<void>((resolve) => sniffer.listen(0, "127.0.0.1", resolve));
      try {
        const conn = connect({
          port: (sniffer.address() as net.AddressInfo).port,
          tls: { caCerts: [pki.ca] },
        });
        await conn.opened;
        for (let i = 0; i < 3; i++) {
          await conn.write(encoder.encode(`${marker} ${i}\n`));
          assert.equal(
            decoder.decode(await readBytes(conn, marker.length + 3)),
            `${marker} ${i}\n`,
          );
        }
        await conn.close();
      } finally {
        for (const s of sockets) s.destroy();
        await new Promise<void>((resolve) => sniffer.close(() => resolve()));
      }
      for (const [direction, chunks] of Object.entries(wire)) {
        const bytes = concat(chunks);
        assert.ok(bytes.byteLength > 0, `nothing went ${direction}`);
        // A TLS record starts with its content type: 22, handshake (ClientHello, ServerHello).
        assert.equal(bytes[0], 22, `the first byte ${direction} is not a TLS handshake record`);
        const text = decoder.decode(bytes);
        assert.ok(!text.includes(marker), `the plaintext marker went ${direction} in the clear`);
        assert.ok(
          !text.includes("sockalive-plaintext"),
          `part of the marker went ${direction} in the clear`,
        );
      }
    });
  },
  opts,
);

test(
  "tls: a CA that did not sign the server's certificate -> broken ERR_TLS_HANDSHAKE, at both ends",
  async () => {
    await withTlsServer({}, async (server, accepted) => {
      const conn = connect({ port: server.addr.port, tls: { caCerts: [pki.otherCa] } });
      const info = await assertHandshakeFailed(conn);
      // The runtime's own words are kept: Deno's InvalidData ("UnknownIssuer"), Bun's code.
      assert.match(
        `${info.error!.name} ${(info.error as { code?: string }).code} ${info.error!.message}`,
        isBun ? /UNABLE_TO_VERIFY_LEAF_SIGNATURE/ : /InvalidData .*UnknownIssuer/,
      );
      // The server hands out the client it could not finish the handshake with, as broken.
      const peer = await firstAccepted(accepted);
      const peerInfo = await assertHandshakeFailed(peer);
      assert.ok(peerInfo.error instanceof Error);
    });
  },
  opts,
);

test("tls: a serverName the certificate is not valid for -> broken ERR_TLS_HANDSHAKE", async () => {
  await withTlsServer({}, async (server) => {
    const conn = connect({
      port: server.addr.port,
      tls: { caCerts: [pki.ca], serverName: "db.example" },
    });
    const info = await assertHandshakeFailed(conn);
    assert.match(info.error!.message, /db\.example/);
    if (isBun) assert.equal((info.error as { code?: string }).code, "ERR_TLS_CERT_ALTNAME_INVALID");
    // The name the certificate has works, over the same address: serverName is what is verified.
    const good = connect({
      port: server.addr.port,
      tls: { caCerts: [pki.ca], serverName: "localhost" },
    });
    await good.opened;
    await good.close();
    // And a host name dialed is its own serverName.
    const byName = connect({
      hostname: "localhost",
      port: server.addr.port,
      tls: { caCerts: [pki.ca] },
    });
    await byName.opened.catch((error) => {
      // localhost may resolve to ::1 first, where nothing listens: only a refused connect is fine.
      assert.equal(byName.state, "broken");
      assert.notEqual((error as { code?: string }).code, "ERR_TLS_HANDSHAKE");
    });
    await byName.close();
  });
}, opts);

test(
  "tls: true (the default roots) to a server with a private CA -> broken ERR_TLS_HANDSHAKE",
  async () => {
    await withTlsServer({}, async (server) => {
      const info = await assertHandshakeFailed(connect({ port: server.addr.port, tls: true }));
      assert.match(
        `${info.error!.name} ${(info.error as { code?: string }).code} ${info.error!.message}`,
        isBun ? /UNABLE_TO_VERIFY_LEAF_SIGNATURE/ : /UnknownIssuer/,
      );
      // caCerts adds to the default roots, in both runtimes: with it, the same server verifies.
      const conn = connect({ port: server.addr.port, tls: { caCerts: [pki.ca] } });
      await conn.opened;
      await conn.close();
    });
  },
  opts,
);

test(
  "tls: a server that speaks no TLS -> ERR_TLS_HANDSHAKE; one that never answers -> connectTimeout",
  async () => {
    // A plain TCP server that answers the ClientHello with an HTTP error and closes.
    const plain = net.createServer((s) => {
      s.on("error", () => {});
      s.once("data", () => s.end("HTTP/1.1 400 Bad Request\r\n\r\n"));
    });
    await new Promise<void>((resolve) => plain.listen(0, "127.0.0.1", resolve));
    try {
      const port = (plain.address() as net.AddressInfo).port;
      await assertHandshakeFailed(connect({ port, tls: { caCerts: [pki.ca] } }));
    } finally {
      await new Promise<void>((resolve) => plain.close(() => resolve()));
    }
    // A server that accepts and stays silent: the handshake never ends; connectTimeout covers it,
    // and close() during it is a local close. Neither leaves the handshake's outcome to matter.
    await withServer(async (port) => {
      const started = Date.now();
      const timedOut = connect({ port, tls: { caCerts: [pki.ca] }, connectTimeout: 300 });
      const info = await timedOut.closed;
      assert.deepEqual([info.state, info.code], ["broken", "ETIMEDOUT"]);
      assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
      assert.ok(timedOut.keepAlive?.enabled, "keepalive was set before the handshake began");

      const closed = connect({ port, tls: { caCerts: [pki.ca] } });
      const events: string[] = [];
      closed.addEventListener("statechange", (e) => events.push(`${e.from}->${e.to}`));
      await new Promise((resolve) => setTimeout(resolve, 100)); // the handshake is under way
      assert.equal(closed.state, "connecting");
      const closeInfo = await closed.close();
      assert.deepEqual([closeInfo.state, closeInfo.by], ["closed-gracefully", "local"]);
      await assert.rejects(closed.opened);
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual(events, ["connecting->closed-gracefully"], "one transition, nothing after");
    });
  },
  opts,
);

test(
  "tls: every bad tls option is a TypeError or RangeError naming it, before any system call",
  async () => {
    const runtime = new FakeRuntime();
    const pem = pki.ca;
    const refusedConnect: Array<[unknown, ErrorConstructor, RegExp]> = [
      ["yes", TypeError, /"tls" must be true, false or an options object, got "yes"/],
      [null, TypeError, /"tls" must be true, false or an options object/],
      [[pem], TypeError, /"tls" must be true, false or an options object/],
      [1, TypeError, /"tls" must be/],
      [
        { rejectUnauthorized: false },
        TypeError,
        /unknown option "tls.rejectUnauthorized"; expected one of caCerts, serverName, alpnProtocols/,
      ],
      [{ ca: [pem] }, TypeError, /unknown option "tls.ca"/],
      [{ cert: pem }, TypeError, /unknown option "tls.cert"/],
      [
        { caCerts: pem },
        TypeError,
        /"tls.caCerts" must be an array of PEM strings, got one string: put it in an array/,
      ],
      [{ caCerts: [1] }, TypeError, /"tls.caCerts\[0\]" must be a PEM string/],
      [
        { caCerts: [pem, "not a certificate"] },
        TypeError,
        /"tls.caCerts\[1\]" must be a certificate in PEM form/,
      ],
      [{ caCerts: [pki.key] }, TypeError, /"tls.caCerts\[0\]" must be a certificate in PEM form/],
      [{ serverName: 1 }, TypeError, /"tls.serverName" must be a string/],
      [{ serverName: "" }, RangeError, /"tls.serverName" must not be empty/],
      [{ alpnProtocols: "h2" }, TypeError, /"tls.alpnProtocols" must be an array of strings/],
      [{ alpnProtocols: [2] }, TypeError, /"tls.alpnProtocols\[0\]" must be a string/],
      [
        { alpnProtocols: ["h2", ""] },
        RangeError,
        /"tls.alpnProtocols\[1\]" must be 1 to 255 bytes long, got 0/,
      ],
      [
        { alpnProtocols: ["é".repeat(128)] },
        RangeError,
        /"tls.alpnProtocols\[0\]" must be 1 to 255 bytes long, got 256/,
      ],
    ];
    for (const [tls, type, message] of refusedConnect) {
      const options = { port: 1, tls } as unknown as ConnectOptions;
      for (const make of [() => new Connection(runtime, options), () => connect(options)]) {
        assert.throws(make, (e: unknown) => {
          assert.ok(e instanceof type, `${JSON.stringify(tls)}: ${e}`);
          assert.match((e as Error).message, /^Cannot connect: /);
          assert.match((e as Error).message, message);
          return true;
        });
      }
      assert.throws(() =>
        reconnecting({ port: 1, tls } as never, () => {
          throw new Error("not reached");
        }), (e: unknown) =>
        e instanceof type && /^Cannot reconnect: /.test((e as Error).message) &&
        message.test((e as Error).message));
    }
    assert.equal(runtime.dials, 0, "nothing was dialed");
    assert.equal(runtime.kernel.total, 0, "no system call");

    // listen: a refused tls option leaves the port free (it was never bound).
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const refusedListen: Array<[unknown, ErrorConstructor, RegExp]> = [
      [true, TypeError, /"tls" must be false or an object with cert and key, got true/],
      ["cert", TypeError, /"tls" must be false or an object with cert and key/],
      [{ cert: pki.cert }, TypeError, /"tls.key" must be a PEM string, got undefined/],
      [{ key: pki.key }, TypeError, /"tls.cert" must be a PEM string, got undefined/],
      [{ cert: pki.key, key: pki.key }, TypeError, /"tls.cert" must be a certificate in PEM form/],
      [{ cert: pki.cert, key: pki.cert }, TypeError, /"tls.key" must be a private key in PEM form/],
      [
        { cert: pki.cert, key: "-----BEGIN ENCRYPTED PRIVATE KEY-----\n..." },
        TypeError,
        /"tls.key" must not be encrypted/,
      ],
      [
        { ...serverTls, caCerts: [pki.ca] },
        TypeError,
        /unknown option "tls.caCerts"; expected one of cert, key, alpnProtocols/,
      ],
      [
        { ...serverTls, alpnProtocols: [""] },
        RangeError,
        /"tls.alpnProtocols\[0\]" must be 1 to 255 bytes/,
      ],
    ];
    for (const [tls, type, message] of refusedListen) {
      assert.throws(() => listen({ port, tls } as unknown as ListenOptions), (e: unknown) => {
        assert.ok(e instanceof type, `${JSON.stringify(tls)}: ${e}`);
        assert.match((e as Error).message, /^Cannot listen: /);
        assert.match((e as Error).message, message);
        return true;
      });
    }
    const server = listen({ port, tls: serverTls });
    assert.equal(server.addr.port, port, "the port was free: nothing above bound it");
    server.close();

    // tls: false (and absent) is plain TCP, not an ignored option: the same connection as without.
    const plain = new Connection(runtime, { port: 7000, tls: false });
    await plain.opened;
    assert.equal(plain.alpnProtocol, undefined);
    await plain.close();
  },
  opts,
);

test(
  "tls: netns pulled cable while idle, 1 s/1 s/3 -> broken ETIMEDOUT within budget + 0.5 s",
  async () => {
    const net = TestNet.create();
    let server: Proc | undefined;
    let client: Proc | undefined;
    try {
      const port = 7443;
      server = new Proc([
        ...net.exec("server"),
        ...runtimeCommand(fixture("server.ts"), [
          JSON.stringify({ hostname: SERVER_IP, port, tls: serverTls }),
        ]),
      ]);
      await server.waitFor(/"type":"listening"/);
      const keepAlive = { idle: 1000, interval: 1000, count: 3 };
      client = new Proc([
        ...net.exec("client"),
        ...runtimeCommand(fixture("client.ts"), [
          // Dialed by address, verified for the name the certificate has.
          JSON.stringify({
            hostname: SERVER_IP,
            port,
            keepAlive,
            tls: { caCerts: [pki.ca], serverName: "localhost" },
          }),
        ]),
      ]);
      const opened = JSON.parse(await client.waitFor(/"type":"(opened|rejected)"/, 10_000));
      assert.equal(
        opened.type,
        "opened",
        `the TLS connection did not open: ${client.lines.join("\n")}`,
      );
      assert.deepEqual(opened.keepAlive, { enabled: true, ...keepAlive, userTimeout: 4000 });
      await server.waitFor(/"type":"opened"/); // the server's handshake is done too
      // Idle means nothing unacknowledged: the handshake's last flight may still await its ACK
      // (ss shows the retransmission timer then), and a pull before that ACK is a pull while
      // writing, ended by userTimeout from that last send. Pulled once the keepalive timer runs.
      for (let i = 0; i < 40; i++) {
        const ss = execFileSync("ip", [
          "netns",
          "exec",
          net.client,
          "ss",
          "-tnoH",
          "state",
          "established",
        ]);
        if (/timer:\(keepalive,/.test(ss.toString())) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const pulledAt = net.pull();
      const done = JSON.parse(await client.waitFor(/"type":"done"/, 20_000));
      const states = client.lines.filter((l) => l.includes('"type":"state"')).map((l) =>
        JSON.parse(l)
      );
      assert.deepEqual(states.map((s) => `${s.from}->${s.to}`), [
        "connecting->open",
        "open->broken",
      ]);
      assert.deepEqual([done.state, done.code, done.readError], [
        "broken",
        "ETIMEDOUT",
        "ETIMEDOUT",
      ]);
      const elapsed = states[1].at - pulledAt;
      console.log(
        `TLS pulled cable (idle): ETIMEDOUT ${elapsed} ms after the pull (budget 4000 ms)`,
      );
      assert.ok(elapsed <= 4500, `detected after ${elapsed} ms, budget + 0.5 s is 4500 ms`);
      assert.ok(elapsed >= 2000, `detected after ${elapsed} ms: too early to be keepalive`);
    } finally {
      await client?.kill();
      await server?.kill();
      net.destroy();
    }
    assert.deepEqual(leftovers(), []);
  },
  noOpenssl ? { ...netnsTestOptions(30_000), skip: noOpenssl } : netnsTestOptions(30_000),
);
