/**
 * {@linkcode ReadSide}: everything a connection receives, from the transport to the consumer:
 * one queue of the bytes nobody has taken yet, `readable` (which reads from it, BYOB included),
 * `read()`, backpressure at `maxBufferedBytes`, and the check that keeps a paused connection
 * honest. It tells the state machine of the end (FIN) and of a break itself.
 *
 * @module
 */

import { ConnectionClosedError, errorCode } from "./errors.ts";
import type { CloseInfo, ConnectionStateMachine } from "./state.ts";
import type { SockRef } from "./sockref.ts";
import type { Transport, TransportSink } from "./transport.ts";
import { connectionReadable, type ReadableSource } from "./readable.ts";

/** What the read side needs of its connection. */
export interface ReadHost {
  /** The connection's state machine, told of the end and of a break. */
  readonly machine: ConnectionStateMachine;
  /** The transport, once dialed. */
  readonly transport: Transport | undefined;
  /** The socket, once found. */
  readonly sock: SockRef | undefined;
}

/** How often a paused connection checks, without reading, whether the peer ended or failed. */
const PAUSED_CHECK_MS = 100;

/** A read() waiting for bytes. */
interface DirectRead {
  view: Uint8Array;
  resolve(n: number | null): void;
  reject(error: unknown): void;
}

/**
 * The receiving half of a connection; what the transport's {@linkcode TransportSink} hands on.
 * Made when the first byte arrives or when the consumer first asks for `readable` or `read()`.
 */
export class ReadSide implements TransportSink, ReadableSource {
  readonly #host: ReadHost;
  readonly #maxBuffered: number;
  /** Bytes received so far (including any dropped after `readable` was cancelled). */
  bytesRead = 0;
  /**
   * When data last arrived, ms since the epoch (`undefined`: none has). Noted per chunk, not
   * per byte: the idle deadline and `CloseInfo.lastReceivedAt` read it.
   */
  lastReceivedAt: number | undefined = undefined;
  #readable: ReadableStream<Uint8Array> | undefined;
  /**
   * The controller of the stream that reads `readable`'s bytes: the default stream's, which
   * pulls from the queue below, or (from the first BYOB reader on) the byte stream's, which
   * is given every chunk as it comes and queues it itself: its own queue fills BYOB reads
   * without a call back here for each.
   */
  #controller:
    | ReadableStreamDefaultController<Uint8Array>
    | ReadableByteStreamController
    | undefined;
  /** `#controller` is the byte stream's. */
  #bytes = false;
  /** A read of the default stream waits, and nothing was queued for it. */
  #wanted = false;
  /** Bytes received that nothing has taken yet (none once the byte stream reads). */
  #queue: Uint8Array[] | undefined;
  #queuedBytes = 0;
  /** The peer's FIN (or a local close) came: `readable` closes once the queue is empty. */
  #ended = false;
  /** `readable` closed, errored or cancelled: nothing more goes to it. */
  #done = false;
  /** `readable` was cancelled: bytes are dropped, the connection stays watched. */
  #discard = false;
  /** The break, delivered once the bytes before it have been read. */
  #pendingError: Error | undefined;
  #direct: DirectRead | undefined;
  #directUsed = false;
  /** A read() is in the transport's hands ({@linkcode Transport.readNow}). */
  #readingNow = false;
  #paused = false;
  /** The paused check saw the end: read past the limit to learn it. */
  #overflow = false;
  #pausedTimer: ReturnType<typeof setInterval> | undefined;

  constructor(host: ReadHost, maxBuffered: number) {
    this.#host = host;
    this.#maxBuffered = maxBuffered;
  }

  /** Whether it stopped taking bytes from the kernel because nobody reads (backpressure). */
  get paused(): boolean {
    return this.#paused;
  }

  /** See `LiveConnection.readable`. */
  get readable(): ReadableStream<Uint8Array> {
    if (this.#directUsed && !this.#readable) {
      throw new TypeError("Cannot use readable: the connection is read with read()");
    }
    return this.#readable ??= connectionReadable(this);
  }

  /** `readable` closed, errored or was cancelled: nothing more goes to it. */
  get finished(): boolean {
    return this.#done;
  }

  /** The byte stream's high-water mark: it queues up to `maxBufferedBytes` itself. */
  get maxBuffered(): number {
    return this.#maxBuffered;
  }

