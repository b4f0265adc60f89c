/**
 * The real Windows code path: Windows builds of Deno and Bun under Wine call ws2_32.dll
 * (setsockopt, WSAIoctl SIO_KEEPALIVE_VALS, getsockname/getpeername on SOCKET handles). The
 * client runs under Wine against the python peer on Linux loopback, and the Linux side reads
 * what Wine applied to the real socket (tools/wine/linux-sockopts.py) as an outside witness.
 *
 * Needs WINE, DENO_EXE and BUN_EXE from `eval "$(bash tools/wine/setup.sh)"` (.ci/run does it).
 * Without them it is skipped with a message, except under CI=true, where it fails.
 * Run by the Deno test runner only: one orchestrator drives both Windows runtimes.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import process from "node:process";
import { command, fixture, isBun, Proc, startPeer, test } from "./harness.ts";

const { WINE, DENO_EXE, BUN_EXE } = process.env;
const witness = new URL("../tools/wine/linux-sockopts.py", import.meta.url).pathname;
const missing = !WINE || !DENO_EXE || !BUN_EXE
  ? 'WINE, DENO_EXE and BUN_EXE are not set; run: eval "$(bash tools/wine/setup.sh)"'
  : !existsSync(witness)
  ? `${witness} is missing`
  : undefined;
const skip = missing && process.env.CI !== "true" ? missing : undefined;
const opts = { sanitize: false, timeout: 120_000, skip };

const windows = {
  deno: (script: string, arg: string) => [WINE!, DENO_EXE!, "run", "-A", script, arg],
  bun: (script: string, arg: string) => [WINE!, BUN_EXE!, script, arg],
};

/** What Wine set on the real Linux socket whose local port is `port`. */
async function linuxSide(port: number): Promise<Record<string, number>> {
  const p = new Proc(["python3", witness, String(port)]);
  await p.exited();
  const line = p.lines.find((l) => l.startsWith("{"));
  assert.ok(line, `no socket with local port ${port}: ${p.lines.join("\n")}${p.stderr}`);
  return JSON.parse(line);
}

