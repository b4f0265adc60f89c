/**
 * The read side (src/reader.ts) driven through a fake transport, with no socket: bytes that
 * arrive before anyone reads, the pause at `maxBufferedBytes` and the resume, BYOB reads, `read()`,
 * a FIN before `readable` exists, a break behind queued bytes, a stream made only after the
 * connection ended, and the paused check that notices an end without reading.
 */
import assert from "node:assert/strict";
import { concat, sleep, test } from "./harness.ts";
import { ReadSide } from "../src/reader.ts";
import { ConnectionStateMachine } from "../src/state.ts";
import type { SockRef } from "../src/sockref.ts";
import type { Transport } from "../src/transport.ts";
import { ConnectionClosedError } from "../src/errors.ts";

/** A host whose transport records what the read side asks of it. */
function host(options: { open?: boolean; ended?: () => boolean } = {}) {
  const machine = new ConnectionStateMachine();
  if (options.open !== false) machine.send({ type: "opened" });
  const asked: string[] = [];
  const transport = {
    pause: () => asked.push("pause"),
    resume: () => asked.push("resume"),
    wanted: () => asked.push("wanted"),
  } as unknown as Transport;
  const sock = { ended: options.ended ?? (() => false) } as unknown as SockRef;
  return { machine, transport, sock, asked };
}

const bytes = (n: number, fill = 1) => new Uint8Array(n).fill(fill);

async function readAllChunks(readable: ReadableStream<Uint8Array>) {
  const chunks: Uint8Array[] = [];
  const reader = readable.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return { bytes: concat(chunks), error: undefined };
      chunks.push(value);
    }
  } catch (error) {
    return { bytes: concat(chunks), error };
  }
}

test("reader: bytes that arrive before readable exists come first, in order", async () => {
  const h = host();
  const side = new ReadSide(h, 1024);
  side.data(bytes(3, 1));
  side.data(bytes(2, 2));
  side.end();
  assert.equal(h.machine.state, "closed-gracefully");
  const { bytes: got, error } = await readAllChunks(side.readable);
  assert.equal(error, undefined);
  assert.deepEqual([...got], [1, 1, 1, 2, 2]);
  assert.equal(side.bytesRead, 5);
});

test("reader: past maxBufferedBytes the transport is paused, and resumed once read", async () => {
  const h = host();
  const side = new ReadSide(h, 100);
  side.data(bytes(60));
  assert.deepEqual(h.asked, []);
  side.data(bytes(60)); // 120 held: over the limit
  assert.deepEqual(h.asked, ["pause"]);
  side.data(bytes(10)); // still paused: no second pause
  assert.deepEqual(h.asked, ["pause"]);
  const buffer = new Uint8Array(200);
  assert.equal(await side.read(buffer), 130);
  assert.deepEqual(h.asked, ["pause", "resume"]);
  side.finish(h.machine.info ?? { state: "closed-gracefully", by: "local", at: 0 });
});

test("reader: a BYOB read is the transport's destination, and filled() answers it", async () => {
  const h = host();
  const side = new ReadSide(h, 1024);
  const reader = side.readable.getReader({ mode: "byob" });
  const pending = reader.read(new Uint8Array(16));
  await sleep(0);
  const into = side.destination();
  assert.ok(into instanceof Uint8Array && into.byteLength === 16, "no destination");
  assert.ok(h.asked.includes("wanted"), "the transport was not told a buffer waits");
  into.set([9, 8, 7]);
  side.filled(3);
  const { value } = await pending;
  assert.deepEqual([...value!], [9, 8, 7]);
  assert.equal(side.bytesRead, 3);
  side.end();
  assert.equal((await reader.read(new Uint8Array(4))).done, true);
});

test("reader: read() takes what is queued, waits for more, and what does not fit waits", async () => {
  const h = host();
  const side = new ReadSide(h, 1024);
  side.data(bytes(5, 3));
  const buffer = new Uint8Array(4);
  assert.equal(await side.read(buffer), 4);
  assert.equal(await side.read(buffer), 1);
  const waiting = side.read(buffer);
  assert.equal(side.destination(), buffer, "a waiting read() is the destination");
  side.data(bytes(6, 4));
  assert.equal(await waiting, 4);
  assert.equal(await side.read(buffer), 2);
  const first = side.read(buffer);
  await assert.rejects(side.read(new Uint8Array(1)), TypeError, "one read at a time");
  side.end();
  assert.equal(await first, null, "the waiting read() gets the end");
  assert.throws(() => side.readable, TypeError, "read() and readable are exclusive");
});

