/**
 * What a connection leaves behind and what user callbacks can do to it, in whichever runtime runs
 * the tests: once `closed` settles, no socket of a connect that never completed is left, nor
 * anything that keeps the process running; a callback that throws (even the error handler itself)
 * cannot wedge the state machine, `closed` or the process; and an ended connection, listener or
 * client leaves nothing on a signal that outlives it.
 */
import assert from "node:assert/strict";
import net from "node:net";
import process from "node:process";
import {
  fixture,
  netnsTestOptions,
  preloadFfi,
  Proc,
  runtimeCommand,
  sleep,
  test,
  withServer,
} from "./harness.ts";
import { SERVER_IP, TestNet } from "../tools/netns.ts";
import { connect, listen, reconnecting, type StateChangeEvent } from "../mod.ts";
import { ConnectionStateMachine, type Transition } from "../src/state.ts";

/** Resolves with `promise`, or rejects once `ms` have passed; the timer never outlives it. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Runs `fn` while collecting what escapes to the runtime (unhandled rejections, uncaught
 * exceptions) and what is printed with console.error, then restores both.
 */
async function watchingEscapes(
  fn: (printed: unknown[][]) => Promise<void> | void,
): Promise<unknown[]> {
  const escaped: unknown[] = [];
  const printed: unknown[][] = [];
  const onEscape = (error: unknown) => escaped.push(error);
  const consoleError = console.error;
  process.on("unhandledRejection", onEscape);
  process.on("uncaughtException", onEscape);
  console.error = (...args: unknown[]) => printed.push(args);
  try {
    await fn(printed);
    // A rejection nobody handles is reported a moment after the promise settles.
    await sleep(20);
  } finally {
    console.error = consoleError;
    process.off("unhandledRejection", onEscape);
    process.off("uncaughtException", onEscape);
  }
  return escaped;
}

preloadFfi();

const rethrow = (error: unknown) => {
  throw error;
};

/** A port nothing listens on: bound once, then closed. */
async function refusedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

test("lifetime: a throwing onObserverError cannot stop the state machine's deliveries", async () => {
  const escaped = await watchingEscapes((printed) => {
    const machine = new ConnectionStateMachine({ onObserverError: rethrow });
    const seen: string[] = [];
    machine.observe(() => {
      throw new Error("observer bug");
    });
    machine.observe((t: Transition) => {
      seen.push(`${t.from}->${t.to}`);
      // A transition caused by an observer is queued behind the current one.
      if (t.to === "open") machine.send({ type: "close" });
    });
    assert.doesNotThrow(() => machine.send({ type: "opened" }));
    assert.deepEqual(seen, ["connecting->open", "open->closed-gracefully"]);
    assert.equal(machine.state, "closed-gracefully");
    // Both observer errors reached the fallback, each with the handler's own error.
    assert.equal(printed.length, 2);
    assert.match(String(printed[0][0]), /onListenerError threw/);
  });
  assert.deepEqual(escaped, []);
});

test(
  "lifetime: a throwing onListenerError is contained: every listener is called, close() does not throw, closed settles after a peer FIN",
  async () => {
    const escaped = await watchingEscapes(async (printed) => {
      await withServer(async (port, server) => {
        const seen: string[] = [];
        const record = (e: StateChangeEvent) => seen.push(`${e.from}->${e.to}`);
        const wedge = (conn: ReturnType<typeof connect>) => {
          conn.addEventListener("statechange", () => {
            throw new Error("listener bug");
          });
          conn.addEventListener("statechange", {
            get handleEvent(): (e: StateChangeEvent) => void {
              throw new Error("handleEvent getter bug");
            },
          });
          conn.addEventListener("statechange", record);
        };

        // Ended by the peer: `closed` needs the connection to be read, which starts only after
        // the open transition has been delivered.
        const byPeer = connect({ port, onListenerError: rethrow });
        wedge(byPeer);
        await within(byPeer.opened, 2000, "opened");
        const closed = byPeer.closed;
        let info: Awaited<typeof closed> | undefined;
        void closed.then((i) => (info = i));
        // The server may see the connection a moment after the client does.
        for (const deadline = Date.now() + 3000; !info && Date.now() < deadline;) {
          server.endAll();
          await sleep(20);
        }
        assert.equal(info?.state, "closed-gracefully", "closed settles after the peer's FIN");
        assert.equal(info?.by, "peer");

        // Ended locally: close() runs the listeners synchronously.
        const byUs = connect({ port, onListenerError: rethrow });
        wedge(byUs);
        await within(byUs.opened, 2000, "opened");
        let closing: Promise<unknown> | undefined;
        assert.doesNotThrow(() => (closing = byUs.close()));
        assert.equal((await within(closing!, 2000, "close()") as { by: string }).by, "local");

        assert.deepEqual(seen, [
          "connecting->open",
          "open->closed-gracefully",
          "connecting->open",
          "open->closed-gracefully",
        ]);
        // Two throwing listeners, four transitions: each error reached the fallback.
        assert.equal(printed.length, 8);
      });
    });
    assert.deepEqual(escaped, []);
  },
  { timeout: 10_000 },
);

test(
  "lifetime: reconnecting with a throwing onListenerError and throwing listeners still gives up and stops",
  async () => {
    const port = await refusedPort();
    const escaped = await watchingEscapes(async (printed) => {
      const client = reconnecting({
        port,
        onListenerError: rethrow,
        reconnect: { initialDelay: 1, maxDelay: 1, maxAttempts: 2 },
      });
      const log: string[] = [];
      for (const type of ["attempt", "statechange", "giveup"] as const) {
        client.addEventListener(type, () => {
          throw new Error(`${type} listener bug`);
        });
        client.addEventListener(type, (e: Event) => log.push(e.type));
      }
      const stopped = await within(client.stopped, 3000, "stopped");
      assert.equal(stopped.reason, "giveup");
      assert.deepEqual(log, ["attempt", "statechange", "attempt", "statechange", "giveup"]);
      assert.ok(printed.length >= 5, `each listener error was reported (${printed.length})`);
    });
    assert.deepEqual(escaped, []);
  },
  { timeout: 10_000 },
);

