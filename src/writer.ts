/**
 * {@linkcode WriteSide}: a connection's sending half: writes in call order, the count of bytes
 * the kernel took, `writable`, and the half-close.
 *
 * @module
 */

import { errorCode } from "./errors.ts";
import type { ConnectionClosedError } from "./errors.ts";
import type { ConnectionStateMachine } from "./state.ts";
import type { Transport, WriteProgress } from "./transport.ts";

/** What the write side needs of its connection. */
export interface WriteHost {
  /** The connection's state machine, told of a failed write. */
  readonly machine: ConnectionStateMachine;
  /** The transport, once dialed. */
  readonly transport: Transport | undefined;
  /** Resolves once the connection has opened or ended (never rejects). */
  settled(): Promise<void>;
  /** The error for `action` on a connection that is not open. */
  closedError(action: string, cause?: unknown): ConnectionClosedError;
}

/** The sending half of a connection; made on the first write. */
export class WriteSide implements WriteProgress {
  readonly #host: WriteHost;
  /** Bytes handed to the kernel so far, counted as the kernel takes them. */
  bytesWritten = 0;
  #chain: Promise<void> | undefined;
  /** Writes (and half-closes) queued or in progress. */
  #pending = 0;
  #writable: WritableStream<Uint8Array> | undefined;

  constructor(host: WriteHost) {
    this.#host = host;
  }

  /** See `LiveConnection.writable`. */
  get writable(): WritableStream<Uint8Array> {
    return this.#writable ??= new WritableStream<Uint8Array>({
      write: (chunk) => this.write(chunk),
      close: () => this.closeWrite(),
    });
  }

  /** The transport's report: `n` more bytes went to the kernel. */
  sent(n: number): void {
    this.bytesWritten += n;
  }

  /** See `LiveConnection.write`. */
  write(bytes: Uint8Array): Promise<void> {
    if (!(bytes instanceof Uint8Array)) {
      return Promise.reject(new TypeError("Cannot write: expected a Uint8Array"));
    }
    // Nothing before it and the connection open: where the transport writes without waiting,
    // the kernel usually takes it all at once, and the write is done with no promise of its own
    // (a bulk sender pays one per chunk otherwise). What the kernel did not take goes on below.
    const transport = this.#host.transport;
    if (this.#pending === 0 && transport?.tryWrite && this.#host.machine.state === "open") {
      const n = transport.tryWrite(bytes, this);
      if (n === bytes.byteLength) return WRITTEN;
      if (n > 0) bytes = bytes.subarray(n);
    }
    return this.#queue(async () => {
      if (this.#host.machine.state === "connecting") await this.#host.settled();
      // Handed to the transport in this same turn when open: the write starts at once.
      const transport = this.#open("write");
      try {
        // The transport counts the bytes as the kernel takes them (sent), so a write that fails
        // midway, or is still in progress, has counted what already went out.
        await transport.write(bytes, this);
      } catch (error) {
        if (this.#host.machine.state === "open") this.#host.machine.fail(errorCode(error), error);
        throw this.#host.closedError("write", error);
      }
    });
  }

  /** See `LiveConnection.closeWrite`. */
  closeWrite(): Promise<void> {
    return this.#queue(async () => {
      if (this.#host.machine.state === "connecting") await this.#host.settled();
      await this.#open("close").closeWrite();
    });
  }

  /** Runs `step` after every write before it. */
  #queue(step: () => Promise<void>): Promise<void> {
    this.#pending++;
    const result = this.#chain ? this.#chain.then(step) : step();
    const done = () => void this.#pending--;
    this.#chain = result.then(done, done);
    return result;
  }

  /** The transport of the open connection; throws if it is not open. */
  #open(action: string): Transport {
    const transport = this.#host.transport;
    if (this.#host.machine.state !== "open" || !transport) throw this.#host.closedError(action);
    return transport;
  }
}

/** A write the kernel took at once: done already. */
const WRITTEN: Promise<void> = Promise.resolve();