test("reader: a FIN before readable exists closes it after the bytes, as soon as it is made", async () => {
  const h = host();
  const side = new ReadSide(h, 1024);
  side.data(bytes(7));
  side.end();
  side.finish(h.machine.info!);
  const { bytes: got, error } = await readAllChunks(side.readable);
  assert.equal(error, undefined);
  assert.equal(got.byteLength, 7);
});

test("reader: a break behind queued bytes errors readable only after they are read", async () => {
  const h = host();
  const side = new ReadSide(h, 1024);
  const readable = side.readable;
  side.data(bytes(10));
  side.data(bytes(10));
  h.machine.fail("ECONNRESET", new Error("reset"));
  side.finish(h.machine.info!);
  const { bytes: got, error } = await readAllChunks(readable);
  assert.equal(got.byteLength, 20, "bytes before the break were lost");
  assert.ok(error instanceof ConnectionClosedError && error.code === "ECONNRESET");
});

test("reader: a waiting read() gets the break; one after the queued bytes gets it too", async () => {
  const h = host();
  const side = new ReadSide(h, 1024);
  const waiting = side.read(new Uint8Array(8));
  h.machine.fail("ETIMEDOUT", new Error("timed out"));
  side.finish(h.machine.info!);
  await assert.rejects(waiting, (e: unknown) => (e as ConnectionClosedError).code === "ETIMEDOUT");
  const late = new ReadSide(host(), 1024);
  late.data(bytes(3));
  late.finish({ state: "broken", code: "EPIPE", at: 0 });
  assert.equal(await late.read(new Uint8Array(8)), 3);
  await assert.rejects(
    late.read(new Uint8Array(8)),
    (e: unknown) => (e as ConnectionClosedError).code === "EPIPE",
  );
});

test("reader: a stream made only after the connection broke errors at once", async () => {
  const side = new ReadSide(host({ open: false }), 1024);
  side.finish({ state: "broken", code: "ECONNREFUSED", at: 0 });
  const { bytes: got, error } = await readAllChunks(side.readable);
  assert.equal(got.byteLength, 0);
  assert.ok(error instanceof ConnectionClosedError && error.code === "ECONNREFUSED");
});

test("reader: while paused, an end the socket shows without reading resumes the transport", async () => {
  let ended = false;
  const h = host({ ended: () => ended });
  const side = new ReadSide(h, 10);
  side.data(bytes(20));
  assert.deepEqual(h.asked, ["pause"]);
  await sleep(250);
  assert.deepEqual(h.asked, ["pause"], "resumed although nothing ended");
  ended = true;
  await sleep(250);
  assert.deepEqual(h.asked, ["pause", "resume"], "the end was not noticed while paused");
  side.data(bytes(20)); // past the limit now: the read goes on until the end arrives
  assert.deepEqual(h.asked, ["pause", "resume"]);
  side.end();
  const { bytes: got } = await readAllChunks(side.readable);
  assert.equal(got.byteLength, 40);
});

/**
 * A transport that reads by call (Deno's while watched): `readNow` hands out one runtime read at
 * a time, which the test settles; `asked` records readSettled and whether it came before the
 * consumer saw the result.
 */
function readingHost() {
  const h = host();
  let settle: { resolve(n: number | null): void; reject(e: unknown): void } | undefined;
  let into: Uint8Array | undefined;
  let busy = false;
  const transport = h.transport as unknown as Record<string, unknown>;
  transport.readNow = (view: Uint8Array) => {
    if (busy) return undefined;
    busy = true;
    into = view;
    return new Promise<number | null>((resolve, reject) => (settle = { resolve, reject }));
  };
  transport.readSettled = () => {
    busy = false;
    h.asked.push("settled");
  };
  return {
    ...h,
    /** Fills the runtime read in flight with `n` bytes of `fill`. */
    fill(n: number, fill = 1) {
      into!.fill(fill, 0, n);
      settle!.resolve(n);
    },
    end: () => settle!.resolve(null),
    fail: (e: unknown) => settle!.reject(e),
    get busy() {
      return busy;
    },
  };
}

