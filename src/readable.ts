/**
 * {@linkcode connectionReadable}: a connection's `readable`. A default stream that goes on as a
 * byte stream once a BYOB reader is asked for, rather than a byte stream from the start: a byte
 * stream takes each chunk by transferring its buffer, and transferring the buffers Bun reads
 * into costs 3-6 µs a chunk, a tenth of a bulk transfer's time; a default stream takes the
 * chunk as it is. The default stream pulls from the read side's queue as reads come; the byte
 * stream is handed that queue and every chunk after it, and fills BYOB reads from its own.
 *
 * @module
 */

/**
 * Where a connection's `readable` takes its bytes from (the read side): told which stream's
 * controller it feeds from now on, asked for bytes when a read waits.
 */
export interface ReadableSource {
  /** Feed `controller` from now on (a byte stream's, once a BYOB reader was asked for). */
  start(
    controller: ReadableStreamDefaultController<Uint8Array> | ReadableByteStreamController,
  ): void;
  /** A read waits: give it what is queued, or note that it waits. */
  pull(): void;
  /** The consumer cancelled: drop what is queued and what comes. */
  cancel(): void;
  /** The most bytes the byte stream may queue (the default stream queues none). */
  readonly maxBuffered: number;
}

type Stream = ReadableStream<Uint8Array>;

function over(source: ReadableSource, type?: "bytes"): Stream {
  const start = (
    controller: ReadableStreamDefaultController<Uint8Array> | ReadableByteStreamController,
  ) => source.start(controller);
  const pull = () => source.pull();
  const cancel = () => source.cancel();
  return type === "bytes"
    ? new ReadableStream({ type, start, pull, cancel }, { highWaterMark: source.maxBuffered })
    : new ReadableStream<Uint8Array>({ start, pull, cancel }, { highWaterMark: 0 });
}

const STREAM = ReadableStream.prototype;
const LOCKED = Object.getOwnPropertyDescriptor(STREAM, "locked")!.get!;

/**
 * A connection's bytes as a stream over `source`: read as they came, with `getReader()`,
 * `for await`, `pipeTo`, `pipeThrough` or as a `Response` body; or, with
 * `getReader({ mode: "byob" })`, into your own buffer. From the first BYOB reader on, every
 * method reads through the byte stream made then (the stream itself stays locked by it), its
 * default readers, `pipeTo`, `tee` and `for await` included.
 *
 * Its own methods, not a subclass's: a subclass of `ReadableStream` cannot declare them in a
 * way that both Deno's and Bun's declarations of `ReadableStream` accept.
 */
export function connectionReadable(source: ReadableSource): Stream {
  const stream = over(source);
  let bytes: Stream | undefined;
  const asBytes = (): Stream => {
    if (bytes) return bytes;
    // Locked for good first: this throws, as getReader must, if a reader holds it already.
    STREAM.getReader.call(stream);
    return bytes = over(source, "bytes");
  };
  const own = (value: unknown): PropertyDescriptor => ({ value, configurable: true });
  Object.defineProperties(stream, {
    locked: {
      get: (): boolean => bytes ? bytes.locked : LOCKED.call(stream) as boolean,
      configurable: true,
    },
    getReader: own((options?: { mode?: "byob" }) => {
      if (options?.mode === "byob") return asBytes().getReader({ mode: "byob" });
      return bytes ? bytes.getReader() : STREAM.getReader.call(stream);
    }),
    cancel: own((reason?: unknown) =>
      bytes ? bytes.cancel(reason) : STREAM.cancel.call(stream, reason)
    ),
    pipeTo: own((...args: Parameters<Stream["pipeTo"]>) =>
      bytes ? bytes.pipeTo(...args) : STREAM.pipeTo.apply(stream, args)
    ),
    pipeThrough: own((...args: Parameters<Stream["pipeThrough"]>) =>
      bytes ? bytes.pipeThrough(...args) : STREAM.pipeThrough.apply(stream, args)
    ),
    tee: own(() => bytes ? bytes.tee() : STREAM.tee.call(stream)),
    values: own((...args: Parameters<Stream["values"]>) =>
      bytes ? bytes.values(...args) : STREAM.values.apply(stream, args)
    ),
    [Symbol.asyncIterator]: own((...args: Parameters<Stream["values"]>) =>
      bytes
        ? bytes[Symbol.asyncIterator](...args)
        : STREAM[Symbol.asyncIterator].apply(stream, args)
    ),
  });
  return stream;
}
