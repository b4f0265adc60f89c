/**
 * Finding Deno's hidden descriptor: the guesses (pure), and, in Deno, that the common case needs
 * no scan, that the scan still finds sockets the guesses miss, and that a wrong guess is never used.
 */
import assert from "node:assert/strict";
import { isBun, test } from "./harness.ts";
import { DescriptorHints } from "../src/hints.ts";

test("hints: recently found first, then released (lowest first), then just above the highest", () => {
  const h = new DescriptorHints(3, 4);
  assert.deepEqual([...h.guesses()], [0, 1, 2]);
  h.found(10, false);
  h.found(7, true);
  assert.deepEqual([h.hits, h.scans], [1, 1]);
  assert.deepEqual([...h.guesses()], [7, 10, 11, 12, 13]);
  h.released(9);
  h.released(4);
  h.released(9);
  assert.deepEqual([...h.guesses()], [7, 10, 4, 9, 11, 12, 13]);
  h.found(4, false);
  assert.deepEqual(
    [...h.guesses()],
    [4, 7, 10, 9, 11, 12, 13],
    "found: recent, no longer released",
  );
  for (const fd of [8, 3, 20, 1]) h.released(fd);
  assert.deepEqual(
    [...h.guesses()],
    [4, 7, 10, 1, 3, 8, 9, 11, 12, 13],
    "bounded, keeping the lowest",
  );
  h.released(50); // above every one of a full list: dropped
  h.released(3); // already there
  h.released(2);
  assert.deepEqual([...h.guesses()].slice(3, 7), [1, 2, 3, 8], "a lower one goes in, the top out");
  for (const fd of [30, 31, 32]) h.found(fd, false);
  assert.deepEqual([...h.guesses()].slice(0, 3), [32, 31, 30], "recent is bounded too");
  h.clear();
  assert.deepEqual([...h.guesses()], [0, 1, 2]);
});

if (!isBun) {
  const { connect, getKeepAlive, setKeepAlive } = await import("../deno.ts");
  const { denoCalls, denoHints } = await import("../src/adapters/deno.ts");
  const { resolveTarget } = await import("../src/sockopt.ts");
  const { linux } = await import("../src/os/linux.ts");
  // The C library stays open for the life of the process by design; open it before the first
  // test so Deno's resource sanitizer does not count it against that test.
  denoCalls();

  const serve = () => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const accepted: Deno.Conn[] = [];
    const done = (async () => {
      for await (const c of listener) accepted.push(c);
    })();
    return {
      port: (listener.addr as Deno.NetAddr).port,
      async close() {
        listener.close();
        await done;
        for (const c of accepted) c.close();
      },
    };
  };

  test("deno lookup: new connections are found by a guess, without scanning", async () => {
    const server = serve();
    const conns = [];
    denoHints.clear(); // start from nothing, as a fresh process does
    const scansBefore = denoHints.scans;
    const first = connect({ port: server.port });
    await first.opened;
    const afterWarmup = denoHints.scans;
    assert.equal(afterWarmup, scansBefore, "even the first connection needs no scan");
    for (let i = 0; i < 30; i++) {
      const c = connect({ port: server.port, keepAlive: { idle: 1000 + i * 1000 } });
      await c.opened;
      assert.equal(
        c.keepAlive!.idle,
        1000 + i * 1000,
        "options landed on this connection's socket",
      );
      conns.push(c);
    }
    // Close ten: their descriptors are reused by the next ten, which the guesses try first.
    for (const c of conns.splice(0, 10)) await c.close();
    for (let i = 0; i < 10; i++) {
      const c = connect({ port: server.port });
      await c.opened;
      conns.push(c);
    }
    assert.equal(
      denoHints.scans,
      afterWarmup,
      `no scan after the first connection (${
        denoHints.scans - afterWarmup
      } scans, hits ${denoHints.hits}, guesses now ${[...denoHints.guesses()]})`,
    );
    for (const c of [first, ...conns]) await c.close();
    await server.close();
  });

  test("deno lookup: the lowest free descriptor before connect is guessed first, past any gap", async () => {
    const server = serve();
    denoHints.clear();
    const first = connect({ port: server.port });
    await first.opened;
    // Open files fill every hole and push the next descriptor past every other guess.
    const files = Array.from({ length: 200 }, () => Deno.openSync("/dev/null"));
    const scans = denoHints.scans;
    const conn = connect({ port: server.port, keepAlive: { idle: 4000, count: 4 } });
    await conn.opened;
    assert.equal(denoHints.scans, scans, "found by the lowest-free guess, no scan");
    assert.equal(conn.keepAlive!.idle, 4000);
    assert.equal(conn.keepAlive!.count, 4);
    for (const f of files) f.close();
    await conn.close();
    await first.close();
    await server.close();
  });

  test("deno lookup: a socket no guess covers is still found by the scan", async () => {
    const server = serve();
    denoHints.clear();
    const first = connect({ port: server.port });
    await first.opened;
    const files = Array.from({ length: 200 }, () => Deno.openSync("/dev/null"));
    // Opened by the user, not by sockalive: no lowest-free guess was taken for it.
    const own = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    const scans = denoHints.scans;
    const set = setKeepAlive(own, { idle: 6000, count: 6 });
    assert.equal(denoHints.scans, scans + 1, "the scan found it");
    assert.equal(set.idle, 6000);
    assert.deepEqual(getKeepAlive(own), set);
    for (const f of files) f.close();
    own.close();
    await first.close();
    await server.close();
  });

  test("deno lookup: a wrong guess is verified and never used", async () => {
    const server = serve();
    const victim = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    const victimFd = resolveTarget(linux, denoCalls(), {
      local: { hostname: "127.0.0.1", port: (victim.localAddr as Deno.NetAddr).port },
      remote: { hostname: "127.0.0.1", port: server.port },
      hints: () => [],
      scan: () => denoCalls().listDescriptors(),
    }).fd;
    const before = getKeepAlive(victim);
    // Make the victim's descriptor the very first guess.
    denoHints.clear();
    denoHints.released(victimFd);
    assert.equal([...denoHints.guesses()][0], victimFd);
    const conn = connect({
      port: server.port,
      keepAlive: { idle: 3000, interval: 3000, count: 2 },
    });
    await conn.opened;
    assert.deepEqual(getKeepAlive(victim), before, "the victim's options are untouched");
    assert.equal(conn.keepAlive!.count, 2);
    await conn.close();
    victim.close();
    await server.close();
  });
}
