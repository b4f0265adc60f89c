/**
 * The Bun adapter: `Bun.connect` for I/O (with its `tls` option for TLS), `bun:ffi` for socket
 * options. Bun exposes the descriptor (a Bun socket's `fd`; a `node:net` or `node:tls` socket's
 * `_handle.fd`). A Bun socket's own, read by Bun's getter (-1 once it closes), is verified to be
 * a connected TCP socket; any other is verified by its addresses before use.
 *
 * Nothing here refers to `Bun` or `bun:ffi` until called, so Deno can load (and type-check)
 * this file; the types below describe the small part of Bun's API that sockalive uses.
 *
 * @module
 */

import type { ClientTls, ServerTls } from "../tls_options.ts";
import type { Descriptor, SocketCalls } from "../../ffi/types.ts";
import type { SocketAddress } from "../address.ts";
import type { SocketTarget } from "../sockopt.ts";
import {
  ipAddresses,
  isNodeSocket,
  nodeSocketAddresses,
  type NodeSocketLike,
  notASocket,
  socketClosed,
} from "../sockets.ts";
import { type Dialer, dialUntil } from "../dial.ts";
import type { AcceptSource, Adapter, BindOptions, Transport } from "../transport.ts";
import { bunCalls, platform } from "./bun_ffi.ts";
import { bunConnectHooks } from "./bun_hooks.ts";
import { ownDial } from "./hooks.ts";
import {
  type BunConnectOptions,
  type BunSocket,
  type BunSocketLike,
  type BunTlsOptions,
  BunTransport,
  handlers,
} from "./bun_transport.ts";

export type { BunSocketLike } from "./bun_transport.ts";
export type { NodeSocketLike } from "../sockets.ts";

export { bunCalls } from "./bun_ffi.ts";

interface BunGlobal {
  connect<T>(options: BunConnectOptions<T>): Promise<BunSocket<T>>;
  listen<T>(
    options: Omit<BunConnectOptions<T>, "data">,
  ): { hostname: string; port: number; stop(closeActive?: boolean): void };
}

function bun(): BunGlobal {
  return (globalThis as unknown as { Bun: BunGlobal }).Bun;
}

/** The Bun runtime for the core. */
export const bunRuntime: Adapter<BunHeldSocket> = {
  name: "Bun",
  platform,
  calls: bunCalls,
  listen: (options) => bunListen(options),
  target: targetOf,
  connectHooks: bunConnectHooks,
  async dial({ hostname, port, tls }, signal) {
    const transport = new BunTransport(tls !== undefined);
    let calls: SocketCalls | undefined;
    try {
      calls = bunCalls();
    } catch {
      calls = undefined; // no FFI: the connection fails when keepalive is applied
    }
    // Bun cannot cancel a connect: dialUntil ends one that never completes.
    const dialer: Dialer<BunSocket<BunTransport>> = {
      // Marked as sockalive's own: a default keepalive policy leaves it to its own options.
      start: () =>
        ownDial(() =>
          bun().connect<BunTransport>({
            hostname,
            port,
            data: transport,
            binaryType: "uint8array",
            ...(tls ? { tls: clientTls(tls, hostname) } : {}),
            socket: handlers,
          })
        ),
      release: (socket) => socket.end(),
    };
    const free = calls?.lowestFreeDescriptor();
    const socket = await dialUntil(dialer, { hostname, port }, signal, platform(), calls, free);
    // A peer that resets right after accepting can kill the socket before this point. Its own
    // descriptor, verified next, then has no peer (or Bun has closed it), and the core reports
    // what Bun says happened (transport.failure), e.g. ECONNRESET: asking Bun for the peer's
    // address here would cost a system call and a string kept on every connection.
    transport.attach(socket);
    if (signal.aborted) {
      transport.close();
      throw signal.reason;
    }
    return transport;
  },
};

/**
 * A socket the program holds that sockalive can set options on in Bun: a Bun `Socket` (plain or
 * TLS), a `node:net` `Socket` or a `node:tls` `TLSSocket`.
 */
export type BunHeldSocket = BunSocketLike | NodeSocketLike;

const EXPECTED = "a Bun Socket (TCP or TLS), a node:net Socket or a node:tls TLSSocket";

