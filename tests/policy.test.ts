/**
 * `setDefaultKeepAlive`: a policy applied to every outgoing TCP connection the program opens, in
 * the runtime running the tests. Each opener — node:net (`net.connect`, `net.createConnection`,
 * `new net.Socket().connect`), node:tls (`tls.connect`), and `Deno.connect` / `Deno.connectTls`
 * in Deno or `Bun.connect` plain and TLS in Bun — gets the options as it connects, read back from
 * the kernel with `getKeepAlive`, before the opener's own code sees the socket; connections that
 * do not match, and every connection after dispose, are left as the runtime made them; the
 * patched functions are the originals again after dispose; the newest matching policy wins; a
 * throwing `match` is reported and changes nothing; the runtime's own `setKeepAlive(true, 60000)`
 * (what postgres.js calls) is let through and then undone, and reported; bad options throw at the
 * call and patch nothing; sockalive's own connections keep their own options.
 *
 * TLS uses a test CA and a leaf for 127.0.0.1 made with `openssl` at test time.
 */
import assert from "node:assert/strict";
import net from "node:net";
import tls from "node:tls";
import {
  fixture,
  isBun,
  netnsTestOptions,
  preloadFfi,
  Proc,
  runtimeCommand,
  startPeer,
  test,
} from "./harness.ts";
import { leftovers, SERVER_IP, TestNet } from "../tools/netns.ts";
import { makePki, opensslMissing, type Pki } from "./fixtures/pki.ts";
import {
  connect,
  type ConnectionInfo,
  detectionTime,
  getKeepAlive,
  type KeepAliveInfo,
  type KeepAliveOverride,
  type NativeConnection,
  setDefaultKeepAlive,
} from "../mod.ts";

preloadFfi();

const noOpenssl = opensslMissing("the TLS cases");
// Servers and Deno's TLS closing in the background: no sanitizers.
const opts = { sanitize: false, timeout: 20_000 };
const tlsOpts = { ...opts, skip: noOpenssl };

/** None of it is any runtime's default. */
const POLICY = { idle: 7000, interval: 3000, count: 4, userTimeout: 12345 };
const APPLIED: KeepAliveInfo = { enabled: true, ...POLICY };

// deno-lint-ignore no-explicit-any
const g = globalThis as any;

let pki: Pki | undefined;
const thePki = (): Pki => (pki ??= makePki());

const once = (emitter: NodeJS.EventEmitter, event: string): Promise<void> =>
  new Promise((resolve) => emitter.once(event, () => resolve()));

