/**
 * Real network faults between two network namespaces, with the client in its own process run by
 * the same runtime as the tests (Deno or Bun) and the python peer on the other side.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  command,
  fixture,
  netnsTestOptions,
  Proc,
  runtimeCommand,
  startPeer,
  test,
} from "./harness.ts";
import { leftovers, SERVER_IP, TestNet } from "../tools/netns.ts";

interface Scenario {
  keepAlive?: object;
  writeEveryMs?: number;
  port?: number;
  listen?: boolean;
  stdin?: boolean;
}

/** Runs one scenario; `act` drives the fault; always deletes the namespaces. */
async function scenario(
  s: Scenario,
  act: (ctx: { net: TestNet; client: Proc; peer?: Proc }) => Promise<void>,
): Promise<
  { states: Array<Record<string, unknown>>; done: Record<string, unknown>; client: Proc }
> {
  const net = TestNet.create();
  let peer: Proc | undefined;
  let client: Proc | undefined;
  try {
    const port = s.port ?? 7000;
    if (s.listen !== false) peer = (await startPeer(SERVER_IP, port, net.exec("server"))).peer;
    const config = {
      hostname: SERVER_IP,
      port,
      keepAlive: s.keepAlive,
      writeEveryMs: s.writeEveryMs,
      stdin: s.stdin,
    };
    client = new Proc([
      ...net.exec("client"),
      ...runtimeCommand(fixture("client.ts"), [JSON.stringify(config)]),
    ]);
    await act({ net, client, peer });
    const done = JSON.parse(await client.waitFor(/"type":"done"/, 20_000));
    const states = client.lines.filter((l) => l.includes('"type":"state"')).map((l) =>
      JSON.parse(l)
    );
    return { states, done, client };
  } finally {
    await client?.kill();
    await peer?.kill();
    net.destroy();
  }
}

const opened = (client: Proc) => client.waitFor(/"type":"opened"/, 10_000);
const brokenAt = (states: Array<Record<string, unknown>>) =>
  states.find((s) => s.to === "broken")!.at as number;
const path = (states: Array<Record<string, unknown>>) => states.map((s) => `${s.from}->${s.to}`);

test(
  "netns: pulled cable while idle -> broken ETIMEDOUT within idle + interval x count + 1 s",
  async () => {
    let pulledAt = 0;
    const { states, done } = await scenario(
      { keepAlive: { idle: 1000, interval: 1000, count: 3 } },
      async ({ net, client, peer }) => {
        const line = JSON.parse(await opened(client));
        assert.deepEqual(line.keepAlive, {
          enabled: true,
          idle: 1000,
          interval: 1000,
          count: 3,
          userTimeout: 4000,
        });
        await peer!.waitFor(/^ACCEPTED/);
        pulledAt = net.pull();
      },
    );
    assert.deepEqual(path(states), ["connecting->open", "open->broken"]);
    assert.equal(done.state, "broken");
    assert.equal(done.code, "ETIMEDOUT");
    const elapsed = brokenAt(states) - pulledAt;
    console.log(`pulled cable (idle): ETIMEDOUT ${elapsed} ms after the pull (budget 4000 ms)`);
    assert.ok(elapsed <= 5000, `detected after ${elapsed} ms, budget + 1 s is 5000 ms`);
    assert.ok(elapsed >= 2000, `detected after ${elapsed} ms: too early to be keepalive`);
  },
  netnsTestOptions(30_000),
);

test(
  "netns: pulled cable while writing, userTimeout 3000 -> broken ETIMEDOUT within 4.5 s",
  async () => {
    let pulledAt = 0;
    const { states, done } = await scenario(
      {
        keepAlive: { idle: 30000, interval: 10000, count: 3, userTimeout: 3000 },
        writeEveryMs: 50,
      },
      async ({ net, client, peer }) => {
        await opened(client);
        await command(peer!, "read");
        await new Promise((r) => setTimeout(r, 300)); // data is flowing
        pulledAt = net.pull();
      },
    );
    assert.equal(done.state, "broken");
    assert.equal(done.code, "ETIMEDOUT");
    const elapsed = brokenAt(states) - pulledAt;
    console.log(
      `pulled cable (writing): ETIMEDOUT ${elapsed} ms after the pull (userTimeout 3000 ms)`,
    );
    assert.ok(elapsed <= 4500, `detected after ${elapsed} ms, expected <= 4500 ms`);
    assert.ok(elapsed >= 2500, `detected after ${elapsed} ms: earlier than the user timeout`);
  },
  netnsTestOptions(30_000),
);

