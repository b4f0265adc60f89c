/**
 * One code per cause, in both runtimes: a name that does not resolve is `ENOTFOUND`, Deno without
 * `--allow-net` is `ERR_NET_PERMISSION`; and a reconnecting client stops at once, with reason
 * `"permanent"`, on a failure no retry can fix (no FFI or net permission, no FFI, an OS not
 * supported), instead of retrying forever.
 */
import assert from "node:assert/strict";
import { fixture, isBun, preloadFfi, Proc, test, withServer } from "./harness.ts";
import { connect, reconnecting, SocketOptionError } from "../mod.ts";
import { errorCode } from "../src/errors.ts";
import { FakeRuntime } from "./fixtures/fake_kernel.ts";
import { LiveConnection } from "../src/connection.ts";
import { sockalive } from "../src/api.ts";
import type { AcceptSource, Adapter } from "../src/transport.ts";

preloadFfi();

test("codes: Deno's errors without a code map to one code per cause", () => {
  const plain = (message: string, name = "Error") => Object.assign(new Error(message), { name });
  assert.equal(
    errorCode(plain("failed to lookup address information: Name or service not known")),
    "ENOTFOUND",
  );
  assert.equal(
    errorCode(plain("failed to lookup address information: Temporary failure in name resolution")),
    "EAI_AGAIN",
  );
  assert.equal(
    errorCode(plain('Requires net access to "x:1"', "NotCapable")),
    "ERR_NET_PERMISSION",
  );
  assert.equal(
    errorCode(plain("x", "toString")),
    "EIO",
    "a name on Object.prototype is not a code",
  );
  assert.equal(errorCode(Object.assign(new Error("x"), { code: "ENOTFOUND" })), "ENOTFOUND");
});

test("codes: a host name that does not resolve ends broken ENOTFOUND", async () => {
  const conn = connect({ hostname: "no-such-host.invalid", port: 80 });
  const info = await conn.closed;
  assert.deepEqual([info.state, info.code], ["broken", "ENOTFOUND"]);
  await assert.rejects(conn.opened);
}, { timeout: 15_000 });

test("codes: reconnecting stops at once on a failure no retry can fix", async () => {
  for (const code of ["ERR_FFI_PERMISSION", "ERR_FFI_UNAVAILABLE", "ERR_UNSUPPORTED_PLATFORM"]) {
    const runtime = new FakeRuntime();
    runtime.calls = () => {
      throw new SocketOptionError("no", { code, syscall: "dlopen", option: "socket" });
    };
    let dials = 0;
    let giveups = 0;
    const client = reconnecting(
      { port: 7000, reconnect: { initialDelay: 1, maxDelay: 1 } },
      (o) => {
        dials++;
        return new LiveConnection(runtime, o);
      },
    );
    client.addEventListener("giveup", () => giveups++);
    const stopped = await client.stopped;
    assert.equal(stopped.reason, "permanent", code);
    assert.equal(stopped.last?.code, code);
    assert.ok(stopped.error instanceof SocketOptionError);
    assert.deepEqual([dials, giveups], [1, 1], `${code}: retried`);
  }
});

test("codes: a failure a retry can fix (ECONNREFUSED) is still retried", async () => {
  const client = reconnecting({
    port: 1,
    reconnect: { initialDelay: 1, maxDelay: 1, maxAttempts: 3 },
  });
  const stopped = await client.stopped;
  assert.deepEqual([stopped.reason, stopped.attempts, stopped.last?.code], [
    "giveup",
    3,
    "ECONNREFUSED",
  ]);
});

// Deno only: its permissions are per process; Bun has none to withhold.
if (!isBun) {
  test("codes: Deno without --allow-ffi or --allow-net: reconnecting stops at once", async () => {
    await withServer(async (port) => {
      for (
        const [flags, code] of [
          [["--allow-net", "--allow-env", "--allow-read"], "ERR_FFI_PERMISSION"],
          [["--allow-ffi", "--allow-env", "--allow-read"], "ERR_NET_PERMISSION"],
        ] as const
      ) {
        const child = new Proc([
          Deno.execPath(),
          "run",
          "--no-prompt",
          ...flags,
          fixture("permanent_client.ts"),
          String(port),
        ]);
        assert.equal(await child.exited(), 0, child.stderr);
        const result = JSON.parse(child.lines.at(-1)!);
        assert.deepEqual(
          [result.reason, result.code, result.attempts],
          ["permanent", code, 1],
          code,
        );
      }
    });
  }, { sanitize: false, timeout: 30_000 });
}

/** An adapter over a fake runtime whose listen() only counts binds. */
function listeningAdapter(runtime: FakeRuntime): { adapter: Adapter<never>; binds: () => number } {
  let binds = 0;
  const adapter: Adapter<never> = Object.assign(runtime, {
    listen: (): AcceptSource => {
      binds++;
      return { addr: { hostname: "127.0.0.1", port: 7000 }, start() {}, close() {} };
    },
    target: (): never => {
      throw new TypeError("not here");
    },
    connectHooks: { install: () => () => {} },
  });
  return { adapter, binds: () => binds };
}

test("codes: listen() without the FFI or on an unsupported OS throws at the call, binding nothing", () => {
  for (const code of ["ERR_FFI_PERMISSION", "ERR_FFI_UNAVAILABLE", "ERR_UNSUPPORTED_PLATFORM"]) {
    const runtime = new FakeRuntime();
    const fail = () => {
      throw new SocketOptionError("no", { code, syscall: "dlopen", option: "socket" });
    };
    if (code === "ERR_UNSUPPORTED_PLATFORM") runtime.platform = fail;
    else runtime.calls = fail;
    const { adapter, binds } = listeningAdapter(runtime);
    const api = sockalive(adapter);
    assert.throws(
      () => api.listen({ port: 0, keepAlive: { idle: 1000 } }),
      (e: unknown) => e instanceof SocketOptionError && e.code === code,
    );
    assert.throws(() => api.listen({ port: 0 }), SocketOptionError, `${code}: default keepalive`);
    assert.equal(binds(), 0, `${code}: bound although it threw`);
    if (code !== "ERR_UNSUPPORTED_PLATFORM") {
      // Keepalive off needs no FFI.
      api.listen({ port: 0, keepAlive: false }).close();
      assert.equal(binds(), 1);
    }
  }
});

test("codes: keepAlive: false opens without the FFI, and says so where the socket is needed", async () => {
  const runtime = new FakeRuntime();
  runtime.calls = () => {
    throw new SocketOptionError("no FFI", {
      code: "ERR_FFI_UNAVAILABLE",
      syscall: "dlopen",
      option: "socket",
    });
  };
  const conn = new LiveConnection(runtime, { port: 7000, keepAlive: false });
  await conn.opened;
  assert.equal(conn.state, "open");
  assert.equal(conn.keepAlive, undefined, "nothing read back");
  for (const use of [() => conn.health(), () => conn.getKeepAlive(), () => conn.setKeepAlive({})]) {
    assert.throws(
      use,
      (e: unknown) => e instanceof SocketOptionError && e.code === "ERR_FFI_UNAVAILABLE",
    );
  }
  assert.equal((await conn.close()).state, "closed-gracefully");
  // With keepalive on, the same connection cannot be monitored: broken, as before.
  const monitored = new LiveConnection(runtime, { port: 7000 });
  assert.deepEqual(
    [(await monitored.closed).state, (await monitored.closed).code],
    ["broken", "ERR_FFI_UNAVAILABLE"],
  );
});
