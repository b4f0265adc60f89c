/**
 * What the connect hooks of both adapters share: replacing a function so that it can be put back
 * exactly, telling sockalive's own dials apart, and the `node:net` hook (Deno and Bun both have
 * `node:net`, whose `Socket.prototype.connect` every `net.connect`, `net.createConnection`,
 * `new net.Socket().connect` and `tls.connect` goes through).
 *
 * @module
 */

import type { NodeSocketLike } from "../sockets.ts";
import type { OpenedSocket } from "../transport.ts";

let ownDials = 0;

/**
 * Runs `dial`, a call to the runtime's connect function that sockalive makes for a connection of
 * its own: the hooks, called synchronously inside it, leave that connection alone (it has its own
 * options).
 */
export function ownDial<T>(dial: () => T): T {
  ownDials++;
  try {
    return dial();
  } finally {
    ownDials--;
  }
}

/** Whether the connect function now running was called by {@linkcode ownDial}. */
export function isOwnDial(): boolean {
  return ownDials > 0;
}

/**
 * Sets `object[key]` to what `make` builds around the original, and returns the function that
 * puts the original back. `live()` is false once put back: a replacement that cannot be removed
 * (someone replaced it in turn since, and removing ours would remove theirs) stays in place and
 * must then only pass calls through.
 */
export function replace<T extends object, K extends keyof T>(
  object: T,
  key: K,
  make: (original: T[K], live: () => boolean) => T[K],
): () => void {
  const original = object[key];
  let live = true;
  const replacement = make(original, () => live);
  object[key] = replacement;
  return () => {
    live = false;
    if (object[key] === replacement) object[key] = original;
  };
}

/** The part of a `node:net` `Socket` the hook uses. */
interface NetSocket extends NodeSocketLike {
  readonly encrypted?: boolean;
  prependOnceListener(event: "connect", listener: () => void): unknown;
}

interface NetModule {
  Socket: { prototype: { connect(this: NetSocket, ...args: unknown[]): unknown } };
}

/**
 * Patches `net.Socket.prototype.connect` to hear of each TCP socket once connected: a listener
 * put before every other on its next 'connect' (over TLS, the TCP connect, before the handshake),
 * so the policy is in place before the owner's own 'connect' code runs.
 */
export function hookNodeNet(
  opened: (connection: OpenedSocket<NodeSocketLike>) => void,
): () => void {
  // node:net is loaded only now, from the runtime itself: importing sockalive loads none of it.
  const process = (globalThis as { process?: { getBuiltinModule?(id: string): unknown } }).process;
  const net = process?.getBuiltinModule?.("node:net") as NetModule | undefined;
  if (!net) return () => {};
  // The host asked for in the last connect of each socket whose 'connect' is awaited (per
  // install: a listener left by an earlier one is dead and must not stand in for a new one).
  const pending = new WeakMap<NetSocket, string>();
  return replace(
    net.Socket.prototype,
    "connect",
    (original, live) =>
      function connect(this: NetSocket, ...args: unknown[]): unknown {
        const hostname = live() && !isOwnDial() ? requestedHost(args) : undefined;
        if (hostname !== undefined) {
          const waiting = pending.has(this); // a connect again, before the last one connected
          pending.set(this, hostname);
          if (!waiting) {
            this.prependOnceListener("connect", () => {
              const asked = pending.get(this);
              pending.delete(this);
              if (asked === undefined || !live()) return;
              const tls = this.encrypted === true;
              opened({ socket: this, api: tls ? "node:tls" : "node:net", hostname: asked, tls });
            });
          }
        }
        return Reflect.apply(original, this, args);
      },
  );
}

/**
 * The host a `connect(...)` call asks for, the way node:net reads its arguments: an options
 * object (also inside the array `net.connect` passes on), or `(port, host?)`; `localhost` by
 * default. `undefined` for a Unix socket (`path`, or a string that is not a port).
 */
function requestedHost(args: unknown[]): string | undefined {
  const first = Array.isArray(args[0]) ? args[0][0] : args[0];
  if (typeof first === "object" && first !== null) {
    const options = first as { host?: unknown; path?: unknown };
    if (typeof options.path === "string") return undefined;
    return typeof options.host === "string" && options.host !== "" ? options.host : "localhost";
  }
  if (typeof first === "string" && !/^\d+$/.test(first)) return undefined;
  return typeof args[1] === "string" && args[1] !== "" ? args[1] : "localhost";
}
