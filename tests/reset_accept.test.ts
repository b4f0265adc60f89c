/**
 * A peer that accepts and resets at once: each connection ends `broken` with the kernel's word
 * for it (ECONNRESET), whether the reset lands before keepalive is applied or after, and never
 * with a lookup failure (`ERR_SOCKET_NOT_FOUND`) or an internal error (`EIO`).
 */
import assert from "node:assert/strict";
import { fixture, preloadFfi, Proc, test } from "./harness.ts";
import { connect } from "../mod.ts";

preloadFfi();

const CONNECTIONS = 400;
const CONCURRENCY = 16;

test("reset after accept: every connection is broken ECONNRESET, never not-found", async () => {
  const peer = new Proc(["python3", fixture("resetter.py"), "127.0.0.1", "0"]);
  try {
    const port = Number((await peer.waitFor(/^LISTENING /)).split(" ")[1]);
    const codes = new Map<string, number>();
    let next = 0;
    const worker = async () => {
      while (next++ < CONNECTIONS) {
        const conn = connect({ port, keepAlive: { idle: 1000, interval: 1000, count: 3 } });
        const info = await conn.closed;
        const key = `${info.state} ${info.code ?? info.by}`;
        codes.set(key, (codes.get(key) ?? 0) + 1);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    console.log("reset after accept:", Object.fromEntries(codes));
    assert.deepEqual(Object.fromEntries(codes), { "broken ECONNRESET": CONNECTIONS });
  } finally {
    await peer.kill();
  }
}, { timeout: 30_000, sanitize: false });