/**
 * The lookup for a socket whose descriptor Bun does not name: every open descriptor, each
 * verified by address (and network namespace) before use, as in Deno.
 */
function bunLookup(): Pick<SocketTarget, "hints" | "scan"> {
  return { hints: () => [], scan: () => bunCalls().listDescriptors() };
}

function targetOf(socket: BunHeldSocket): SocketTarget {
  if (typeof socket !== "object" || socket === null) throw notASocket(EXPECTED, socket);
  // node:net and node:tls sockets (every npm driver's): Bun keeps the descriptor on the native
  // socket behind the wrapper, `_handle.fd` (for a TLSSocket too, also one made over a
  // node:net socket with `tls.connect({ socket })`: both then name the same descriptor).
  if (isNodeSocket(socket)) {
    const addresses = nodeSocketAddresses(socket, EXPECTED);
    const fd = (socket as { _handle?: { fd?: unknown } | null })._handle?.fd;
    // -1 once the native socket has closed, before node:net marks the wrapper destroyed.
    if (typeof fd === "number" && fd < 0) throw socketClosed();
    return typeof fd === "number" ? { ...addresses, hints: () => [fd] } : {
      ...addresses,
      ...bunLookup(),
    };
  }
  const own = ownDescriptor(socket);
  if (own !== undefined) {
    if (own < 0) throw socketClosed();
    // Over IP or not, the kernel says (a Unix socket has no IP addresses and is refused then,
    // with nothing set): Bun's own peer address would cost a getpeername of its own, and a
    // string kept on the socket from then on.
    return new OwnSocketTarget(socket as BunSocketLike, own);
  }
  const bun = socket as Partial<BunSocketLike>;
  if (typeof bun.fd === "number") {
    // Bun sets -1 once a socket closes, and keeps the addresses.
    if (bun.fd < 0) throw socketClosed();
    const fd = bun.fd;
    const addresses = ipAddresses(bun);
    if (addresses) return { ...addresses, hints: () => [fd] };
    throw notASocket(EXPECTED, socket, bunKind(socket));
  }
  throw notASocket(EXPECTED, socket);
}

/**
 * Bun's own `fd` getters, by the prototype of the sockets they belong to. A getter of Bun's
 * checks that its receiver is one of Bun's sockets, and gives -1 from the socket's close on.
 */
const OWN_FD = new WeakMap<object, () => unknown>();
const NATIVE_FD_GETTER = /^function fd\(\) \{\s*\[native code\]\s*\}$/;

/**
 * The descriptor a Bun socket (from `Bun.connect` or `Bun.listen`, plain or TLS) holds, read by
 * Bun's own getter; `undefined` for anything else with an `fd` (a copy of one, say).
 */
function ownDescriptor(socket: object): number | undefined {
  const proto: object | null = Object.getPrototypeOf(socket);
  if (proto === null) return undefined;
  let get = OWN_FD.get(proto);
  if (get === undefined) {
    const tag = Object.prototype.toString.call(socket);
    if (tag !== "[object TCPSocket]" && tag !== "[object TLSSocket]") return undefined;
    const getter = Object.getOwnPropertyDescriptor(proto, "fd")?.get;
    if (!getter || !NATIVE_FD_GETTER.test(Function.prototype.toString.call(getter))) {
      return undefined;
    }
    OWN_FD.set(proto, get = getter);
  }
  try {
    const fd = get.call(socket);
    return typeof fd === "number" ? fd : undefined;
  } catch {
    return undefined; // not one of Bun's sockets, whatever its prototype says
  }
}

/**
 * A Bun socket as the target of a lookup: its own descriptor, named (see `SocketTarget.named`).
 * Its addresses are Bun's, read only if the descriptor does not verify (to say why).
 */