/** A node:net server (or node:tls with the test leaf) on loopback, port 0; closed after. */
async function withServer<T>(
  fn: (port: number) => Promise<T>,
  secure = false,
): Promise<T> {
  const sockets = new Set<net.Socket>();
  const keep = (s: net.Socket) => {
    sockets.add(s);
    s.on("error", () => {});
  };
  const server = secure
    ? tls.createServer({ key: thePki().key, cert: thePki().cert }, keep)
    : net.createServer(keep);
  server.on("tlsClientError", () => {});
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    return await fn((server.address() as net.AddressInfo).port);
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** Two servers at once: one a policy matches by port, one it does not. */
async function withTwoServers(fn: (matched: number, other: number) => Promise<void>) {
  await withServer((a) => withServer((b) => fn(a, b)));
}

/** The functions the hooks patch, as they are now. */
function patchable(): unknown[] {
  return [
    net.Socket.prototype.connect,
    tls.TLSSocket.prototype.connect,
    ...(isBun ? [g.Bun.connect] : [g.Deno.connect, g.Deno.connectTls]),
  ];
}

/** A socket opened by one of the runtime's openers, connected (over TLS, handshake done). */
interface Opened {
  api: ConnectionInfo["api"];
  socket: NativeConnection;
  /** What the kernel held when the opener's own first code ran ('connect' / `open`). */
  atOpen: KeepAliveInfo | undefined;
  close(): void;
}

type Opener = (port: number, ca: string) => Promise<Opened>;

/** node:net and node:tls openers (both runtimes), each read back in its own 'connect' code. */
const NODE_OPENERS: Record<string, Opener> = {
  "net.connect": (port) =>
    nodeOpened("node:net", (cb) => net.connect({ host: "127.0.0.1", port }, cb)),
  "net.createConnection(port, host)": (port) =>
    nodeOpened("node:net", (cb) => net.createConnection(port, "127.0.0.1", cb)),
  "new net.Socket().connect": (port) =>
    nodeOpened("node:net", (cb) => new net.Socket().connect(port, "127.0.0.1", cb)),
  "tls.connect": (port, ca) =>
    nodeOpened(
      "node:tls",
      (cb) => {
        const socket = tls.connect({ host: "127.0.0.1", port, ca });
        socket.once("connect", cb); // the TCP connect, before the handshake
        return socket;
      },
      "secureConnect",
    ),
};

async function nodeOpened(
  api: Opened["api"],
  open: (onConnect: () => void) => net.Socket,
  ready = "connect",
): Promise<Opened> {
  let atOpen: KeepAliveInfo | undefined;
  let socket: net.Socket | undefined = undefined;
  socket = open(() => (atOpen = getKeepAlive(socket!)));
  socket.on("error", () => {});
  await once(socket, ready);
  return { api, socket, atOpen, close: () => socket.destroy() };
}

/** The runtime's own openers. */
const NATIVE_OPENERS: Record<string, Opener> = isBun
  ? {
    "Bun.connect": (port) => bunOpened(port),
    "Bun.connect with tls": (port, ca) => bunOpened(port, { ca }),
  }
  : {
    "Deno.connect": async (port) => {
      const conn: Deno.TcpConn = await Deno.connect({ hostname: "127.0.0.1", port });
      return {
        api: "Deno.connect",
        socket: conn,
        atOpen: getKeepAlive(conn),
        close: () => conn.close(),
      };
    },
    "Deno.connectTls": async (port, ca) => {
      const conn = await Deno.connectTls({ hostname: "127.0.0.1", port, caCerts: [ca] });
      const atOpen = getKeepAlive(conn);
      await conn.handshake();
      return { api: "Deno.connectTls", socket: conn, atOpen, close: () => conn.close() };
    },
  };

async function bunOpened(port: number, tlsOptions?: { ca: string }): Promise<Opened> {
  let atOpen: KeepAliveInfo | undefined;
  let handshake: Promise<void> | undefined;
  let shaken = () => {};
  if (tlsOptions) handshake = new Promise<void>((resolve) => (shaken = resolve));
  // A handlers class, as drivers write them: methods on the prototype.
  class Handlers {
    open(socket: NativeConnection) {
      atOpen = getKeepAlive(socket);
    }
    data() {}
    handshake() {
      shaken();
    }
  }
  const socket = await g.Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: new Handlers(),
    ...(tlsOptions ? { tls: tlsOptions } : {}),
  });
  await handshake;
  return { api: "Bun.connect", socket, atOpen, close: () => socket.end() };
}

const ALL_OPENERS = { ...NODE_OPENERS, ...NATIVE_OPENERS };
const isTls = (name: string) => /tls|Tls/.test(name);

/** Keepalive off, or at least not the policy's: what the runtime left. */
function assertUntouched(info: KeepAliveInfo, what: string): void {
  assert.notDeepEqual(info, APPLIED, `${what}: not the policy's`);
  assert.notEqual(info.idle, POLICY.idle, `${what}: idle not the policy's`);
  assert.equal(info.userTimeout, 0, `${what}: no user timeout`);
}

// ---------------------------------------------------------------------------------------------
// Every opener.

for (const [name, open] of Object.entries(ALL_OPENERS)) {
  test(`policy: ${name} gets the options as it connects, before its own code runs`, async () => {
    await withServer(async (port) => {
      const seen: ConnectionInfo[] = [];
      const originals = patchable();
      const policy = setDefaultKeepAlive(POLICY, {
        match: (info) => {
          seen.push(info);
          return info.port === port;
        },
      });
      assert.notDeepEqual(patchable(), originals, "hooks installed by the call");
      let opened: Opened | undefined;
      try {
        opened = await open(port, isTls(name) ? thePki().ca : "");
        assert.deepEqual(opened.atOpen, APPLIED, "already set when the opener's code ran");
        assert.deepEqual(getKeepAlive(opened.socket), APPLIED, "and read back after");
        assert.equal(seen.length, 1, "match called once");
        const info = seen[0];
        assert.equal(info.api, opened.api);
        assert.equal(info.hostname, "127.0.0.1");
        assert.equal(info.port, port);
        assert.equal(info.remoteAddress, "127.0.0.1");
        assert.equal(info.localAddress, "127.0.0.1");
        assert.equal(typeof info.localPort, "number");
        assert.equal(info.tls, isTls(name));
        assert.equal(info.socket, opened.socket);
      } finally {
        opened?.close();
        policy.dispose();
      }
      assert.deepEqual(patchable(), originals, "every patched function is the original again");
    }, isTls(name));
  }, isTls(name) ? tlsOpts : opts);
}

