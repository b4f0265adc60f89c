/**
 * Many monitored connections across one cable, run inside the client namespace in Deno or Bun.
 *
 * Argument: JSON { hostname, port, n, keepAlive }. Opens `n` sockalive connections (100 at a
 * time), prints {"type":"progress","opened"} while opening, {"type":"opened","at","n"} once all
 * are open, then batches of {"type":"broken","items":[[at, code], ...]} as they end.
 *
 * @module
 */

import { connect, type LiveConnection } from "../mod.ts";
import { args, emit } from "./common.ts";

const config = JSON.parse(args()[0]) as {
  hostname: string;
  port: number;
  n: number;
  keepAlive: Record<string, number>;
};

const conns: LiveConnection[] = [];
let pending: Array<[number, string]> = [];
let ended = 0;
for (let i = 0; i < config.n; i += 100) {
  const batch: LiveConnection[] = [];
  for (let j = i; j < Math.min(config.n, i + 100); j++) {
    const conn = connect({
      hostname: config.hostname,
      port: config.port,
      keepAlive: config.keepAlive,
    });
    conn.addEventListener("statechange", (e) => {
      if (e.to === "broken" || e.to === "closed-gracefully") {
        ended++;
        pending.push([e.at, e.info?.code ?? e.to]);
      }
    });
    batch.push(conn);
  }
  await Promise.all(batch.map((c) => c.opened));
  conns.push(...batch);
  if ((i / 100) % 5 === 4) emit({ type: "progress", opened: conns.length });
}
emit({ type: "opened", at: Date.now(), n: conns.length, keepAlive: conns[0].keepAlive });
setInterval(() => {
  if (pending.length === 0) return;
  emit({ type: "broken", items: pending, ended });
  pending = [];
}, 100);
