/** listen(): accepted sockets are monitored LiveConnections, in Deno and Bun. */
import assert from "node:assert/strict";
import { fixture, nativeConnect, Proc, runtimeCommand, test } from "./harness.ts";
import { netnsTestOptions } from "./harness.ts";
import { listen, type LiveConnection } from "../mod.ts";
import { SERVER_IP, TestNet } from "../tools/netns.ts";

const opts = { sanitize: false, timeout: 15_000 };

test(
  "listen: keepalive is applied before the first read; FIN ends closed-gracefully by peer",
  async () => {
    const server = listen({ port: 0, keepAlive: { idle: 3000, interval: 2000, count: 4 } });
    const iterator = server[Symbol.asyncIterator]();
    const client = await nativeConnect(server.addr.port);
    const { value: conn } = await iterator.next() as { value: LiveConnection };
    await conn.opened;
    assert.equal(conn.state, "open");
    assert.deepEqual(conn.keepAlive, {
      enabled: true,
      idle: 3000,
      interval: 2000,
      count: 4,
      userTimeout: 11000,
    });
    assert.equal(conn.remoteAddr!.port, client.localPort);
    client.close();
    const info = await conn.closed;
    assert.equal(info.state, "closed-gracefully");
    assert.equal(info.by, "peer");
    server.close();
    assert.deepEqual(
      await iterator.next(),
      { value: undefined, done: true },
      "closing ends the iteration",
    );
  },
  opts,
);

test("listen: bytes from the client arrive; a bad option is refused up front", async () => {
  assert.throws(() => listen({ port: 0, keepAlive: { count: 0 } }), RangeError);
  await using server = listen({ port: 0 });
  const client = await nativeConnect(server.addr.port);
  for await (const conn of server) {
    await conn.opened;
    await conn.write(new TextEncoder().encode("hello"));
    await conn.close();
    break; // leaving the loop closes the listener
  }
  client.close();
}, opts);

test("netns: a server notices a client whose cable was pulled (broken ETIMEDOUT)", async () => {
  const net = TestNet.create();
  let server: Proc | undefined;
  let client: Proc | undefined;
  try {
    const config = {
      hostname: SERVER_IP,
      port: 7000,
      keepAlive: { idle: 1000, interval: 1000, count: 3 },
    };
    server = new Proc([
      ...net.exec("server"),
      ...runtimeCommand(fixture("server.ts"), [JSON.stringify(config)]),
    ]);
    await server.waitFor(/"type":"listening"/);
    client = new Proc([
      ...net.exec("client"),
      "python3",
      "-c",
      `import socket,time\ns=socket.create_connection(("${SERVER_IP}",7000))\nprint("CONNECTED",flush=True)\ntime.sleep(60)`,
    ]);
    await client.waitFor(/^CONNECTED/);
    const opened = JSON.parse(await server.waitFor(/"type":"opened"/));
    assert.equal(opened.keepAlive.idle, 1000);
    const pulledAt = net.pull("client");
    const broken = JSON.parse(await server.waitFor(/"to":"broken"/, 10_000));
    assert.equal(broken.code, "ETIMEDOUT");
    const elapsed = broken.at - pulledAt;
    console.log(
      `server side: ETIMEDOUT ${elapsed} ms after the client's cable was pulled (budget 4000 ms)`,
    );
    assert.ok(elapsed <= 5000 && elapsed >= 2000, `detected after ${elapsed} ms`);
  } finally {
    await client?.kill();
    await server?.kill();
    net.destroy();
  }
}, netnsTestOptions(30_000));