test("policy: a host name is passed to match as the caller asked for it", async () => {
  await withServer(async (port) => {
    const seen: ConnectionInfo[] = [];
    using _policy = setDefaultKeepAlive(POLICY, { match: (info) => seen.push(info) > 0 });
    const socket = net.connect({ host: "localhost", port });
    try {
      await once(socket, "connect");
      assert.equal(seen[0]?.hostname, "localhost");
      assert.equal(seen[0]?.remoteAddress, socket.remoteAddress);
      assert.deepEqual(getKeepAlive(socket), APPLIED);
    } finally {
      socket.destroy();
    }
  });
}, opts);

// ---------------------------------------------------------------------------------------------
// What is not matched, and after dispose.

test("policy: connections match does not choose are left as the runtime made them", async () => {
  await withTwoServers(async (matched, other) => {
    using _policy = setDefaultKeepAlive(POLICY, { match: ({ port }) => port === matched });
    for (const [name, open] of Object.entries(ALL_OPENERS)) {
      if (isTls(name)) continue; // the servers here are plain
      const yes = await open(matched, "");
      const no = await open(other, "");
      try {
        assert.deepEqual(getKeepAlive(yes.socket), APPLIED, `${name} to the matched port`);
        assertUntouched(getKeepAlive(no.socket), `${name} to the other port`);
        // The untouched socket's own setKeepAlive is the runtime's, not a wrapper.
        assert.equal(Object.hasOwn(no.socket, "setKeepAlive"), false);
      } finally {
        yes.close();
        no.close();
      }
    }
  });
}, opts);

test(
  "policy: after dispose, new connections are untouched and every function is restored",
  async () => {
    await withServer(async (port) => {
      const originals = patchable();
      const netConnect = net.Socket.prototype.connect;
      {
        using policy = setDefaultKeepAlive(POLICY);
        assert.equal(policy.active, true);
        assert.deepEqual(policy.options, APPLIED);
        assert.notEqual(net.Socket.prototype.connect, netConnect);
      }
      assert.equal(net.Socket.prototype.connect, netConnect, "net.Socket.prototype.connect");
      assert.deepEqual(patchable(), originals);
      for (const [name, open] of Object.entries(ALL_OPENERS)) {
        if (isTls(name)) continue;
        const opened = await open(port, "");
        try {
          assertUntouched(getKeepAlive(opened.socket), name);
        } finally {
          opened.close();
        }
      }
      // Disposing again does nothing; a new policy installs again.
      const policy = setDefaultKeepAlive(POLICY);
      policy.dispose();
      policy.dispose();
      assert.equal(policy.active, false);
      assert.deepEqual(patchable(), originals);
    });
  },
  opts,
);

// ---------------------------------------------------------------------------------------------
// Several policies, and a match that throws.

test(
  "policy: the newest policy that matches applies; hooks stay until the last is disposed",
  async () => {
    await withTwoServers(async (a, b) => {
      const originals = patchable();
      const older = setDefaultKeepAlive({ idle: 5000, interval: 1000, count: 3 });
      const newer = setDefaultKeepAlive(POLICY, { match: ({ port }) => port === a });
      const keepAliveOf = async (port: number) => {
        const socket = net.connect({ host: "127.0.0.1", port });
        await once(socket, "connect");
        const info = getKeepAlive(socket);
        socket.destroy();
        return info;
      };
      try {
        assert.deepEqual(await keepAliveOf(a), APPLIED, "the newer policy, which matches");
        // The older one alone: its keys, the others as the runtime had them (no userTimeout).
        const olderOnly = await keepAliveOf(b);
        assert.deepEqual(
          { ...olderOnly },
          { enabled: true, idle: 5000, interval: 1000, count: 3, userTimeout: 0 },
        );
        newer.dispose();
        assert.notDeepEqual(patchable(), originals, "the older policy still holds the hooks");
        assert.equal((await keepAliveOf(a)).idle, 5000, "the older policy, now the newest");
      } finally {
        newer.dispose();
        older.dispose();
      }
      assert.deepEqual(patchable(), originals);
    });
  },
  opts,
);

