/**
 * The far side of every benchmark, in its own process (Deno or Bun; the orchestrator uses Bun),
 * so the client's memory, descriptors and CPU are its own.
 *
 * usage: peer.ts MODE HOST PORT [BYTES]
 *   hold    accept and keep every connection open; read and discard; never write
 *   source  send BYTES on each connection, then FIN
 *   sink    read and count until FIN, then reply with the count as a line and FIN
 *   echo    write back every byte received
 * Prints {"type":"listening","port":N}, then {"type":"count","open":N} every second while the
 * number of open connections changes.
 *
 * @module
 */

import net from "node:net";
import { args, emit } from "./common.ts";

const [mode, host, portArg, bytesArg] = args();
const total = Number(bytesArg ?? 0);
let open = 0;
let reported = -1;

const server = net.createServer({ noDelay: true }, (socket) => {
  open++;
  socket.on("error", () => {});
  socket.on("close", () => open--);
  if (mode === "hold") {
    socket.on("data", () => {});
  } else if (mode === "source") {
    const chunk = new Uint8Array(256 * 1024).fill(97);
    let left = total;
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, chunk.byteLength);
        left -= n;
        if (!socket.write(n === chunk.byteLength ? chunk : chunk.subarray(0, n))) {
          socket.once("drain", pump);
          return;
        }
      }
      socket.end();
    };
    socket.on("data", () => {});
    pump();
  } else if (mode === "sink") {
    let count = 0;
    socket.on("data", (chunk: Uint8Array) => (count += chunk.byteLength));
    socket.on("end", () => socket.end(`${count}\n`));
  } else if (mode === "echo") {
    socket.on("data", (chunk: Uint8Array) => socket.write(chunk));
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
});
server.maxConnections = 100_000;
server.listen({ port: Number(portArg), host, backlog: 4096 }, () => {
  emit({ type: "listening", port: (server.address() as net.AddressInfo).port });
});
setInterval(() => {
  if (open !== reported) emit({ type: "count", open });
  reported = open;
}, 1000);
