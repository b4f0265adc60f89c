/**
 * The part of Deno's runtime API the Deno adapter uses, declared here rather than taken from
 * Deno's global `Deno` namespace: a Bun or Node project that type-checks this package has no
 * `Deno` declarations, and every entry point reaches this file through `src/adapters/auto.ts`.
 * Each function calls the global `Deno` when called (so a test that replaces `Deno.listen` is
 * heard), never when this file loads.
 *
 * Where Deno's own declarations are present (`deno check`), {@linkcode MatchesDeno} checks that
 * Deno's API has every member below with a type these declarations accept.
 *
 * @module
 */

import type { BoundFunctions, ForeignLibraryInterface } from "../../ffi/types.ts";

/** An address of a `Deno.Conn`: a TCP one has a hostname and a port. */
export interface Addr {
  /** `"tcp"`, `"udp"`, `"unix"`, ...; left out by `Deno.startTls`'s connection. */
  readonly transport?: string;
  /** Present on TCP and UDP addresses. */
  readonly hostname?: string;
  /** Present on TCP, UDP and vsock addresses. */
  readonly port?: number;
}

/** A TCP address. */
export interface NetAddr {
  /** `"tcp"` or `"udp"`. */
  readonly transport: "tcp" | "udp";
  /** The address, without brackets. */
  readonly hostname: string;
  /** The port. */
  readonly port: number;
}

/** A connection: `Deno.Conn`'s members the adapter uses. */
export interface Conn {
  /** Our end. */
  readonly localAddr: Addr;
  /** The peer's end. */
  readonly remoteAddr: Addr;
  /** Reads into `p`: the number of bytes read, or `null` at the end. */
  read(p: Uint8Array): Promise<number | null>;
  /** Writes from `p`: the number of bytes written. */
  write(p: Uint8Array): Promise<number>;
  /** Shuts down the write side (sends FIN). */
  closeWrite(): Promise<void>;
  /** Closes the connection. */
  close(): void;
}

/** A `Deno.TcpConn`: no member the adapter uses beyond a `Conn`'s. */
export type TcpConn = Conn;

/** A `Deno.TlsConn`. */
export interface TlsConn extends Conn {
  /** Runs the TLS handshake (once; later calls give the same answer). */
  handshake(): Promise<{ alpnProtocol: string | null }>;
}

/** A `Deno.Listener` of TCP (or TLS) connections. */
export interface Listener<C extends Conn> {
  /** The address it listens on. */
  readonly addr: Addr;
  /** The next connection. */
  accept(): Promise<C>;
  /** Stops listening. */
  close(): void;
}

/**
 * A pointer as Deno's FFI passes it: an opaque object (Deno's branded `PointerObject` where its
 * declarations are present), or `null` for NULL.
 */
export type PointerValue =
  | (typeof globalThis extends { Deno: { UnsafePointerView: new (pointer: infer P) => unknown } }
    ? P
    : object)
  | null;

/** What `Deno.dlopen` gives: the bound functions, and a way to close the library. */
export interface DynamicLibrary {
  /** Each symbol asked for, bound. */
  readonly symbols: Readonly<Record<string, (...args: never[]) => unknown>>;
  /** Unloads the library. */
  close(): void;
}

/** The global `Deno`, as far as the adapter uses it. */
export interface DenoApi {
  readonly build: { readonly os: string; readonly arch: string };
  readonly errors: {
    readonly NotCapable: abstract new (...args: never[]) => Error;
    readonly PermissionDenied: abstract new (...args: never[]) => Error;
  };
  readonly permissions: {
    querySync(descriptor: { name: "ffi" | "read"; path?: string }): { state: string };
  };
  statSync(path: string): unknown;
  connect(options: { hostname: string; port: number; signal?: AbortSignal }): Promise<TcpConn>;
  listen(options: { hostname: string; port: number }): Listener<TcpConn>;
  listenTls(options: {
    hostname: string;
    port: number;
    cert: string;
    key: string;
    alpnProtocols?: string[];
  }): Listener<TlsConn>;
  startTls(
    conn: TcpConn,
    options: { hostname?: string; caCerts?: string[]; alpnProtocols?: string[] },
  ): Promise<TlsConn>;
  dlopen(path: string, symbols: ForeignLibraryInterface): DynamicLibrary;
  readonly UnsafePointerView: {
    new (pointer: NonNullable<PointerValue>): { getInt32(offset?: number): number };
    getCString(pointer: NonNullable<PointerValue>, offset?: number): string;
  };
}

/**
 * `true` where there are no Deno declarations (a Bun project) or Deno's satisfy
 * {@linkcode DenoApi}; `false` otherwise, which {@linkcode denoApiMatches} does not accept.
 */
export type MatchesDeno = typeof globalThis extends { Deno: infer D }
  ? D extends DenoApi ? true : false
  : true;

/** Fails to type-check under Deno's declarations if {@linkcode DenoApi} misdescribes them. */
export const denoApiMatches: MatchesDeno = true;

function deno(): DenoApi {
  return (globalThis as unknown as { Deno: DenoApi }).Deno;
}

/** The global `Deno` object itself, for the hooks that replace its connect functions. */
export function namespace(): object {
  return deno();
}

/** `Deno.build`: the OS and architecture. */
export function build(): DenoApi["build"] {
  return deno().build;
}

/** `Deno.errors`: the classes a permission failure is an instance of. */
export function errors(): DenoApi["errors"] {
  return deno().errors;
}

/** Whether `--allow-ffi` (or `--allow-read`) covers `path`, or everything without one. */
export function allowed(name: "ffi" | "read", path?: string): boolean {
  return deno().permissions.querySync(path === undefined ? { name } : { name, path }).state ===
    "granted";
}

/** Whether there is a file at `path`, where reading it is allowed (no prompt); else `undefined`. */
export function exists(path: string): boolean | undefined {
  if (!allowed("read", path)) return undefined;
  try {
    deno().statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** `Deno.connect` over TCP. */
export function connect(options: Parameters<DenoApi["connect"]>[0]): Promise<TcpConn> {
  return deno().connect(options);
}

/** `Deno.listen` over TCP. */
export function listen(options: Parameters<DenoApi["listen"]>[0]): Listener<TcpConn> {
  return deno().listen(options);
}

/** `Deno.listenTls`. */
export function listenTls(options: Parameters<DenoApi["listenTls"]>[0]): Listener<TlsConn> {
  return deno().listenTls(options);
}

/** `Deno.startTls`: TLS over a connected `TcpConn`, which it takes over. */
export function startTls(
  conn: TcpConn,
  options: Parameters<DenoApi["startTls"]>[1],
): Promise<TlsConn> {
  return deno().startTls(conn, options);
}

/** `Deno.dlopen`: the bound functions, typed as Deno binds each C type. */
export function dlopen<S extends ForeignLibraryInterface>(
  path: string,
  symbols: S,
): BoundFunctions<S, PointerValue> {
  return deno().dlopen(path, symbols).symbols as unknown as BoundFunctions<S, PointerValue>;
}

/** The int at `pointer` (`new Deno.UnsafePointerView(pointer).getInt32()`). */
export function readInt32(pointer: NonNullable<PointerValue>): number {
  return new (deno().UnsafePointerView)(pointer).getInt32();
}

/** The NUL-terminated string `offset` bytes past `pointer`. */
export function readCString(pointer: NonNullable<PointerValue>, offset: number): string {
  return deno().UnsafePointerView.getCString(pointer, offset);
}