if (!isBun) {
  test("wine (deno.exe): --allow-ffi=C:\\Windows\\System32\\ws2_32.dll is enough", async () => {
    if (missing) throw new Error(`Cannot run the Windows suite under CI=true: ${missing}`);
    const run = async (allowFfi: string) => {
      const p = new Proc([
        WINE!,
        DENO_EXE!,
        "run",
        "--no-prompt",
        "--allow-net",
        `--allow-ffi=${allowFfi}`,
        fixture("narrowed_ffi.ts"),
        JSON.stringify({ idle: 3000, interval: 2000 }), // Wine cannot set a count
      ]);
      await p.exited();
      const line = p.lines.find((l) => l.startsWith("{"));
      assert.ok(line, `no result: ${p.lines.join("\n")}${p.stderr}`);
      return JSON.parse(line);
    };
    const path = "C:\\Windows\\System32\\ws2_32.dll";
    const allowed = await run(path);
    assert.deepEqual([allowed.code, allowed.keepAlive?.idle], [undefined, 3000], allowed.message);
    const refused = await run("ws2_32.dll");
    assert.equal(refused.code, "ERR_FFI_PERMISSION");
    assert.ok(refused.message.includes(`run Deno with --allow-ffi=${path} (`), refused.message);
  }, opts);

  for (const [name, argv] of Object.entries(windows)) {
    test(
      `wine (${name}.exe): keepalive reaches the real socket; a peer reset ends the connection`,
      async () => {
        if (missing) throw new Error(`Cannot run the Windows suite under CI=true: ${missing}`);
        const { peer, port } = await startPeer();
        const config = { hostname: "127.0.0.1", port, keepAlive: { idle: 3000, interval: 2000 } };
        const client = new Proc(argv(fixture("client.ts"), JSON.stringify(config)));
        try {
          const opened = JSON.parse(await client.waitFor(/"type":"opened"/, 90_000));
          // What the library reports: idle and interval as set (Windows cannot read them back),
          // count the fixed 10 because Wine rejects TCP_KEEPCNT (10042).
          assert.equal(opened.keepAlive.enabled, true);
          assert.equal(opened.keepAlive.idle, 3000);
          assert.equal(opened.keepAlive.interval, 2000);
          assert.equal(opened.keepAlive.count, 10);
          assert.ok(opened.keepAlive.unverified.includes("idle"));
          assert.ok(opened.keepAlive.unverified.includes("interval"));
          // What the kernel got, read from the Linux side.
          const real = await linuxSide(opened.local.port);
          assert.equal(real.SO_KEEPALIVE, 1);
          assert.equal(real.TCP_KEEPIDLE, 3);
          assert.equal(real.TCP_KEEPINTVL, 2);
          await peer.waitFor(/^ACCEPTED/);
          await command(peer, "reset");
          const done = JSON.parse(await client.waitFor(/"type":"done"/, 30_000));
          // A Wine difference from real Windows, seen with a bare Deno.TcpConn too (no sockalive
          // involved): for an RST, Wine hands the runtime end-of-stream (recv returns 0, and the
          // next send fails with ECONNRESET), apparently because wineserver reads, and so
          // clears, the socket error while polling. Real Windows fails recv with WSAECONNRESET,
          // which both runtimes report as ECONNRESET and sockalive as broken. Asserted as
          // observed, so that a change in Wine shows up here instead of being hidden.
          assert.equal(done.state, "closed-gracefully");
          assert.equal(done.by, "peer");
        } finally {
          await client.kill();
          await peer.kill();
        }
      },
      opts,
    );

    test(
      `wine (${name}.exe): 64 KiB then FIN arrive intact, then closed-gracefully by peer`,
      async () => {
        if (missing) throw new Error(`Cannot run the Windows suite under CI=true: ${missing}`);
        const { peer, port } = await startPeer();
        const config = {
          hostname: "127.0.0.1",
          port,
          keepAlive: { idle: 1500, interval: 1500, count: 10 },
        };
        const client = new Proc(argv(fixture("client.ts"), JSON.stringify(config)));
        try {
          const opened = JSON.parse(await client.waitFor(/"type":"opened"/, 90_000));
          assert.equal(opened.keepAlive.idle, 1500, "Windows keeps milliseconds");
          assert.equal(opened.keepAlive.count, 10, "asking for the fixed 10 is not an error");
          const real = await linuxSide(opened.local.port);
          assert.equal(real.TCP_KEEPIDLE, 2, "Wine rounds 1500 ms up to whole seconds for Linux");
          await peer.waitFor(/^ACCEPTED/);
          await command(peer, "send 65536");
          await command(peer, "close");
          const done = JSON.parse(await client.waitFor(/"type":"done"/, 30_000));
          assert.equal(done.state, "closed-gracefully");
          assert.equal(done.by, "peer");
          assert.equal(done.bytes, 65536);
          assert.equal(done.pattern, true);
        } finally {
          await client.kill();
          await peer.kill();
        }
      },
      opts,
    );

    test(`wine (${name}.exe): a count Wine cannot set is a clear error, not hidden`, async () => {
      if (missing) throw new Error(`Cannot run the Windows suite under CI=true: ${missing}`);
      const { peer, port } = await startPeer();
      const config = {
        hostname: "127.0.0.1",
        port,
        keepAlive: { idle: 2000, interval: 1000, count: 5 },
      };
      const client = new Proc(argv(fixture("client.ts"), JSON.stringify(config)));
      try {
        const rejected = JSON.parse(await client.waitFor(/"type":"rejected"/, 90_000));
        assert.equal(rejected.code, "WSAENOPROTOOPT");
        const done = JSON.parse(await client.waitFor(/"type":"done"/, 30_000));
        assert.equal(done.state, "broken");
        assert.equal(done.code, "WSAENOPROTOOPT");
      } finally {
        await client.kill();
        await peer.kill();
      }
    }, opts);

    // Bun for Windows under Wine resolves a connect to a closed port (a bare Bun.connect does
    // too), so only deno.exe can show the refused path here.
    if (name === "deno") {
      test(`wine (${name}.exe): nothing listening -> broken ECONNREFUSED`, async () => {
        if (missing) throw new Error(`Cannot run the Windows suite under CI=true: ${missing}`);
        const { peer, port } = await startPeer();
        await peer.kill(); // the port is now closed
        const client = new Proc(
          argv(fixture("client.ts"), JSON.stringify({ hostname: "127.0.0.1", port })),
        );
        try {
          const rejected = JSON.parse(await client.waitFor(/"type":"rejected"/, 90_000));
          assert.equal(rejected.code, "ECONNREFUSED");
          const done = JSON.parse(await client.waitFor(/"type":"done"/, 30_000));
          assert.equal(done.state, "broken");
          assert.equal(done.code, "ECONNREFUSED");
        } finally {
          await client.kill();
        }
      }, opts);
    }

    test(`wine (${name}.exe): setKeepAlive/getKeepAlive on the runtime's own socket`, async () => {
      if (missing) throw new Error(`Cannot run the Windows suite under CI=true: ${missing}`);
      const { peer, port } = await startPeer();
      const config = {
        hostname: "127.0.0.1",
        port,
        native: true,
        keepAlive: { idle: 5000, interval: 1000 },
      };
      const client = new Proc(argv(fixture("client.ts"), JSON.stringify(config)));
      try {
        const set = JSON.parse(await client.waitFor(/"type":"native-(set|error)"/, 90_000));
        assert.equal(set.type, "native-set", JSON.stringify(set));
        assert.equal(set.keepAlive.enabled, true);
        assert.equal(set.keepAlive.idle, 5000);
        assert.equal(set.keepAlive.interval, 1000);
        const got = JSON.parse(await client.waitFor(/"type":"native-get"/, 30_000));
        assert.deepEqual(got.keepAlive, set.keepAlive);
      } finally {
        await client.kill();
        await peer.kill();
      }
    }, opts);
  }
}
