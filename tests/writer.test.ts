/**
 * The write side's two ways: a transport that writes without waiting (Bun) takes a write the
 * kernel accepts at once with no promise of its own; what it does not take, and every write
 * behind one still in progress, go through the queue in call order.
 */
import assert from "node:assert/strict";
import { test } from "./harness.ts";
import { WriteSide } from "../src/writer.ts";
import { ConnectionStateMachine } from "../src/state.ts";
import { ConnectionClosedError } from "../src/errors.ts";
import type { Transport, WriteProgress } from "../src/transport.ts";

/** A transport whose kernel takes `room` bytes now, then everything on write(). */
function transport(room: number) {
  const log: string[] = [];
  let wanted: (() => void) | undefined;
  const t = {
    room,
    hold: false,
    log,
    release: () => wanted?.(),
    tryWrite(bytes: Uint8Array, progress: WriteProgress): number {
      const n = Math.min(t.room, bytes.byteLength);
      t.room -= n;
      log.push(`try ${bytes[0]}:${bytes.byteLength} -> ${n}`);
      if (n > 0) progress.sent(n);
      return n;
    },
    write(bytes: Uint8Array, progress: WriteProgress): Promise<void> {
      log.push(`write ${bytes[0]}:${bytes.byteLength}`);
      return new Promise<void>((resolve) => {
        const finish = () => {
          progress.sent(bytes.byteLength);
          resolve();
        };
        if (t.hold) wanted = finish;
        else finish();
      });
    },
  };
  return t;
}

function side(t: ReturnType<typeof transport>) {
  const machine = new ConnectionStateMachine();
  machine.send({ type: "opened" });
  const host = {
    machine,
    transport: t as unknown as Transport,
    settled: () => Promise.resolve(),
    closedError: (action: string) => new ConnectionClosedError(`Cannot ${action}`, "X"),
  };
  return new WriteSide(host);
}

const bytes = (first: number, length: number) => new Uint8Array(length).fill(first);

test("writer: a write the kernel takes at once is done at once, counted, with no queued write", async () => {
  const t = transport(1000);
  const w = side(t);
  const a = w.write(bytes(1, 100));
  const b = w.write(bytes(2, 200));
  assert.equal(w.bytesWritten, 300, "counted as the kernel took them, before any await");
  await Promise.all([a, b]);
  assert.deepEqual(t.log, ["try 1:100 -> 100", "try 2:200 -> 200"]);
});

test("writer: what the kernel does not take goes on through write(); later writes wait behind it", async () => {
  const t = transport(60);
  t.hold = true;
  const w = side(t);
  const a = w.write(bytes(1, 100)); // 60 now, 40 through write()
  const b = w.write(bytes(2, 10)); // behind a: queued, not tried
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.deepEqual(t.log, ["try 1:100 -> 60", "write 1:40"]);
  assert.equal(w.bytesWritten, 60);
  t.hold = false;
  t.release();
  await Promise.all([a, b]);
  assert.deepEqual(t.log, ["try 1:100 -> 60", "write 1:40", "write 2:10"]);
  assert.equal(w.bytesWritten, 110);
  // Nothing in progress again: the next one is tried at once.
  t.room = 5;
  await w.write(bytes(3, 5));
  assert.equal(t.log.at(-1), "try 3:5 -> 5");
});

test("writer: a transport that cannot write now (-1) leaves the write to write(), which says why", async () => {
  const t = transport(0);
  t.tryWrite = () => -1;
  t.write = () => Promise.reject(Object.assign(new Error("gone"), { code: "EPIPE" }));
  const w = side(t);
  await assert.rejects(w.write(bytes(1, 10)), ConnectionClosedError);
});
