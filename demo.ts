/**
 * The sockalive demo, in Deno (`deno task demo`) or Bun (`bun demo.ts`), on loopback, in one
 * process: a connection opens with keepalive read back from the kernel, then a peer that resets
 * (broken, ECONNRESET) and a peer that closes (closed-gracefully). As root it also pulls a cable
 * between two network namespaces and shows ETIMEDOUT arriving after the configured budget.
 *
 * @module
 */

import { spawn } from "node:child_process";
import net from "node:net";
import process from "node:process";
import { createInterface } from "node:readline";
import { connect, detectionTime, type KeepAliveInfo, type LiveConnection } from "./mod.ts";
import { netnsUnavailable, SERVER_IP, TestNet } from "./tools/netns.ts";

const KEEPALIVE = { idle: 1000, interval: 1000, count: 3 };
const runtime = typeof (globalThis as { Bun?: unknown }).Bun !== "undefined"
  ? `Bun ${(globalThis as unknown as { Bun: { version: string } }).Bun.version}`
  : `Deno ${Deno.version.deno}`;

function stamp(at = Date.now()): string {
  return new Date(at).toISOString().slice(11, 23);
}

function say(text: string, at?: number): void {
  console.log(`  ${stamp(at)}  ${text}`);
}

function describeKeepAlive(k: KeepAliveInfo): string {
  return `enabled ${k.enabled}, idle ${k.idle} ms, interval ${k.interval} ms, count ${k.count}, ` +
    `userTimeout ${k.userTimeout} ms`;
}

function watch(conn: LiveConnection): void {
  conn.addEventListener("statechange", (e) => {
    const why = e.info?.code ? ` (${e.info.code})` : e.info?.by ? ` (by ${e.info.by})` : "";
    const open = e.info?.openForMs !== undefined ? `, after ${e.info.openForMs} ms open` : "";
    say(`${e.from} -> ${e.to}${why}${open}`, e.at);
  });
}

/** A loopback server whose next connection does `behave` once the client's first bytes arrive. */
async function server(
  behave: (socket: net.Socket) => void,
): Promise<{ port: number; close(): void }> {
  const srv = net.createServer((socket) => {
    socket.once("data", () => behave(socket));
    socket.on("error", () => {});
  });
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  return { port: (srv.address() as net.AddressInfo).port, close: () => srv.close() };
}

async function loopbackCase(title: string, behave: (socket: net.Socket) => void): Promise<void> {
  console.log(`\n${title}`);
  const srv = await server(behave);
  const conn = connect({ port: srv.port, keepAlive: KEEPALIVE });
  watch(conn);
  say(`connect 127.0.0.1:${srv.port}: state ${conn.state}`);
  await conn.opened;
  say(`keepalive read back from the kernel: ${describeKeepAlive(conn.keepAlive!)}`);
  say(`a silent peer would be noticed within ${detectionTime(conn.keepAlive!)} ms`);
  await conn.write(new TextEncoder().encode("hello"));
  let received = 0;
  try {
    for await (const chunk of conn.readable) received += chunk.byteLength;
  } catch {
    // A broken connection errors its readable once the bytes before the break are read.
  }
  const info = await conn.closed;
  say(
    `closed: ${
      JSON.stringify({ ...info, error: info.error?.message })
    }; received ${received} bytes`,
  );
  srv.close();
}

async function cableCase(): Promise<void> {
  console.log("\n3. A pulled cable (two network namespaces joined by a veth pair)");
  const reason = netnsUnavailable();
  if (reason) {
    say(`skipped: ${reason}; run the demo as root to see it`);
    return;
  }
  const testNet = TestNet.create();
  const children: ReturnType<typeof spawn>[] = [];
  try {
    const self = selfCommand();
    const srv = spawn(testNet.exec("server")[0], [
      ...testNet.exec("server").slice(1),
      ...self,
      "--serve",
      SERVER_IP,
      "7000",
    ], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    children.push(srv);
    await new Promise<void>((resolve) =>
      createInterface({ input: srv.stdout! }).once("line", () => resolve())
    );
    const cli = spawn(testNet.exec("client")[0], [
      ...testNet.exec("client").slice(1),
      ...self,
      "--client",
      SERVER_IP,
      "7000",
    ], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    children.push(cli);
    const budget = detectionTime(KEEPALIVE);
    let pulledAt = 0;
    await new Promise<void>((resolve) => {
      createInterface({ input: cli.stdout! }).on("line", (line) => {
        const brokenAt = /^BROKEN (\d+)/.exec(line);
        if (brokenAt) {
          const elapsed = Number(brokenAt[1]) - pulledAt;
          say(
            `detected ${(elapsed / 1000).toFixed(2)} s after the pull (budget ${
              (budget / 1000).toFixed(2)
            } s)`,
          );
          return;
        }
        console.log(line);
        if (line.includes("-> open")) {
          setTimeout(() => {
            pulledAt = testNet.pull();
            say(
              `cable pulled: ${SERVER_IP}'s link is down; keepalive probes go unanswered`,
              pulledAt,
            );
          }, 200);
        }
      });
      cli.on("exit", () => resolve());
    });
  } finally {
    for (const child of children) child.kill("SIGKILL");
    testNet.destroy();
  }
}

function selfCommand(): string[] {
  const script = new URL(import.meta.url).pathname;
  return runtime.startsWith("Bun")
    ? [process.execPath, script]
    : [Deno.execPath(), "run", "-A", script];
}

async function main(): Promise<void> {
  const [mode, host, port] = process.argv.slice(runtime.startsWith("Bun") ? 2 : 2);
  if (mode === "--serve") {
    // Inside the server namespace: accept and hold connections open, never answering.
    const srv = net.createServer((socket) => socket.on("error", () => {}));
    srv.listen(Number(port), host, () => console.log("listening"));
    return;
  }
  if (mode === "--client") {
    const conn = connect({ hostname: host, port: Number(port), keepAlive: KEEPALIVE });
    watch(conn);
    await conn.opened;
    say(`open; keepalive read back from the kernel: ${describeKeepAlive(conn.keepAlive!)}`);
    const info = await conn.closed;
    console.log(`BROKEN ${info.at}`);
    process.exit(0);
  }
  console.log(`sockalive demo on ${runtime}, ${process.platform}; all times are wall clock (ms)`);
  await loopbackCase(
    "1. A peer that resets (closes with our bytes unread: the kernel sends RST)",
    (socket) => {
      // Unread bytes in the receive queue make close() send RST instead of FIN.
      socket.pause();
      setTimeout(() => socket.resetAndDestroy(), 20);
    },
  );
  await loopbackCase("2. A peer that closes (sends a reply, then FIN)", (socket) => {
    socket.end("goodbye, sockalive");
  });
  await cableCase();
  process.exit(0);
}

await main();
