/**
 * The options of connect, listen and reconnecting are checked before any system call: a wrong
 * type, a value out of range or an unknown key is refused with an error naming the option, and
 * nothing is dialed or bound. Port 0 is "any free port" for listen only.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { preloadFfi, test } from "./harness.ts";
import { FakeRuntime } from "./fixtures/fake_kernel.ts";
import { connect, type ConnectOptions, listen, type ListenOptions, reconnecting } from "../mod.ts";
import { LiveConnection } from "../src/connection.ts";

preloadFfi();

/** Has aborted and addEventListener, but is no AbortSignal (no removeEventListener). */
const lookAlike = { aborted: false, addEventListener() {} } as unknown as AbortSignal;

/** A port that was just free: bound with port 0, then released. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

test("options: listen refuses a bad option before binding, so the port stays free", async () => {
  const port = await freePort();
  const refused: Array<[Record<string, unknown>, RegExp]> = [
    [{ keepAlive: { count: 0 } }, /^RangeError: Cannot set keepalive: "count"/],
    [{ maxBufferedBytes: 0 }, /^RangeError: Cannot listen: "maxBufferedBytes" must be/],
    [{ maxBufferedBytes: "1" }, /^TypeError: Cannot listen: "maxBufferedBytes" must be/],
    [{ keepAlive: 3 }, /^TypeError: Cannot listen: "keepAlive" must be/],
    [{ hostname: 127 }, /^TypeError: Cannot listen: "hostname" must be a string/],
    [{ signal: lookAlike }, /^TypeError: Cannot listen: "signal" must be an AbortSignal/],
    [{ onListenerError: "log" }, /^TypeError: Cannot listen: "onListenerError" must be/],
    [{ onAcceptError: {} }, /^TypeError: Cannot listen: "onAcceptError" must be a function/],
    [{ backlog: 10 }, /^TypeError: Cannot listen: unknown option "backlog"; expected one of/],
    [{ tls: true }, /^TypeError: Cannot listen: "tls" must be false or an object with cert and/],
  ];
  for (const [options, message] of refused) {
    assert.throws(() => listen({ port, ...options } as ListenOptions), message);
  }
  for (const bad of [-1, 65536, 1.5, NaN]) {
    assert.throws(() => listen({ port: bad }), /^RangeError: Cannot listen: "port"/, `${bad}`);
  }
  assert.throws(() => listen({ port: "80" } as never), /^TypeError: Cannot listen: "port"/);
  // Nothing above bound the port: it can be bound now, and it serves.
  await using server = listen({ port });
  assert.equal(server.addr.port, port);
});

test("options: connect refuses an unknown option, port 0 and a signal look-alike before dialing", () => {
  const runtime = new FakeRuntime();
  const refused: Array<[Record<string, unknown>, RegExp]> = [
    [{ port: 1, timeout: 5 }, /^TypeError: Cannot connect: unknown option "timeout"; expected/],
    [
      { port: 1, tls: { rejectUnauthorized: false } },
      /^TypeError: Cannot connect: unknown option "tls.rejectUnauthorized"; expected one of/,
    ],
    [{ port: 0 }, /^RangeError: Cannot connect: "port" must be an integer from 1 to 65535/],
    [{ port: 1, signal: lookAlike }, /^TypeError: Cannot connect: "signal" must be an AbortSignal/],
    [{ port: 1, maxBufferedBytes: 0 }, /^RangeError: Cannot connect: "maxBufferedBytes"/],
  ];
  for (const [options, message] of refused) {
    assert.throws(() => new LiveConnection(runtime, options as unknown as ConnectOptions), message);
    // The same through the public connect(), which would reach the network if it got that far.
    assert.throws(() => connect(options as unknown as ConnectOptions), message);
  }
  assert.equal(runtime.dials, 0);
  assert.equal(runtime.kernel.total, 0);
});

test("options: reconnecting checks every option and its own keys up front, under its own name", () => {
  let calls = 0;
  const connectFn = () => {
    calls++;
    throw new Error("not reached");
  };
  const refused: Array<[Record<string, unknown>, RegExp]> = [
    [{ port: 0 }, /^RangeError: Cannot reconnect: "port" must be an integer from 1 to 65535/],
    [{ port: 1, timeout: 5 }, /^TypeError: Cannot reconnect: unknown option "timeout"/],
    [{ port: 1, tls: { ca: [] } }, /^TypeError: Cannot reconnect: unknown option "tls.ca"/],
    [{ port: 1, tls: "yes" }, /^TypeError: Cannot reconnect: "tls" must be true, false or/],
    [{ port: 1, signal: lookAlike }, /^TypeError: Cannot reconnect: "signal" must be/],
    [{ port: 1, maxBufferedBytes: 0 }, /^RangeError: Cannot reconnect: "maxBufferedBytes"/],
    [{ port: 1, connectTimeout: -1 }, /^RangeError: Cannot reconnect: "connectTimeout"/],
    [{ port: 1, keepAlive: "on" }, /^TypeError: Cannot reconnect: "keepAlive"/],
    [{ port: 1, hostname: 1 }, /^TypeError: Cannot reconnect: "hostname"/],
    [{ port: 1, onListenerError: 1 }, /^TypeError: Cannot reconnect: "onListenerError"/],
  ];
  for (const [options, message] of refused) {
    assert.throws(() => reconnecting(options as never, connectFn), message);
  }
  assert.equal(calls, 0, "the connect function was never called");
});

test("options: only a real AbortSignal is taken, of every kind", async () => {
  for (
    const signal of [
      new AbortController().signal,
      AbortSignal.any([new AbortController().signal]),
      AbortSignal.timeout(60_000),
    ]
  ) {
    const conn = new LiveConnection(new FakeRuntime(), { port: 7000, signal });
    await conn.opened;
    await conn.close();
    listen({ port: 0, signal }).close();
  }
});
