/**
 * The readiness hand-off under stress, against real sockets: the last watched connection closes
 * in the same turn as a new one is dialed, so the new one arrives while the shared wait (Deno on
 * Linux: one epoll wait for every idle connection) is ending. The new connection must still be
 * watched: its peer's 100 KB and FIN reach it, and it ends `closed-gracefully` by peer.
 *
 * Size: SOCKALIVE_HANDOFF_MS of iterations (default 45 s in Deno, 15 s in Bun, where the
 * hand-off is Bun's own event loop and the test guards the same promise);
 * SOCKALIVE_HANDOFF=full runs 10 minutes. The count of iterations and of lapses (0) is printed.
 */
import assert from "node:assert/strict";
import net from "node:net";
import process from "node:process";
import { isBun, preloadFfi, test } from "./harness.ts";
import { connect } from "../mod.ts";

preloadFfi();

const PAYLOAD = 100_000;
const FULL = process.env.SOCKALIVE_HANDOFF === "full";
const DURATION_MS = Number(
  process.env.SOCKALIVE_HANDOFF_MS ?? (FULL ? 600_000 : isBun ? 15_000 : 45_000),
);
/** Far above what one iteration takes on loopback (a few ms): past it, the watch lapsed. */
const LAPSE_MS = 3_000;

async function listen(onSocket: (socket: net.Socket) => void): Promise<net.Server> {
  const server = net.createServer((socket) => {
    socket.on("error", () => {});
    onSocket(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return server;
}

const portOf = (server: net.Server) => (server.address() as net.AddressInfo).port;

test(
  "handoff: a connection dialed as the last watched one closes is always watched (stress)",
  async () => {
    const held = new Set<net.Socket>();
    const holder = await listen((socket) => {
      held.add(socket);
      socket.on("close", () => held.delete(socket));
    });
    const payload = new Uint8Array(PAYLOAD).fill(7);
    const sender = await listen((socket) => socket.end(payload));
    let iterations = 0;
    const lapses: string[] = [];
    try {
      const deadline = Date.now() + DURATION_MS;
      while (Date.now() < deadline && lapses.length === 0) {
        const a = connect({ port: portOf(holder) });
        await a.opened;
        const b = connect({ port: portOf(sender) });
        void a.close(); // same turn: a is the last watched connection when b opens
        let timer: ReturnType<typeof setTimeout> | undefined;
        const outcome = await Promise.race([
          b.closed,
          new Promise<"lapsed">((resolve) => (timer = setTimeout(resolve, LAPSE_MS, "lapsed"))),
        ]);
        clearTimeout(timer);
        iterations++;
        if (outcome === "lapsed") {
          lapses.push(`iteration ${iterations}: ${b.state}, bytesRead ${b.bytesRead}`);
          await b.close();
        } else {
          assert.equal(outcome.state, "closed-gracefully", `iteration ${iterations}`);
          assert.equal(outcome.by, "peer");
          assert.equal(b.bytesRead, PAYLOAD, `iteration ${iterations}`);
        }
        await a.closed;
      }
    } finally {
      for (const socket of held) socket.destroy();
      await new Promise((resolve) => holder.close(resolve));
      await new Promise((resolve) => sender.close(resolve));
    }
    console.log(`handoff: ${iterations} iterations in ${DURATION_MS} ms, ${lapses.length} lapses`);
    assert.deepEqual(lapses, [], "a new connection was left unwatched");
    assert.ok(iterations > 100, `only ${iterations} iterations ran`);
  },
  { timeout: DURATION_MS + 30_000 },
);