test("netns: peer resets (SO_LINGER 0) -> broken ECONNRESET", async () => {
  const { states, done } = await scenario({}, async ({ client, peer }) => {
    await opened(client);
    await peer!.waitFor(/^ACCEPTED/);
    await command(peer!, "reset");
  });
  assert.deepEqual(path(states), ["connecting->open", "open->broken"]);
  assert.equal(done.code, "ECONNRESET");
  assert.equal(done.readError, "ECONNRESET");
}, netnsTestOptions(30_000));

test(
  "netns: peer sends 1 MiB then closes -> all of it intact, then closed-gracefully by peer",
  async () => {
    const { states, done } = await scenario({}, async ({ client, peer }) => {
      await opened(client);
      await peer!.waitFor(/^ACCEPTED/);
      await command(peer!, `send ${1 << 20}`);
      await command(peer!, "close");
    });
    assert.deepEqual(path(states), ["connecting->open", "open->closed-gracefully"]);
    assert.equal(done.bytes, 1 << 20);
    assert.equal(done.pattern, true);
    assert.equal(done.state, "closed-gracefully");
    assert.equal(done.by, "peer");
  },
  netnsTestOptions(30_000),
);

test("netns: nothing listening -> opened rejects, broken ECONNREFUSED", async () => {
  const { states, done, client } = await scenario({ listen: false, port: 7001 }, async () => {});
  assert.equal(JSON.parse(await client.waitFor(/"type":"rejected"/)).code, "ECONNREFUSED");
  assert.deepEqual(path(states), ["connecting->broken"]);
  assert.equal(done.code, "ECONNREFUSED");
}, netnsTestOptions(30_000));

test("netns: local close -> closed-gracefully by local", async () => {
  const { states, done } = await scenario({ stdin: true }, async ({ client, peer }) => {
    await opened(client);
    await peer!.waitFor(/^ACCEPTED/);
    client.send("close");
  });
  assert.deepEqual(path(states), ["connecting->open", "open->closed-gracefully"]);
  assert.equal(done.state, "closed-gracefully");
  assert.equal(done.by, "local");
}, netnsTestOptions(30_000));

test("netns: every namespace the tests created is gone", () => {
  assert.deepEqual(leftovers(), []);
  const net = TestNet.create();
  assert.ok(TestNet.exists(net.client) && TestNet.exists(net.server));
  net.destroy();
  assert.ok(!TestNet.exists(net.client) && !TestNet.exists(net.server));
  assert.deepEqual(leftovers(), []);
}, netnsTestOptions(10_000));

test(
  "faults: a socket inherited from another namespace with our connection's addresses is never touched",
  async () => {
    const net = TestNet.create();
    let holder: Proc | undefined;
    try {
      // Both namespaces hold both addresses, so each can have 198.18.0.2:7100 <-> 198.18.0.1:40100.
      for (const ns of [net.client, net.server]) {
        for (const address of ["198.18.0.1/32", "198.18.0.2/32"]) {
          execFileSync("ip", ["-n", ns, "addr", "replace", address, "dev", "lo"]);
        }
      }
      holder = new Proc([
        ...net.exec("client"),
        "python3",
        fixture("foreign.py"),
        ...net.exec("server"),
        ...runtimeCommand(fixture("foreign_child.ts")),
      ]);
      const result = JSON.parse(await holder.waitFor(/^\{"type":"(set|error)"/, 20_000));
      const ss = (ns: string) =>
        execFileSync("ip", ["netns", "exec", ns, "ss", "-tnoiH", "state", "established"])
          .toString().split("\n").filter((l) => /198\.18\.0\.2:7100\s+198\.18\.0\.1:40100/.test(l));
      const foreign = ss(net.client);
      const own = ss(net.server);
      holder.send("done");
      assert.equal(foreign.length, 1, `the foreign socket: ${foreign}`);
      assert.doesNotMatch(foreign[0], /keepalive/, "the foreign socket got keepalive");
      assert.equal(result.type, "set", `setKeepAlive failed: ${JSON.stringify(result)}`);
      assert.equal(result.keepAlive.idle, 7000);
      assert.equal(result.keepAlive.userTimeout, 12_345);
      assert.equal(own.length, 1, `our socket: ${own}`);
      assert.match(own[0], /timer:\(keepalive,/, `our socket has no keepalive timer: ${own[0]}`);
      assert.equal(await holder.exited(), 0);
    } finally {
      await holder?.kill();
      net.destroy();
    }
  },
  netnsTestOptions(30_000),
);
