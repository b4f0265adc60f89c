/**
 * The readiness monitor (src/readiness.ts) and the epoll poller behind it in Deno on Linux
 * (ffi/calls.ts), against fakes: dispatch, re-arming, the wait ending when nothing is watched,
 * giving up after failed waits, and the exact `struct epoll_event` bytes on both layouts. The
 * real thing is exercised by every Deno connection test on Linux (see also loopback's
 * "watched" tests).
 */
import assert from "node:assert/strict";
import { test } from "./harness.ts";
import { ReadinessMonitor } from "../src/readiness.ts";
import type { ReadinessPoller, ReadinessReport } from "../ffi/types.ts";
import { type BoundEpoll, epollPoller } from "../ffi/calls.ts";
import {
  EPOLL_CTL_ADD,
  EPOLL_CTL_DEL,
  EPOLL_CTL_MOD,
  EPOLLERR,
  EPOLLHUP,
  EPOLLIN,
  EPOLLONESHOT,
  EPOLLRDHUP,
} from "../ffi/linux.ts";

/** A poller whose wait the test resolves by hand; records every call. */
class FakePoller implements ReadinessPoller {
  calls: string[] = [];
  waits = 0;
  watchResult = 0;
  #resolve: ((reports: ReadinessReport[] | undefined) => void) | undefined;
  watch(fd: number, token: number, rearm: boolean): number {
    this.calls.push(`${rearm ? "rearm" : "add"} ${fd} ${token}`);
    return this.watchResult;
  }
  quiet(fd: number, token: number): number {
    this.calls.push(`quiet ${fd} ${token}`);
    return 0;
  }
  unwatch(fd: number): number {
    this.calls.push(`unwatch ${fd}`);
    return 0;
  }
  readable(): boolean {
    return false;
  }
  wait(): Promise<ReadinessReport[] | undefined> {
    assert.equal(this.#resolve, undefined, "one wait at a time");
    this.waits++;
    return new Promise((resolve) => (this.#resolve = resolve));
  }
  wake(): void {
    this.calls.push("wake");
    this.report([]);
  }
  get waiting(): boolean {
    return this.#resolve !== undefined;
  }
  /** Ends the wait with these tokens reporting; those in `errors` with the kernel's error. */
  report(tokens: number[] | undefined, errors: number[] = []): void {
    const resolve = this.#resolve;
    this.#resolve = undefined;
    resolve?.(tokens?.map((token) => ({ token, error: errors.includes(token) })));
  }
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

function listener() {
  const seen = { ready: 0, errors: 0, fallback: 0 };
  return {
    seen,
    ready: (error: boolean) => {
      seen.ready++;
      if (error) seen.errors++;
    },
    fallback: () => void seen.fallback++,
  };
}

test("readiness: reports reach the right listener; the wait runs only while something is watched", async () => {
  const poller = new FakePoller();
  const monitor = new ReadinessMonitor(poller);
  assert.equal(poller.waiting, false);
  const a = listener();
  const b = listener();
  const ta = monitor.add(10, a)!;
  const tb = monitor.add(11, b)!;
  assert.notEqual(ta, tb);
  assert.deepEqual(poller.calls, [`add 10 ${ta}`, `add 11 ${tb}`]);
  assert.equal(poller.waiting, true);
  poller.report([tb]);
  await tick();
  assert.deepEqual([a.seen.ready, b.seen.ready], [0, 1]);
  assert.equal(b.seen.errors, 0);
  assert.equal(monitor.rearm(11, tb), true);
  poller.report([tb], [tb]); // the kernel holds an error for it: the listener is told
  await tick();
  assert.deepEqual([b.seen.ready, b.seen.errors], [2, 1]);
  assert.equal(poller.waiting, true, "waits again while sockets are watched");
  assert.equal(monitor.rearm(11, tb), true);
  assert.equal(poller.calls.at(-1), `rearm 11 ${tb}`);
  monitor.quiet(11, tb);
  assert.equal(poller.calls.at(-1), `quiet 11 ${tb}`);
  poller.report([999]); // a token nobody holds (removed meanwhile): ignored
  await tick();
  assert.equal(monitor.remove(10, ta), undefined, "others are still watched");
  assert.equal(poller.waiting, true);
  const ended = monitor.remove(11, tb);
  assert.deepEqual(poller.calls.slice(-3), ["unwatch 10", "unwatch 11", "wake"]);
  assert.ok(ended instanceof Promise, "the last one gets the end of the wait to await");
  await ended;
  assert.equal(poller.waiting, false, "nothing watched: no wait keeps the process alive");
  assert.equal(monitor.size, 0);
  assert.equal(monitor.rearm(11, tb), false, "a removed token cannot be re-armed");
  // Watching again starts a new wait.
  monitor.add(12, listener());
  assert.equal(poller.waiting, true);
  assert.equal(poller.waits, 5); // each report ends a wait; the new watch starts the fifth
});

test("readiness: a listener that throws does not stop the others or the wait", async () => {
  const poller = new FakePoller();
  const monitor = new ReadinessMonitor(poller);
  const good = listener();
  const t1 = monitor.add(3, {
    ready: () => {
      throw new Error("boom");
    },
    fallback: () => {},
  })!;
  const t2 = monitor.add(4, good)!;
  poller.report([t1, t2]);
  await tick();
  assert.equal(good.seen.ready, 1);
  assert.equal(poller.waiting, true);
});

test("readiness: a watch the kernel refuses is not registered (the caller reads the old way)", () => {
  const poller = new FakePoller();
  poller.watchResult = 9; // EBADF
  const monitor = new ReadinessMonitor(poller);
  assert.equal(monitor.add(5, listener()), undefined);
  assert.equal(monitor.size, 0);
  assert.equal(poller.waiting, false);
});

test("readiness: after 5 failed waits in a row every listener falls back, and no new watch is taken", async () => {
  const poller = new FakePoller();
  const monitor = new ReadinessMonitor(poller);
  const a = listener();
  const b = listener();
  monitor.add(6, a);
  monitor.add(7, b);
  for (let i = 0; i < 4; i++) {
    poller.report(undefined);
    await tick();
    assert.equal(a.seen.fallback, 0, `failure ${i + 1} is retried`);
  }
  poller.report([]); // a good wait resets the count
  await tick();
  for (let i = 0; i < 5; i++) {
    poller.report(undefined);
    await tick();
  }
  assert.deepEqual([a.seen.fallback, b.seen.fallback], [1, 1]);
  assert.equal(poller.waiting, false);
  assert.equal(monitor.add(8, listener()), undefined);
});

/** A fake of the bound epoll functions: records epoll_ctl's bytes; epoll_wait answers by hand. */
function fakeEpoll() {
  const ctl: Array<{ op: number; fd: number; bytes: number[] }> = [];
  const writes: number[][] = [];
  let reads = 0;
  let answer: ((n: number) => void) | undefined;
  let waitBuffer: Uint8Array | undefined;
  const bound: BoundEpoll = {
    epoll_create1: () => 50,
    eventfd: () => 51,
    epoll_ctl: (_ep, op, fd, event) => {
      ctl.push({ op, fd, bytes: [...event] });
      return 0;
    },
    epoll_wait: (_ep, events) => {
      waitBuffer = events;
      return new Promise((resolve) => (answer = resolve));
    },
    write: (_fd, buffer) => {
      writes.push([...buffer]);
      return 8;
    },
    read: () => {
      reads++;
      return 8;
    },
    poll: () => 0,
    close: () => 0,
    errno: () => 0,
  };
  return {
    bound,
    ctl,
    writes,
    get reads() {
      return reads;
    },
    /** Makes epoll_wait return these (token, events) pairs, written at `size`/`offset`. */
    answer(pairs: Array<[number, number]>, size: number, offset: number) {
      const view = new DataView(waitBuffer!.buffer);
      pairs.forEach(([token, events], i) => {
        view.setUint32(i * size, events, true);
        view.setBigUint64(i * size + offset, BigInt(token), true);
      });
      answer!(pairs.length);
    },
    fail() {
      answer!(-1);
    },
  };
}

const le32 = (n: number) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24];

for (const [arch, size, offset] of [["x86_64", 12, 4], ["aarch64", 16, 8]] as const) {
  test(`epoll poller (${arch}): struct epoll_event is ${size} bytes with data at ${offset}`, async () => {
    const fake = fakeEpoll();
    const poller = epollPoller(fake.bound, arch)!;
    const pad = Array(offset - 4).fill(0);
    const interest = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
    // The eventfd is watched first, with token 0, level-triggered.
    assert.deepEqual(fake.ctl[0], {
      op: EPOLL_CTL_ADD,
      fd: 51,
      bytes: [...le32(EPOLLIN), ...pad, 0, 0, 0, 0, 0, 0, 0, 0],
    });
    assert.equal(poller.watch(9, 0x01020304, false), 0);
    assert.deepEqual(fake.ctl[1], {
      op: EPOLL_CTL_ADD,
      fd: 9,
      bytes: [...le32(interest), ...pad, 4, 3, 2, 1, 0, 0, 0, 0],
    });
    poller.watch(9, 7, true);
    assert.equal(fake.ctl[2].op, EPOLL_CTL_MOD);
    poller.quiet(9, 7);
    assert.deepEqual(fake.ctl[3], {
      op: EPOLL_CTL_MOD,
      fd: 9,
      bytes: [...le32(EPOLLONESHOT), ...pad, 7, 0, 0, 0, 0, 0, 0, 0],
    });
    poller.unwatch(9);
    assert.equal(fake.ctl[4].op, EPOLL_CTL_DEL);
    assert.equal(fake.ctl[4].fd, 9);

    // Two sockets and the eventfd report: the eventfd is drained, not reported.
    let waiting = poller.wait();
    fake.answer(
      [[7, EPOLLIN], [0, EPOLLIN], [0xfffffffe, EPOLLRDHUP], [8, EPOLLIN | EPOLLERR | EPOLLHUP]],
      size,
      offset,
    );
    assert.deepEqual(await waiting, [
      { token: 7, error: false },
      { token: 0xfffffffe, error: false },
      { token: 8, error: true }, // EPOLLERR: the kernel holds an error for it
    ]);
    assert.equal(fake.reads, 1);
    poller.wake();
    assert.deepEqual(fake.writes, [[1, 0, 0, 0, 0, 0, 0, 0]]);
    waiting = poller.wait();
    fake.fail();
    assert.equal(await waiting, undefined);
  });
}

test("readiness: a watch added while the wait is ending is still waited for, at every microtask offset", async () => {
  // The last connection closes (its wake ends the wait) and, a few microtasks later, a new one is
  // added: the new watch must be served by a running wait, whatever the interleaving.
  for (let delay = 0; delay <= 12; delay++) {
    const poller = new FakePoller();
    const monitor = new ReadinessMonitor(poller);
    const a = listener();
    const b = listener();
    const ta = monitor.add(10, a)!;
    let tb: number | undefined;
    const released = monitor.remove(10, ta); // the wake resolves the pending wait
    await new Promise<void>((resolve) => {
      const step = (left: number) => {
        if (left === 0) {
          tb = monitor.add(11, b);
          resolve();
        } else queueMicrotask(() => step(left - 1));
      };
      step(delay);
    });
    // The closed connection's release is the end of the wait it woke, not of every wait after.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const outcome = await Promise.race([
      Promise.resolve(released).then(() => "released"),
      new Promise((resolve) => (timer = setTimeout(() => resolve("still pending"), 20))),
    ]);
    clearTimeout(timer);
    assert.equal(outcome, "released", `microtask offset ${delay}: the release waits for b`);
    await tick();
    assert.equal(poller.waiting, true, `microtask offset ${delay}: a watch but no wait`);
    poller.report([tb!]);
    await tick();
    assert.equal(b.seen.ready, 1, `microtask offset ${delay}: the report never arrived`);
    const done = monitor.remove(11, tb!);
    await done;
    await tick();
    assert.equal(poller.waiting, false, `microtask offset ${delay}: the wait outlived its watches`);
  }
});

test("readiness: removing a socket that is closed next asks no EPOLL_CTL_DEL; its late report is ignored", async () => {
  const poller = new FakePoller();
  const monitor = new ReadinessMonitor(poller);
  const a = listener(), b = listener();
  const ta = monitor.add(20, a)!;
  const tb = monitor.add(21, b)!;
  const calls = poller.calls.length;
  assert.equal(monitor.remove(20, ta, true), undefined);
  assert.deepEqual(poller.calls.slice(calls), [], "closing the descriptor takes it out of the set");
  poller.report([ta]); // reported before the close reached the kernel: nobody is told
  await tick();
  assert.equal(a.seen.ready, 0);
  const ended = monitor.remove(21, tb); // not closed next: taken out of the set, the last one
  assert.deepEqual(poller.calls.slice(-2), ["unwatch 21", "wake"]);
  await ended;
  assert.equal(monitor.size, 0);
});