test("policy: a match that throws is reported to onError and counts as no match", async () => {
  await withServer(async (port) => {
    const reported: Array<[unknown, ConnectionInfo]> = [];
    const oops = new Error("match failed");
    using _older = setDefaultKeepAlive({ idle: 5000 });
    using _policy = setDefaultKeepAlive(POLICY, {
      match: () => {
        throw oops;
      },
      onError: (error, info) => reported.push([error, info]),
    });
    const socket = net.connect({ host: "127.0.0.1", port });
    try {
      await once(socket, "connect");
      assert.equal(reported.length, 1);
      assert.equal(reported[0][0], oops);
      assert.equal(reported[0][1].port, port);
      assert.equal(reported[0][1].socket, socket);
      // The older policy, next in line, applied; the connection works.
      assert.equal(getKeepAlive(socket).idle, 5000);
      socket.write("still usable");
    } finally {
      socket.destroy();
    }
  });
}, opts);

test("policy: an onError that throws reaches neither the opener nor the program", async () => {
  await withServer(async (port) => {
    const original = console.error;
    const printed: unknown[][] = [];
    console.error = (...args: unknown[]) => printed.push(args);
    try {
      using _policy = setDefaultKeepAlive(POLICY, {
        match: () => {
          throw new Error("match failed");
        },
        onError: () => {
          throw new Error("onError failed");
        },
      });
      const socket = net.connect({ host: "127.0.0.1", port });
      await once(socket, "connect");
      socket.destroy();
    } finally {
      console.error = original;
    }
    assert.equal(printed.length, 1, "printed once, with both errors");
    assert.match(String(printed[0][0]), /onError failed/);
    assert.match(String(printed[0][1]), /match failed/);
  });
}, opts);

// ---------------------------------------------------------------------------------------------
// The runtime's own setKeepAlive.

test(
  "policy: the runtime's own setKeepAlive(true, 60000) after connect is undone and reported",
  async () => {
    await withServer(async (port) => {
      const overrides: KeepAliveOverride[] = [];
      const policy = setDefaultKeepAlive(POLICY, { onOverride: (o) => overrides.push(o) });
      // As postgres.js does in its connect handler: setKeepAlive(true, 1000 * keep_alive).
      const socket = net.connect({ host: "127.0.0.1", port });
      try {
        await once(socket, "connect");
        assert.equal(socket.setKeepAlive(true, 60_000), socket, "returns what node:net returns");
        assert.deepEqual(getKeepAlive(socket), APPLIED, "idle is still the policy's");
        assert.equal(overrides.length, 1);
        const [override] = overrides;
        assert.deepEqual(override.call, [true, 60_000]);
        assert.equal(override.overridden.idle, 60_000, "what the call had set");
        if (isBun) assert.equal(override.overridden.count, 10, "Bun also sets count 10");
        assert.deepEqual(override.applied, APPLIED);
        assert.equal(override.api, "node:net");
        assert.equal(override.socket, socket);

        // Calls that change nothing the policy set (pg's setKeepAlive(true, 0)) are not reported.
        socket.setKeepAlive(true);
        socket.setKeepAlive(true, 0);
        assert.equal(overrides.length, 1);
        // Turning probing off is undone too.
        socket.setKeepAlive(false);
        assert.deepEqual(getKeepAlive(socket), APPLIED);
        assert.equal(overrides.length, 2);
        assert.equal(overrides[1].overridden.enabled, false);

        // Once the policy is disposed, the runtime's call has its way.
        policy.dispose();
        socket.setKeepAlive(true, 60_000);
        assert.equal(getKeepAlive(socket).idle, 60_000);
        assert.equal(overrides.length, 2);
      } finally {
        policy.dispose();
        socket.destroy();
      }
    });
  },
  opts,
);

test(
  "policy: an onOverride that throws goes to onError; the driver's call returns as usual",
  async () => {
    await withServer(async (port) => {
      const reported: unknown[] = [];
      const oops = new Error("onOverride failed");
      using _policy = setDefaultKeepAlive(POLICY, {
        onOverride: () => {
          throw oops;
        },
        onError: (error) => reported.push(error),
      });
      const socket = net.connect({ host: "127.0.0.1", port });
      try {
        await once(socket, "connect");
        assert.equal(socket.setKeepAlive(true, 60_000), socket);
        assert.deepEqual(getKeepAlive(socket), APPLIED);
        assert.deepEqual(reported, [oops]);
      } finally {
        socket.destroy();
      }
    });
  },
  opts,
);

