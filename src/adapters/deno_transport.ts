/**
 * {@linkcode DenoTransport}: one `Deno.TcpConn` (or `Deno.TlsConn`) as a {@linkcode Transport},
 * read through the shared readiness wait where there is one (never over TLS).
 *
 * @module
 */

import type { SocketAddress } from "../address.ts";
import type { ClientTls } from "../tls_options.ts";
import type { Descriptor } from "../../ffi/types.ts";
import type { Transport, TransportSink, WriteProgress } from "../transport.ts";
import type { ReadinessListener } from "../readiness.ts";
import { denoCalls, denoHints, denoMonitor, monitorEnabledNow } from "./deno_ffi.ts";
// Deno's API through declarations of its own, so that projects without Deno's types check this.
import * as Deno from "./deno_api.ts";

/** A Deno address as the core describes it. */
export function netAddr(addr: Deno.Addr): SocketAddress {
  const a = addr as Deno.NetAddr;
  return { hostname: a.hostname, port: a.port };
}

/**
 * TLS on a Deno transport: for a client, how to start it over the TCP connection; for a socket
 * a TLS listener accepted ({@linkcode ACCEPTED_TLS}), only the handshake is left to run.
 */
export type DenoTls = ClientTls | typeof ACCEPTED_TLS;

/** The TLS of a `Deno.TlsConn` from `Deno.listenTls`: the handshake is all that is left. */
export const ACCEPTED_TLS: unique symbol = Symbol("accepted TLS");

/**
 * One `Deno.TcpConn` as a {@linkcode Transport}. Reading goes one of two ways:
 * - watched (Linux): no read is pending while the socket is quiet; the shared
 *   {@linkcode ReadinessMonitor} says when there are bytes, a FIN or an error, and the socket is
 *   then read until it would wait, and watched again;
 * - pending read (elsewhere, if the monitor fails, and always over TLS): one read always
 *   pending, as Deno's own streams do.
 */
export class DenoTransport implements Transport, ReadinessListener {
  // A TcpConn; over TLS, the TlsConn once the handshake starts (Deno.startTls consumes the TCP
  // one). The socket under both is the same: the same descriptor, the same addresses.
  #conn: Deno.Conn;
  readonly #tls: DenoTls | undefined;
  // Fields rather than closures: memory per idle connection is a target (BENCHMARKS.md).
  readonly #guess: Descriptor | undefined;
  #fd: Descriptor | undefined;
  #sink: TransportSink | undefined;
  #token: number | undefined; // set while the monitor watches the socket
  #readSize = MIN_READ_SIZE;
  // scanned, reading, paused, closed, armed and detached, as bits of one number (see below).
  #flags = 0;
  #wake: (() => void) | undefined;

