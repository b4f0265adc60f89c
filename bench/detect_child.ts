/**
 * One detection contender, run inside the client namespace in Deno or Bun.
 *
 * Argument: JSON { contender: "sockalive" | "builtin", mode: "idle" | "write", hostname, port,
 * keepAlive? }. Prints {"type":"opened","at"}, then {"type":"broken","at","code"} when the
 * runtime or sockalive reports the connection dead. "write" sends 1 KiB every 20 ms, so data is
 * always in flight when the cable is pulled.
 *
 * @module
 */

import process from "node:process";
import { connect } from "../mod.ts";
import { args, bunConnect, emit, isBun } from "./common.ts";

interface Config {
  contender: "sockalive" | "builtin";
  mode: "idle" | "write";
  hostname: string;
  port: number;
  keepAlive?: Record<string, number>;
}

const config = JSON.parse(args()[0]) as Config;
const chunk = new Uint8Array(1024).fill(120);
const WRITE_EVERY_MS = 20;
let reported = false;

function broken(code: string, detail?: string): void {
  if (reported) return;
  reported = true;
  emit({ type: "broken", at: Date.now(), code, detail });
  setTimeout(() => process.exit(0), 50);
}

function codeOf(error: unknown): string {
  const e = error as { code?: string; name?: string; message?: string };
  return e?.code ?? e?.name ?? String(e?.message ?? error);
}

function pace(write: () => Promise<unknown> | void): void {
  let busy = false;
  setInterval(() => {
    if (busy || reported) return;
    const result = write();
    if (result instanceof Promise) {
      busy = true;
      result.then(() => (busy = false), (error) => broken(codeOf(error), "write"));
    }
  }, WRITE_EVERY_MS);
}

if (config.contender === "sockalive") {
  const conn = connect({
    hostname: config.hostname,
    port: config.port,
    keepAlive: config.keepAlive,
  });
  conn.addEventListener("statechange", (e) => {
    if (e.to === "broken") broken(e.info?.code ?? "?");
    else if (e.to === "closed-gracefully") broken(`closed-gracefully by ${e.info?.by}`);
  });
  await conn.opened;
  emit({ type: "opened", at: Date.now(), keepAlive: conn.keepAlive });
  if (config.mode === "write") pace(() => conn.write(chunk).catch(() => {}));
} else if (isBun) {
  // Bun's own: setKeepAlive(true, initialDelay) — interval fixed at 1 s, count at 10.
  const socket = await bunConnect(config.hostname, config.port, {
    data() {},
    end: () => broken("EOF"),
    close: (_s, error) => broken(error ? codeOf(error) : "close"),
    error: (_s, error) => broken(codeOf(error)),
  });
  const ok = socket.setKeepAlive(true, 1000);
  emit({ type: "opened", at: Date.now(), builtin: `setKeepAlive(true, 1000) -> ${ok}` });
  if (config.mode === "write") pace(() => void socket.write(chunk));
} else {
  // Deno's own: setKeepAlive(true) — the system defaults (7200 s idle, 75 s interval, 9 probes).
  const conn = await Deno.connect({ hostname: config.hostname, port: config.port });
  conn.setKeepAlive(true);
  emit({ type: "opened", at: Date.now(), builtin: "setKeepAlive(true)" });
  if (config.mode === "write") pace(() => conn.write(chunk));
  const buffer = new Uint8Array(16 * 1024);
  try {
    while (true) {
      const n = await conn.read(buffer);
      if (n === null) {
        broken("EOF");
        break;
      }
    }
  } catch (error) {
    broken(codeOf(error), "read");
  }
}