test("policy: a setKeepAlive(true, 60000) queued before connect: the policy wins", async () => {
  await withServer(async (port) => {
    const overrides: KeepAliveOverride[] = [];
    using _policy = setDefaultKeepAlive(POLICY, { onOverride: (o) => overrides.push(o) });
    const socket = new net.Socket();
    socket.setKeepAlive(true, 60_000); // node:net applies it just before 'connect'
    socket.connect(port, "127.0.0.1");
    try {
      await once(socket, "connect");
      assert.deepEqual(getKeepAlive(socket), APPLIED);
      // Bun applies the queued call before 'connect': the policy comes after it, nothing is
      // overridden. Deno's node:net makes it from a 'connect' listener of its own, which runs
      // after the policy's: the guard sees it, undoes it and reports it.
      if (isBun) assert.equal(overrides.length, 0);
      else assert.deepEqual(overrides.map((o) => o.call), [[true, 60_000]]);
    } finally {
      socket.destroy();
    }
  });
}, opts);

test(
  "policy: the runtime socket's own setKeepAlive is undone too (Deno.TcpConn / Bun Socket)",
  async () => {
    await withServer(async (port) => {
      const overrides: KeepAliveOverride[] = [];
      using _policy = setDefaultKeepAlive(POLICY, { onOverride: (o) => overrides.push(o) });
      const [name, open] = Object.entries(NATIVE_OPENERS)[0];
      const opened = await open(port, "");
      try {
        // deno-lint-ignore no-explicit-any
        const socket = opened.socket as any;
        if (isBun) socket.setKeepAlive(true, 60_000); // Bun: idle 60 s, interval 1 s, count 10
        else socket.setKeepAlive(false); // Deno.TcpConn takes only on / off
        assert.deepEqual(getKeepAlive(opened.socket), APPLIED, name);
        assert.equal(overrides.length, 1);
        assert.equal(overrides[0].api, opened.api);
        assert.deepEqual(overrides[0].applied, APPLIED);
      } finally {
        opened.close();
      }
    });
  },
  opts,
);

test(
  "policy: one node:net Socket connecting again gets what its new connection matches",
  async () => {
    await withTwoServers(async (matched, other) => {
      const overrides: KeepAliveOverride[] = [];
      using _policy = setDefaultKeepAlive(POLICY, {
        match: ({ port }) => port === matched,
        onOverride: (o) => overrides.push(o),
      });
      const socket = new net.Socket();
      socket.on("error", () => {});
      const connectTo = async (port: number) => {
        socket.connect(port, "127.0.0.1");
        await once(socket, "connect");
      };
      const closed = async () => {
        const done = once(socket, "close");
        socket.destroy();
        await done;
      };
      try {
        await connectTo(matched);
        assert.deepEqual(getKeepAlive(socket), APPLIED);
        await closed();
        // Reconnected elsewhere, to a port the policy does not match: left alone, and the
        // driver's setKeepAlive there is not undone.
        await connectTo(other);
        assertUntouched(getKeepAlive(socket), "connected again, not matched");
        socket.setKeepAlive(true, 60_000);
        assert.equal(getKeepAlive(socket).idle, 60_000);
        assert.equal(overrides.length, 0);
        await closed();
        // And back: the policy again, and its guard.
        await connectTo(matched);
        assert.deepEqual(getKeepAlive(socket), APPLIED);
        // (node:net skips a call with the arguments of its last one: another delay.)
        socket.setKeepAlive(true, 50_000);
        assert.deepEqual(getKeepAlive(socket), APPLIED);
        assert.deepEqual(overrides.map((o) => o.call), [[true, 50_000]]);
      } finally {
        socket.destroy();
      }
    });
  },
  opts,
);

// ---------------------------------------------------------------------------------------------
// Bad options, and sockalive's own connections.

test("policy: bad options throw at the call, as setKeepAlive's, and patch nothing", () => {
  const originals = patchable();
  const cases: Array<[() => unknown, ErrorConstructor, RegExp]> = [
    [() => setDefaultKeepAlive({ count: 0 }), RangeError, /Cannot set keepalive: "count"/],
    [() => setDefaultKeepAlive({ idle: -1 }), RangeError, /"idle" must be more than 0/],
    // deno-lint-ignore no-explicit-any
    [() => setDefaultKeepAlive({ idel: 1000 } as any), TypeError, /unknown option "idel"/],
    // deno-lint-ignore no-explicit-any
    [() => setDefaultKeepAlive(null as any), TypeError, /options must be an object/],
    [
      // deno-lint-ignore no-explicit-any
      () => setDefaultKeepAlive(POLICY, { matches: () => true } as any),
      TypeError,
      /Cannot set the default keepalive: unknown option "matches"/,
    ],
    [
      // deno-lint-ignore no-explicit-any
      () => setDefaultKeepAlive(POLICY, { match: true } as any),
      TypeError,
      /"match" must be a function/,
    ],
    [
      // deno-lint-ignore no-explicit-any
      () => setDefaultKeepAlive(POLICY, "all" as any),
      TypeError,
      /the policy must be an object/,
    ],
  ];
  for (const [call, type, message] of cases) {
    assert.throws(call, (error: unknown) => error instanceof type && message.test(String(error)));
    assert.deepEqual(patchable(), originals);
  }
}, opts);