test("reader: read() goes straight to the transport's own read while nothing else reads", async () => {
  const h = readingHost();
  const side = new ReadSide(h, 1024);
  const buffer = new Uint8Array(8);
  const first = side.read(buffer);
  assert.ok(h.busy, "the read went to the transport");
  assert.deepEqual(h.asked, [], "no wanted(): the read is the transport's");
  await assert.rejects(side.read(new Uint8Array(1)), TypeError, "one read at a time");
  h.fill(5, 7);
  const n = await first;
  // The transport hears of the end of its read before the consumer runs, so the consumer's next
  // read finds it free.
  assert.deepEqual(h.asked, ["settled"]);
  assert.equal(n, 5);
  assert.deepEqual([...buffer.subarray(0, 5)], [7, 7, 7, 7, 7]);
  assert.equal(side.bytesRead, 5);
  const second = side.read(buffer);
  assert.ok(h.busy, "the next read goes straight to the transport too");
  h.end();
  assert.equal(await second, null, "FIN is the end of reading");
  assert.equal(h.machine.state, "closed-gracefully");
  assert.equal(await side.read(buffer), null, "and stays the end");
});

test("reader: a transport read that fails breaks the connection and rejects with its code", async () => {
  const h = readingHost();
  const side = new ReadSide(h, 1024);
  const pending = side.read(new Uint8Array(8));
  h.fail(Object.assign(new Error("Connection timed out (os error 110)"), { code: "ETIMEDOUT" }));
  await assert.rejects(pending, (e: unknown) => (e as ConnectionClosedError).code === "ETIMEDOUT");
  assert.equal(h.machine.state, "broken");
  assert.equal(h.machine.info?.code, "ETIMEDOUT");
});

test("reader: a transport read ended by our own close() is the end, not a break", async () => {
  const h = readingHost();
  const side = new ReadSide(h, 1024);
  const pending = side.read(new Uint8Array(8));
  h.machine.send({ type: "close" });
  side.finish(h.machine.info!);
  h.fail(new Error("Bad resource ID"));
  assert.equal(await pending, null);
  assert.equal(h.machine.state, "closed-gracefully");
});

test("reader: with bytes queued, read() takes them and leaves the transport alone", async () => {
  const h = readingHost();
  const side = new ReadSide(h, 1024);
  side.data(bytes(3, 9));
  assert.equal(await side.read(new Uint8Array(8)), 3);
  assert.ok(!h.busy, "queued bytes first, no runtime read");
});

test("reader: readable hands on each chunk as it came, the very same bytes, untransferred", async () => {
  const side = new ReadSide(host(), 1024);
  const reader = side.readable.getReader();
  const pending = reader.read();
  const arriving = bytes(4, 5);
  side.data(arriving);
  const queued = bytes(2, 6);
  side.data(queued);
  assert.equal((await pending).value, arriving, "a waiting read gets the chunk itself");
  assert.equal((await reader.read()).value, queued, "so does one that finds it queued");
  // A byte stream would have transferred (detached) them: whoever holds a chunk keeps it.
  assert.equal(arriving.byteLength, 4);
  assert.equal(queued.byteLength, 2);
});

test("reader: a BYOB reader asked for after bytes were queued reads them first, then the rest", async () => {
  const h = host();
  const side = new ReadSide(h, 1024);
  const readable = side.readable;
  side.data(new Uint8Array([1, 2, 3, 4, 5]));
  side.data(new Uint8Array([6, 7, 8]));
  const reader = readable.getReader({ mode: "byob" });
  assert.ok(readable.locked);
  assert.deepEqual([...(await reader.read(new Uint8Array(4))).value!], [1, 2, 3, 4]);
  assert.deepEqual([...(await reader.read(new Uint8Array(8))).value!], [5, 6, 7, 8]);
  const waiting = reader.read(new Uint8Array(8));
  await sleep(0);
  assert.ok(h.asked.includes("wanted"), "a BYOB read waiting with nothing queued is wanted");
  side.data(new Uint8Array([9]));
  assert.deepEqual([...(await waiting).value!], [9], "what comes next fills the waiting read");
  side.end();
  assert.equal((await reader.read(new Uint8Array(8))).done, true);
});