  #setFlag(bit: number, on: boolean): void {
    this.#flags = on ? this.#flags | bit : this.#flags & ~bit;
  }

  get #scanned(): boolean {
    return (this.#flags & SCANNED) !== 0;
  }
  set #scanned(on: boolean) {
    this.#setFlag(SCANNED, on);
  }
  get #reading(): boolean {
    return (this.#flags & READING) !== 0;
  }
  set #reading(on: boolean) {
    this.#setFlag(READING, on);
  }
  get #paused(): boolean {
    return (this.#flags & PAUSED) !== 0;
  }
  set #paused(on: boolean) {
    this.#setFlag(PAUSED, on);
  }
  /** Out of the shared wait (read straight through); armed again by going back in. */
  get #detached(): boolean {
    return (this.#flags & DETACHED) !== 0;
  }
  set #detached(on: boolean) {
    this.#setFlag(DETACHED, on);
  }
  /** The one-shot watch is armed: the monitor reports this socket's next bytes. */
  get #armed(): boolean {
    return (this.#flags & ARMED) !== 0;
  }
  set #armed(on: boolean) {
    this.#setFlag(ARMED, on);
  }
  get #closed(): boolean {
    return (this.#flags & CLOSED) !== 0;
  }
  set #closed(on: boolean) {
    this.#setFlag(CLOSED, on);
  }

  /**
   * `guess`: the lowest free descriptor just before Deno created the socket, if known; `tls`:
   * TLS to run over it ({@linkcode DenoTransport.handshake}).
   */
  constructor(conn: Deno.TcpConn | Deno.TlsConn, guess?: Descriptor, tls?: DenoTls) {
    this.#conn = conn;
    this.#guess = guess;
    this.#tls = tls;
  }

  // Made when asked (rarely: finding the socket, re-verifying it) rather than kept per
  // connection; Deno keeps its own copy on the TcpConn.
  get localAddr(): SocketAddress {
    return netAddr(this.#conn.localAddr);
  }

  get remoteAddr(): SocketAddress {
    return netAddr(this.#conn.remoteAddr);
  }

  *hints(): Iterable<Descriptor> {
    // Lazily: the first guess nearly always verifies, and the rest need not be listed.
    if (this.#guess !== undefined) yield this.#guess;
    yield* denoHints.guesses();
  }

  scan(): Iterable<Descriptor> {
    this.#scanned = true;
    return denoCalls().listDescriptors();
  }

  found(fd: Descriptor): void {
    denoHints.found(fd, this.#scanned);
    this.#fd = fd;
  }

  failure(waitMs: number): Promise<unknown> {
    // A read returns at once on a socket the kernel has failed; on a live one it waits, and is
    // ended by the close that follows.
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, waitMs, undefined);
      this.#conn.read(new Uint8Array(1)).then(() => undefined, (error: unknown) => error).then(
        (error) => {
          clearTimeout(timer);
          resolve(error);
        },
      );
    });
  }

  handshake(): Promise<string | null> | undefined {
    return this.#tls === undefined ? undefined : this.#secure(this.#tls);
  }

  /** Starts TLS over the TCP connection where that is left to do, then runs the handshake. */
  async #secure(tls: DenoTls): Promise<string | null> {
    if (tls !== ACCEPTED_TLS) {
      // startTls rather than connectTls: the TCP connect is the same dial as without TLS (its
      // descriptor guess, its abort), and startTls verifies for any name (serverName), where
      // connectTls verifies only for the host it dials.
      const conn = await Deno.startTls(this.#conn as Deno.TcpConn, {
        hostname: tls.serverName,
        caCerts: tls.caCerts.length > 0 ? [...tls.caCerts] : undefined,
        alpnProtocols: tls.alpnProtocols.length > 0 ? [...tls.alpnProtocols] : undefined,
      });
      if (this.#closed) {
        // close() came while TLS was starting: it could not close what startTls had taken over.
        conn.close();
        throw new Error("The connection was closed during the TLS handshake");
      }
      this.#conn = conn;
    }
    return (await (this.#conn as Deno.TlsConn).handshake()).alpnProtocol;
  }

  start(sink: TransportSink): void {
    this.#sink = sink;
    // A statechange listener may have closed the connection before this point.
    if (this.#closed) return;
    // Over TLS, one read stays pending, never the readiness wait. The wait reports the TCP
    // socket, not TLS records: bytes that are readable there may be only part of a record, or a
    // record with no plaintext (a TLS 1.3 session ticket, an alert), so a read after the report
    // could wait after all; and TLS may hold plaintext already decrypted (more than a read took)
    // while the socket shows nothing, so a drained-looking socket could leave bytes unread.
    // rustls knows both; a read pending on the TlsConn asks it.
    if (this.#tls !== undefined) return void this.#pump();
    // The core found and verified #fd in this same synchronous turn (resolve, apply keepalive,
    // read back, start): no JS ran that could have closed it, and only close() closes it.
    // useReadinessMonitor(false) decides here, for new connections only: one already watched
    // keeps talking to the monitor until it is closed.
    const watcher = this.#fd === undefined || !monitorEnabledNow() ? undefined : denoMonitor();
    this.#token = watcher?.add(this.#fd!, this);
    if (this.#token === undefined) void this.#pump();
    else this.#armed = true;
  }

  get waitsForReadiness(): boolean {
    // As start() decides: plain TCP, with the shared wait on (it may still fail to start).
    return this.#tls === undefined && monitorEnabledNow();
  }

  ready(error: boolean): void {
    this.#armed = false;
    // The kernel ended it (a reset, a timeout): told without a read where nothing is left to
    // read first. A failing Deno read costs an error object with a stack of the runtime's, which
    // is most of what a break costs when thousands come at once (a pulled cable).
    if (error && !this.#closed && !this.#reading && this.#sink!.failedInKernel?.()) return;
    // While paused the watch stays disarmed; resume() arms it again.
    if (!this.#closed && !this.#paused) void this.#drain();
  }

  wanted(): void {
    // The consumer waits with its own buffer: read into it now (a read that may wait, but holds
    // only the consumer's memory) rather than after the monitor's report, a thread hop later;
    // the watch is quieted meanwhile, so the reply does not also wake the monitor's thread.
    if (this.#token === undefined || this.#closed || this.#paused || this.#reading) return;
    this.#armed = false;
    if (!this.#detached) denoMonitor()?.quiet(this.#fd!, this.#token);
    void this.#drain();
  }

  readNow(into: Uint8Array): Promise<number | null> | undefined {
    // Only while watched and nothing else reads: the pending-read way has a read of its own.
    if (this.#token === undefined || this.#closed || this.#paused || this.#reading) {
      return undefined;
    }
    this.#reading = true;
    if (!this.#detached) {
      // Out of the shared wait while reads come straight through: neither the monitor's thread
      // nor the kernel (a callback per packet into the epoll set) spends anything on it.
      this.#armed = false;
      this.#detached = true;
      denoMonitor()?.detach(this.#fd!, this.#token);
    }
    return this.#conn.read(into);
  }

  readSettled(): void {
    this.#reading = false;
    // Watch again only if the consumer does not read again at once: a bulk reader's next read
    // comes in the job right after its await resumes, which is before this second hop, so a
    // stream of reads pays for no watch at all.
    this.#watchUnlessReadAgain();
  }

  #watchUnlessReadAgain(): void {
    queueMicrotask(() => queueMicrotask(() => this.#idleAfterRead()));
  }

  #idleAfterRead(): void {
    if (this.#reading || this.#closed || this.#paused || this.#token === undefined) return;
    this.#watch();
  }

  fallback(): void {
    this.#token = undefined;
    if (!this.#closed && !this.#reading) void this.#pump();
  }

  /** Watched: reads while the kernel has something, then watches again. */
  async #drain(): Promise<void> {
    if (this.#reading) return;
    this.#reading = true;
    let handOver = false;
    try {
      for (;;) {
        if (this.#closed || this.#paused) return;
        // #readOnce stays a separate async step on purpose: the turn it takes after handing a
        // read to the consumer lets the consumer ask for its next read before the check below,
        // so bulk reads go straight into its buffer (inlining it measured 0.55x instead of 0.93x).
        const more = await this.#readOnce();
        if (more === undefined) return;
        if (this.#token === undefined) break; // the monitor failed meanwhile
        // A read() consumer reads through readNow from its next read on, which needs this loop
        // out of the way; the same check as after such a read watches again if it does not.
        if (this.#sink!.readsNow?.()) {
          handOver = true;
          break;
        }
        // Go back to watching only when the socket is drained and nobody waits with a buffer of
        // their own: a BYOB read waiting is active interest, and reading straight into it (even
        // if that read waits) costs no memory of ours and saves a trip through the monitor.
        if (!more && !this.#sink!.destination() && !denoMonitor()?.readable(this.#fd!)) break;
      }
    } catch (error) {
      if (!this.#closed) this.#sink!.error(error);
      return;
    } finally {
      this.#reading = false;
    }
    if (handOver) this.#watchUnlessReadAgain();
    else if (!this.#closed && !this.#paused) this.#watch();
  }

  /** Arms the watch again, or falls back to a pending read if that cannot be. */
  #watch(): void {
    const token = this.#token;
    if (token !== undefined && denoMonitor()?.rearm(this.#fd!, token, this.#detached)) {
      this.#armed = true;
      this.#detached = false;
      return;
    }
    this.fallback();
  }

  /** Pending read: one read always outstanding, except while paused. */
  async #pump(): Promise<void> {
    try {
      while (!this.#closed) {
        if (this.#paused) {
          await new Promise<void>((resolve) => (this.#wake = resolve));
          continue;
        }
        if (await this.#readOnce() === undefined) return;
      }
    } catch (error) {
      if (!this.#closed) this.#sink!.error(error);
    }
  }

  /**
   * One read, handed to the sink. Resolves with whether the buffer was filled (more is likely
   * waiting), or `undefined` once nothing more will come (FIN, or closed).
   */
  async #readOnce(): Promise<boolean | undefined> {
    const sink = this.#sink!;
    // The consumer's own buffer, when it waits with one: read into it, no new memory, no copy.
    const into = sink.destination();
    if (into) {
      const n = await this.#conn.read(into);
      if (this.#closed) return undefined;
      if (n === null) {
        sink.end();
        return undefined;
      }
      sink.filled(n);
      return n === into.byteLength;
    }
    // A read may wait (for long, in the pending-read way) holding its buffer, so reads start
    // small; a read that fills its buffer doubles the next (bulk transfer reaches full size
    // within a few reads), and a small read halves it again.
    const size = this.#readSize;
    const buffer = new Uint8Array(size);
    const n = await this.#conn.read(buffer);
    if (this.#closed) return undefined;
    if (n === null) {
      sink.end();
      return undefined;
    }
    if (n === size) this.#readSize = Math.min(size * 2, MAX_READ_SIZE);
    else if (n < size / 4) this.#readSize = Math.max(size / 2, MIN_READ_SIZE);
    // Small reads are copied so a large buffer is not kept alive by a few bytes.
    sink.data(n < size / 4 ? buffer.slice(0, n) : buffer.subarray(0, n));
    return n === size;
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    if (this.#token !== undefined) {
      if (!this.#reading && !this.#closed) this.#watch();
      return;
    }
    this.#wake?.();
    this.#wake = undefined;
  }

  async write(bytes: Uint8Array, progress: WriteProgress): Promise<void> {
    for (let offset = 0; offset < bytes.byteLength;) {
      const n = await this.#conn.write(bytes.subarray(offset));
      offset += n;
      if (n > 0) progress.sent(n);
    }
  }

  closeWrite(): Promise<void> {
    return this.#conn.closeWrite();
  }

  close(): Promise<void> | undefined {
    if (this.#closed) return undefined;
    this.#closed = true;
    // Closed just below, which takes it out of the shared wait: only its listener goes here.
    // (Deno owns the only descriptor of the socket; one still held by a pending read is closed
    // when that read ends, and a report meanwhile finds no listener.)
    const released = this.#token === undefined
      ? undefined
      : denoMonitor()?.remove(this.#fd!, this.#token, true);
    this.#token = undefined;
    this.#wake?.();
    this.#wake = undefined;
    try {
      this.#conn.close();
    } catch {
      // Already closed by the runtime.
    }
    // The descriptor is free now; the next socket Deno opens is likely to get it.
    if (this.#fd !== undefined) denoHints.released(this.#fd);
    return released;
  }
}

const SCANNED = 1, READING = 2, PAUSED = 4, CLOSED = 8, ARMED = 16, DETACHED = 32;
const MIN_READ_SIZE = 512;
const MAX_READ_SIZE = 256 * 1024;