test(
  "policy: importing patches nothing; the first call does; the last dispose undoes it",
  async () => {
    const p = new Proc(runtimeCommand(fixture("policy_patches.ts")));
    await p.exited();
    assert.deepEqual(p.lines, [
      "imported: patched false",
      "called: patched true",
      "one of two disposed: patched true",
      "disposed: patched false",
    ], p.stderr);
  },
  opts,
);

if (!isBun) {
  test(
    "policy: deno: without --allow-ffi the call throws, names the flag, patches nothing",
    async () => {
      // A permission flag, so the child does not inherit the test's (as a bare `deno run` does).
      const p = new Proc([Deno.execPath(), "run", "--allow-net", fixture("policy_patches.ts")]);
      await p.exited();
      assert.equal(p.lines[0], "imported: patched false", p.stderr);
      assert.match(p.lines[1], /^threw ERR_FFI_PERMISSION .*--allow-ffi/);
      assert.equal(p.lines[2], "after the error: patched false");
    },
    opts,
  );
}

test("policy: sockalive's own connect keeps its own options; match is not asked", async () => {
  await withServer(async (port) => {
    const seen: ConnectionInfo[] = [];
    using _policy = setDefaultKeepAlive(POLICY, { match: (info) => seen.push(info) > 0 });
    const own = { idle: 5000, interval: 1000, count: 3, userTimeout: 8000 };
    const conn = connect({ port, keepAlive: own });
    try {
      await conn.opened;
      assert.deepEqual(conn.keepAlive, { enabled: true, ...own });
      assert.equal(seen.length, 0);
    } finally {
      await conn.close();
    }
  });
}, opts);

// ---------------------------------------------------------------------------------------------
// A pulled cable: a driver-shaped node:net client in its own process, in the client namespace.

test(
  "policy: netns: a node:net client opened after setDefaultKeepAlive, its driver's setKeepAlive(true, 60000) undone, is broken ETIMEDOUT within budget + 0.5 s of a pulled cable",
  async () => {
    const keepAlive = { idle: 1000, interval: 1000, count: 3, userTimeout: 3000 };
    const budget = detectionTime(keepAlive);
    const testNet = TestNet.create();
    let peer: Proc | undefined;
    let client: Proc | undefined;
    try {
      const port = 7000;
      peer = (await startPeer(SERVER_IP, port, testNet.exec("server"))).peer;
      client = new Proc([
        ...testNet.exec("client"),
        ...runtimeCommand(
          fixture("policy_client.ts"),
          [JSON.stringify({ hostname: SERVER_IP, port, keepAlive })],
        ),
      ]);
      const opened = JSON.parse(await client.waitFor(/"type":"opened"/, 10_000));
      assert.deepEqual(opened.keepAlive, { enabled: true, ...keepAlive });
      const override = JSON.parse(await client.waitFor(/"type":"override"/));
      assert.deepEqual(override.call, [true, 60_000]);
      assert.equal(override.overridden.idle, 60_000);
      await peer.waitFor(/^ACCEPTED/);
      const pulledAt = testNet.pull();
      const error = JSON.parse(await client.waitFor(/"type":"error"/, budget + 10_000));
      assert.equal(error.code, "ETIMEDOUT");
      const elapsed = error.at - pulledAt;
      console.log(
        `policy, pulled cable: ETIMEDOUT ${elapsed} ms after the pull (budget ${budget} ms)`,
      );
      assert.ok(elapsed <= budget + 500, `detected after ${elapsed} ms, budget + 0.5 s`);
      assert.ok(elapsed >= budget - 1000, `detected after ${elapsed} ms: too early`);
      await client.waitFor(/"type":"done"/);
      assert.ok(!client.lines.some((l) => l.includes("policy-error")), client.lines.join("\n"));
    } finally {
      await client?.kill();
      await peer?.kill();
      testNet.destroy();
    }
    assert.deepEqual(leftovers(), []);
  },
  netnsTestOptions(30_000),
);