test("reader: after a BYOB reader is released, every way of reading goes on from there", async () => {
  const side = new ReadSide(host(), 1024);
  const readable = side.readable;
  side.data(new Uint8Array([1, 2, 3]));
  const byob = readable.getReader({ mode: "byob" });
  assert.deepEqual([...(await byob.read(new Uint8Array(2))).value!], [1, 2]);
  assert.throws(() => readable.getReader(), TypeError, "still locked by the BYOB reader");
  byob.releaseLock();
  assert.equal(readable.locked, false);
  side.data(new Uint8Array([4]));
  side.end();
  const seen: number[] = [];
  for await (const chunk of readable) seen.push(...chunk);
  assert.deepEqual(seen, [3, 4]);
});

test("reader: a BYOB reader is refused while a default reader holds readable", async () => {
  const side = new ReadSide(host(), 1024);
  const reader = side.readable.getReader();
  assert.throws(() => side.readable.getReader({ mode: "byob" }), TypeError);
  side.data(bytes(3));
  assert.equal((await reader.read()).value?.byteLength, 3, "the default reader still reads");
});

test("reader: readable is a body and a pipe source like any stream, and cancels quietly", async () => {
  const side = new ReadSide(host(), 1024);
  side.data(new TextEncoder().encode("hello "));
  side.data(new TextEncoder().encode("world"));
  side.end();
  assert.equal(await new Response(side.readable).text(), "hello world");

  const piped = new ReadSide(host(), 1024);
  const written: number[] = [];
  const done = piped.readable.pipeTo(new WritableStream({ write: (c) => void written.push(...c) }));
  piped.data(new Uint8Array([1, 2]));
  piped.end();
  await done;
  assert.deepEqual(written, [1, 2]);

  const h = host();
  const cancelled = new ReadSide(h, 10);
  cancelled.data(bytes(20));
  assert.deepEqual(h.asked, ["pause"]);
  const byob = cancelled.readable.getReader({ mode: "byob" });
  await byob.cancel();
  assert.deepEqual(
    h.asked,
    ["pause", "resume"],
    "bytes are dropped, and taken from the kernel again",
  );
  cancelled.data(bytes(20));
  assert.deepEqual(h.asked, ["pause", "resume"], "dropped: no pause for them");
  assert.equal(h.machine.state, "open", "the connection stays monitored");
});

test("reader: through a BYOB reader, a break behind queued bytes comes after them", async () => {
  const h = host();
  const side = new ReadSide(h, 1024);
  side.data(new Uint8Array([1, 2, 3]));
  const reader = side.readable.getReader({ mode: "byob" });
  side.data(new Uint8Array([4, 5]));
  h.machine.fail("ECONNRESET", new Error("reset"));
  side.finish(h.machine.info!);
  const got: number[] = [];
  let error: unknown;
  try {
    for (;;) {
      const { value, done } = await reader.read(new Uint8Array(2));
      if (done) break;
      got.push(...value!);
    }
  } catch (e) {
    error = e;
  }
  assert.deepEqual(got, [1, 2, 3, 4, 5], "bytes before the break were lost");
  assert.ok(error instanceof ConnectionClosedError && error.code === "ECONNRESET");
});

test("reader: a BYOB reader fills its buffer from several queued chunks, past the pause", async () => {
  const h = host();
  const side = new ReadSide(h, 8);
  side.data(new Uint8Array([1, 2, 3]));
  side.data(new Uint8Array([4, 5, 6, 7, 8, 9]));
  assert.deepEqual(h.asked, ["pause"]);
  const reader = side.readable.getReader({ mode: "byob" });
  assert.deepEqual([...(await reader.read(new Uint8Array(16))).value!], [
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    9,
  ]);
  assert.deepEqual(
    h.asked,
    ["pause", "resume"],
    "read below the limit: taken from the kernel again",
  );
  side.end();
  assert.equal((await reader.read(new Uint8Array(4))).done, true);
});