  /** A stream starts reading `readable`'s bytes: the first one, or the byte stream after it. */
  start(
    controller: ReadableStreamDefaultController<Uint8Array> | ReadableByteStreamController,
  ): void {
    this.#controller = controller;
    this.#wanted = false;
    this.#bytes = "byobRequest" in controller;
    // The default stream holds nothing of the queue: the byte stream goes on from where it
    // stopped, with what is queued, or ends as it did.
    if (this.#done) {
      if (this.#pendingError && !this.#discard) controller.error(this.#pendingError);
      else controller.close();
      return;
    }
    if (this.#bytes) {
      for (const chunk of this.#queue ?? []) {
        controller.enqueue(chunk as Uint8Array<ArrayBuffer>);
      }
      this.#queue = undefined;
      this.#queuedBytes = 0;
    }
    this.#settleIfDrained();
  }

  /**
   * A read of `readable` waits (the default stream), or the byte stream has room: the next
   * chunk queued, or the transport is told a read waits.
   */
  pull(): void {
    const controller = this.#controller;
    if (!controller || this.#done) return;
    if (this.#bytes) {
      if (this.#settleIfDrained()) return;
      this.#unpause();
      // A BYOB read waits: where the runtime reads by call, it reads straight into its buffer.
      if (byobRequestOf(controller)) this.#host.transport?.wanted?.();
      return;
    }
    const chunk = this.#queue?.shift();
    if (chunk) {
      this.#took(chunk.byteLength);
      // Chunks are the transports' own reads, never over a SharedArrayBuffer.
      controller.enqueue(chunk as Uint8Array<ArrayBuffer>);
      return;
    }
    if (this.#settleIfDrained()) return;
    this.#wanted = true;
    this.#unpause();
  }

  /** The consumer cancelled `readable`: it lost interest in the bytes, not in the connection. */
  cancel(): void {
    // Keep monitoring it so a dead peer is still noticed, and drop what is queued and comes.
    this.#discard = true;
    this.#done = true;
    this.#queue = undefined;
    this.#queuedBytes = 0;
    this.#unpause();
  }

  /** `n` bytes left the queue: below the limit again, bytes are taken from the kernel again. */
  #took(n: number): void {
    this.#queuedBytes -= n;
    if (this.#queue!.length === 0) this.#queue = undefined;
    if (this.#queuedBytes < this.#maxBuffered) this.#unpause();
  }

  /**
   * With nothing queued, ends `readable` as the connection ended: closed after a FIN, errored
   * after a break (only now: what came before the break is read first). Whether it did.
   */
  #settleIfDrained(): boolean {
    const controller = this.#controller;
    if (!controller || this.#done || this.#queue) return false;
    // The byte stream's own queue: desiredSize = maxBufferedBytes - queued bytes, so equal means
    // empty. It closes after what it holds by itself; erroring it would throw that away.
    if (this.#pendingError && this.#bytes && controller.desiredSize !== this.#maxBuffered) {
      return false;
    }
    if (this.#pendingError) {
      this.#done = true;
      controller.error(this.#pendingError);
      return true;
    }
    if (!this.#ended) return false;
    this.#done = true;
    controller.close();
    // A BYOB read still waiting learns of the end only through this (Streams spec).
    byobRequestOf(controller)?.respond(0);
    return true;
  }

  /** See `LiveConnection.read`. */
  read(buffer: Uint8Array): Promise<number | null> {
    if (!(buffer instanceof Uint8Array)) {
      return Promise.reject(new TypeError("Cannot read: expected a Uint8Array"));
    }
    if (this.#readable) {
      return Promise.reject(new TypeError("Cannot read: the connection is read through readable"));
    }
    if (this.#direct || this.#readingNow) {
      return Promise.reject(new TypeError("Cannot read: another read is still waiting"));
    }
    this.#directUsed = true;
    if (buffer.byteLength === 0) return Promise.resolve(0);
    const n = this.#takeQueued(buffer);
    if (n > 0) return Promise.resolve(n);
    if (this.#pendingError) return Promise.reject(this.#pendingError);
    if (this.#ended || this.#done) return Promise.resolve(null);
    const transport = this.#host.transport;
    const now = this.#host.machine.state === "open" ? transport?.readNow?.(buffer) : undefined;
    if (now) {
      this.#readingNow = true;
      return now.then(
        (n) => this.#readNowDone(transport!, n),
        (e) => this.#readNowFailed(transport!, e),
      );
    }
    const waiting = new Promise<number | null>((resolve, reject) =>
      this.#direct = { view: buffer, resolve, reject }
    );
    this.#host.transport?.wanted?.();
    return waiting;
  }

  #readNowDone(transport: Transport, n: number | null): number | null {
    this.#readingNow = false;
    transport.readSettled!();
    if (n === null) {
      if (this.#host.machine.state === "open") this.end();
      return null;
    }
    if (n > 0) {
      this.bytesRead += n;
      this.lastReceivedAt = Date.now();
    }
    return n;
  }

  #readNowFailed(transport: Transport, error: unknown): null {
    this.#readingNow = false;
    transport.readSettled!();
    // A read ended by our own close() is the end, not a failure; one that failed breaks the
    // connection, and the read gets the break's error like any read after it.
    const machine = this.#host.machine;
    if (machine.state === "open") this.error(error);
    if (this.#pendingError) throw this.#pendingError;
    if (machine.info?.state === "broken") throw brokenError(machine.info);
    return null;
  }

  /** Moves queued bytes into `buffer`; returns how many. */
  #takeQueued(buffer: Uint8Array): number {
    const queue = this.#queue;
    if (!queue) return 0;
    let n = 0;
    while (queue.length > 0 && n < buffer.byteLength) {
      const chunk = queue[0]!;
      const take = Math.min(chunk.byteLength, buffer.byteLength - n);
      buffer.set(take === chunk.byteLength ? chunk : chunk.subarray(0, take), n);
      n += take;
      if (take === chunk.byteLength) queue.shift();
      else queue[0] = chunk.subarray(take);
    }
    this.#took(n);
    return n;
  }

  /** The buffer of a read() or BYOB read the consumer is waiting on, if any. */
  destination(): Uint8Array | undefined {
    if (this.#direct) return this.#direct.view;
    if (this.#discard || this.#done) return undefined;
    const view = byobRequestOf(this.#controller)?.view;
    return view ? view as Uint8Array : undefined;
  }

  readsNow(): boolean {
    return this.#directUsed;
  }

  filled(n: number): void {
    this.bytesRead += n;
    this.lastReceivedAt = Date.now();
    const direct = this.#direct;
    if (direct) {
      this.#direct = undefined;
      direct.resolve(n);
      return;
    }
    // The consumer may have cancelled meanwhile: then the read is no longer wanted.
    if (this.#discard || this.#done) return;
    byobRequestOf(this.#controller)?.respond(n);
  }

  data(chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return;
    this.bytesRead += chunk.byteLength;
    this.lastReceivedAt = Date.now();
    if (this.#discard || this.#done) return;
    const direct = this.#direct;
    if (direct) {
      // A read() is waiting: fill it; what does not fit waits for the next read().
      const take = Math.min(chunk.byteLength, direct.view.byteLength);
      direct.view.set(take === chunk.byteLength ? chunk : chunk.subarray(0, take));
      this.#direct = undefined;
      direct.resolve(take);
      if (take === chunk.byteLength) return;
      chunk = chunk.subarray(take);
    }
    const controller = this.#controller;
    let room: number;
    if (controller && this.#bytes) {
      // Chunks are the transports' own reads, never over a SharedArrayBuffer.
      controller.enqueue(chunk as Uint8Array<ArrayBuffer>);
      room = controller.desiredSize ?? 1;
    } else if (controller && this.#wanted && !this.#queue) {
      // A read of `readable` waits: this chunk is its answer.
      this.#wanted = false;
      controller.enqueue(chunk as Uint8Array<ArrayBuffer>);
      return;
    } else {
      (this.#queue ??= []).push(chunk);
      this.#queuedBytes += chunk.byteLength;
      room = this.#maxBuffered - this.#queuedBytes;
    }
    if (!this.#overflow && !this.#paused && room <= 0) {
      this.#paused = true;
      this.#host.transport?.pause();
      this.#pausedTimer = setInterval(() => this.#checkWhilePaused(), PAUSED_CHECK_MS);
    }
  }

  end(): void {
    this.#endReadable();
    this.#host.machine.send({ type: "eof" });
  }

  error(error: unknown): void {
    this.#host.machine.fail(errorCode(error), error);
  }

  /** The connection ended: a break waits behind what is queued; any other end closes. */
  finish(info: CloseInfo): void {
    clearInterval(this.#pausedTimer);
    this.#pausedTimer = undefined;
    if (info.state !== "broken") {
      this.#endReadable();
      return;
    }
    if (this.#done || this.#ended) return;
    this.#pendingError = brokenError(info);
    // A read() waits only when nothing is queued: it gets the break now.
    this.#direct?.reject(this.#pendingError);
    this.#direct = undefined;
    // `readable` errors once what came before the break has been read (erroring a stream
    // throws away what it holds; nothing is held in it here, but the queue is read first).
    this.#settleIfDrained();
  }

  #unpause(): void {
    if (!this.#paused) return;
    this.#paused = false;
    clearInterval(this.#pausedTimer);
    this.#pausedTimer = undefined;
    if (this.#host.machine.state === "open") this.#host.transport?.resume();
  }

  #checkWhilePaused(): void {
    const sock = this.#host.sock;
    if (!sock || this.#host.machine.state !== "open" || !sock.ended()) return;
    // The peer sent FIN or the kernel holds an error. Read again, past the buffer limit: what is
    // left is bounded by the kernel's receive buffer, and the read then returns EOF or the error,
    // so the outcome is reported even though the consumer is not reading.
    this.#overflow = true;
    this.#unpause();
  }

  /** Closes `readable` once the queue is read; before it exists, makes it so when it is made. */
  #endReadable(): void {
    if (this.#done || this.#ended) return;
    this.#ended = true;
    // A read() waits only when nothing is queued: it gets the end now.
    this.#direct?.resolve(null);
    this.#direct = undefined;
    this.#settleIfDrained();
  }
}

/** A byte stream's pending BYOB request, if `controller` is one's and a read waits. */
function byobRequestOf(
  controller:
    | ReadableStreamDefaultController<Uint8Array>
    | ReadableByteStreamController
    | undefined,
): ReadableStreamBYOBRequest | undefined {
  return controller && "byobRequest" in controller
    ? controller.byobRequest ?? undefined
    : undefined;
}

/** The error a read gets after a break, carrying the break's code. */
export function brokenError(info: CloseInfo): ConnectionClosedError {
  return new ConnectionClosedError(
    `The connection is broken (${info.code})${info.error ? `: ${info.error.message}` : ""}`,
    info.code ?? "EIO",
    { cause: info.error },
  );
}