class OwnSocketTarget implements SocketTarget {
  readonly named = true;
  readonly #socket: BunSocketLike;
  readonly #fd: number;
  constructor(socket: BunSocketLike, fd: number) {
    this.#socket = socket;
    this.#fd = fd;
  }
  get local(): SocketAddress {
    return this.#addresses().local;
  }
  get remote(): SocketAddress {
    return this.#addresses().remote;
  }
  hints(): Iterable<Descriptor> {
    return [this.#fd];
  }
  #addresses(): { local: SocketAddress; remote: SocketAddress } {
    const addresses = ipAddresses(this.#socket);
    if (addresses) return addresses;
    throw notASocket(EXPECTED, this.#socket, bunKind(this.#socket));
  }
}

/** What a Bun object with a descriptor but no TCP connection's addresses is, for the error. */
function bunKind(socket: object): string {
  const s = socket as Record<string, unknown>;
  if (typeof s.send === "function" && typeof s.addMembership === "function") {
    return "a Bun UDP socket";
  }
  if (typeof s.stop === "function") return "a Bun listener";
  return "a Bun Socket with no IP addresses (a Unix socket?)";
}

/**
 * Bun's TLS options for a client. `rejectUnauthorized` is always set: Bun's default follows
 * `$NODE_TLS_REJECT_UNAUTHORIZED`, and an environment variable must not turn verification off.
 * Bun's `ca` replaces its default roots where Deno's `caCerts` adds to them: the roots are passed
 * along, so `caCerts` means the same in both runtimes.
 */
function clientTls(tls: ClientTls, hostname: string): BunTlsOptions {
  const options: BunTlsOptions = { rejectUnauthorized: true };
  // Bun verifies for the host dialed by default; a name is sent (SNI) only when it is another.
  if (tls.serverName !== hostname) options.serverName = tls.serverName;
  if (tls.caCerts.length > 0) options.ca = [...defaultRoots(), ...tls.caCerts];
  if (tls.alpnProtocols.length > 0) options.ALPNProtocols = alpnWire(tls.alpnProtocols);
  return options;
}

function serverTls(tls: ServerTls): BunTlsOptions {
  const options: BunTlsOptions = { cert: tls.cert, key: tls.key };
  if (tls.alpnProtocols.length > 0) options.ALPNProtocols = alpnWire(tls.alpnProtocols);
  return options;
}

/** The ALPN list as Bun takes it: each name's UTF-8 bytes behind their length (RFC 7301). */
function alpnWire(protocols: readonly string[]): Uint8Array {
  const names = protocols.map((p) => new TextEncoder().encode(p));
  const wire = new Uint8Array(names.reduce((n, name) => n + 1 + name.byteLength, 0));
  let offset = 0;
  for (const name of names) {
    wire[offset] = name.byteLength;
    wire.set(name, offset + 1);
    offset += 1 + name.byteLength;
  }
  return wire;
}

let roots: readonly string[] | undefined;

/** Bun's default roots (node:tls `rootCertificates`), loaded on first use. */
function defaultRoots(): readonly string[] {
  // import.meta.require is Bun's synchronous loader: node:tls stays out of Deno's module graph.
  return roots ??= (import.meta as unknown as {
    require(id: string): { rootCertificates: readonly string[] };
  }).require("node:tls").rootCertificates;
}

/**
 * Accepts with `Bun.listen`; each accepted socket gets its transport in `open`, which for TLS is
 * the TCP accept: the handshake follows in the connection (see `handlers.handshake`).
 */
function bunListen({ hostname, port, tls }: BindOptions): AcceptSource {
  let onAccepted: ((transport: Transport) => void) | undefined;
  const pending: Transport[] = [];
  const server = bun().listen<BunTransport>({
    hostname,
    port,
    binaryType: "uint8array",
    ...(tls ? { tls: serverTls(tls) } : {}),
    socket: {
      ...handlers,
      open(socket) {
        // Accepted sockets get their transport here; the shared handlers then route to it.
        const transport = new BunTransport(tls !== undefined);
        socket.data = transport;
        // A client that reset before it was accepted has no peer address any more: it is gone,
        // and skipped, as Deno's accept skips it.
        if (typeof socket.remoteAddress !== "string") {
          transport.close();
          socket.end();
          return;
        }
        transport.attach(socket);
        if (onAccepted) onAccepted(transport);
        else pending.push(transport);
      },
    },
  });
  const source: AcceptSource = {
    addr: { hostname: server.hostname, port: server.port },
    start(accepted) {
      onAccepted = accepted;
      for (const t of pending.splice(0)) accepted(t);
    },
    close() {
      // Stop accepting; connections already accepted are the caller's to close.
      server.stop(false);
    },
  };
  return source;
}