/**
 * A real AbortSignal that keeps the listeners currently on it, as a long-lived signal shared by
 * many connections would hold them.
 */
function countingSignal(): { signal: AbortSignal; live: Set<unknown> } {
  const signal = new AbortController().signal;
  const live = new Set<unknown>();
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  Object.assign(signal, {
    addEventListener(type: string, fn: EventListener, options?: AddEventListenerOptions) {
      live.add(fn);
      add(type, fn, options);
    },
    removeEventListener(type: string, fn: EventListener, options?: EventListenerOptions) {
      live.delete(fn);
      remove(type, fn, options);
    },
  });
  return { signal, live };
}

test("lifetime: an ended connection leaves no listener on its signals, however it ended", async () => {
  const port = await refusedPort();
  await withServer(async (open, server) => {
    const endings: Record<string, (conn: ReturnType<typeof connect>) => Promise<unknown>> = {
      "peer FIN": async (conn) => {
        await conn.opened;
        for (const deadline = Date.now() + 3000; conn.state === "open" && Date.now() < deadline;) {
          server.endAll();
          await sleep(20);
        }
      },
      "close() while open": async (conn) => {
        await conn.opened;
        await conn.close();
      },
      "close() while connecting": (conn) => conn.close(),
      "refused": () => Promise.resolve(),
    };
    for (const [how, end] of Object.entries(endings)) {
      const { signal, live } = countingSignal();
      const conn = connect({ port: how === "refused" ? port : open, signal });
      conn.addEventListener("statechange", () => {}, { signal });
      conn.addEventListener("statechange", { handleEvent() {} }, { signal, once: true });
      assert.equal(live.size, 3, `${how}: connect's and both listeners' abort listeners`);
      await end(conn);
      await within(conn.closed, 3000, `${how}: closed`);
      assert.equal(live.size, 0, `${how}: left on the signal after closed`);
      // Added after the end: never called, so nothing is kept for it.
      conn.addEventListener("statechange", () => {}, { signal });
      assert.equal(live.size, 0, `${how}: a listener added after the end`);
    }

    // Removing a listener takes its abort listener off at once, while the connection goes on.
    const { signal, live } = countingSignal();
    const conn = connect({ port: open });
    const listener = () => {};
    conn.addEventListener("statechange", listener, { signal });
    conn.addEventListener("statechange", listener, { signal }); // replaces, adds no second one
    assert.equal(live.size, 1);
    conn.removeEventListener("statechange", listener);
    assert.equal(live.size, 0);
    await conn.close();
  });
});

test("lifetime: a closed listener leaves no listener on its signal", () => {
  const { signal, live } = countingSignal();
  for (let i = 0; i < 3; i++) {
    const server = listen({ port: 0, signal });
    assert.equal(live.size, 1);
    server.close();
    assert.equal(live.size, 0);
  }
});

test("lifetime: a stopped reconnecting client leaves no listener on its signals", async () => {
  const port = await refusedPort();
  for (const stop of ["giveup", "close"] as const) {
    const { signal, live } = countingSignal();
    const client = reconnecting({
      port,
      signal,
      reconnect: { initialDelay: 1, maxDelay: 1, maxAttempts: stop === "giveup" ? 2 : Infinity },
    });
    client.addEventListener("attempt", () => {}, { signal });
    client.addEventListener("statechange", () => {}, { signal, once: true });
    client.addEventListener("giveup", () => {}, { signal });
    assert.equal(live.size, 4, `${stop}: the client's and three listeners' abort listeners`);
    if (stop === "close") await client.close();
    const stopped = await within(client.stopped, 3000, `${stop}: stopped`);
    assert.equal(stopped.reason, stop);
    assert.equal(live.size, 0, `${stop}: left on the signal after stopped`);
    client.addEventListener("attempt", () => {}, { signal });
    assert.equal(live.size, 0, `${stop}: a listener added after the stop`);
  }
});

test(
  "lifetime/netns: a connect that is never answered, ended by connectTimeout, close() or abort, leaves no socket and no process once closed settles",
  async () => {
    const net = TestNet.create();
    try {
      net.pull(); // the server's end goes down: SYNs to it are never answered
      const expected = {
        timeout: { state: "broken", code: "ETIMEDOUT" },
        close: { state: "closed-gracefully", by: "local" },
        abort: { state: "broken", code: "ABORTED" },
      };
      for (const [end, outcome] of Object.entries(expected)) {
        const config = { hostname: SERVER_IP, port: 7000, end };
        const child = new Proc([
          ...net.exec("client"),
          ...runtimeCommand(fixture("lifetime_client.ts"), [JSON.stringify(config)]),
        ]);
        try {
          const closed = JSON.parse(await child.waitFor(/^\{/, 10_000));
          assert.deepEqual(
            { state: closed.state, by: closed.by, code: closed.code },
            { by: undefined, code: undefined, ...outcome },
          );
          assert.equal(closed.connecting, "", `${end}: still connecting once closed settled`);
          const code = await within(child.exited(), 3000, `${end}: the process ends`);
          const after = Date.now() - closed.at;
          assert.equal(code, 0, child.stderr);
          assert.ok(after < 1000, `${end}: the process ended ${after} ms after closed settled`);
        } finally {
          await child.kill();
        }
      }
    } finally {
      net.destroy();
    }
  },
  netnsTestOptions(30_000),
);
