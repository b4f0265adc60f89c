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
  /** Nothing more goes to a stream: `readable` closed, errored or was cancelled. */
  readonly finished: boolean;
}

type Stream = ReadableStream<Uint8Array>;

type Controller = ReadableStreamDefaultController<Uint8Array> | ReadableByteStreamController;

function over(
  source: ReadableSource,
  type?: "bytes",
  made?: (controller: ReadableStreamDefaultController<Uint8Array>) => void,
): Stream {
  const start = (controller: Controller) => {
    if (!("byobRequest" in controller)) made?.(controller);
    source.start(controller);
  };
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
  let controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  const stream = over(source, undefined, (made) => (controller = made));
  let bytes: Stream | undefined;
  const asBytes = (): Stream => {
    if (bytes) return bytes;
    // Locked for good first: this throws, as getReader must, if a reader holds it already.
    STREAM.getReader.call(stream);
    return bytes = over(source, "bytes");
  };
  const values = (...args: Parameters<Stream["values"]>) => {
    if (bytes) return bytes.values(...args);
    // Once the stream has ended, its own iterator: it reports the end or the error it keeps.
    if (source.finished || !controller) return STREAM.values.apply(stream, args);
    return chunks(stream, source, controller, args[0]?.preventCancel === true);
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
    // One function under both names, as on ReadableStream itself.
    values: own(values),
    [Symbol.asyncIterator]: own(values),
  });
  return stream;
}

type Step = IteratorResult<Uint8Array, undefined>;
const DONE: Step = Object.freeze({ value: undefined, done: true });
/** What the source ends a `next()` with: a chunk, the end, or the connection's error. */
type Outcome = Step | { error: unknown };
/** A `next()` waiting for the source. */
interface Waiting {
  resolve(step: Step): void;
  reject(error: unknown): void;
}

/**
 * `for await` over `stream` (a default stream, still open), with the stream's own iterator's
 * behaviour: the stream locked while it runs (by a reader of its own), released at the end or
 * on an error, each `next()` after the one before it, and leaving the loop cancels the stream
 * unless `preventCancel`. What it does not do is go through the stream for each chunk: the
 * source feeds the iterator as it would the stream's controller (a chunk answers the `next()`
 * that waits for it), and the stream is closed or errored as the source ends it: a bulk
 * transfer takes tens of thousands of chunks a second, and the stream's read requests, pulls and
 * promise hops for each were a cost the consumer saw.
 */
function chunks(
  stream: Stream,
  source: ReadableSource,
  controller: ReadableStreamDefaultController<Uint8Array>,
  preventCancel: boolean,
): AsyncIterableIterator<Uint8Array, undefined> {
  // Throws, as the stream's own iterator does, if a reader holds the stream already.
  const reader = STREAM.getReader.call(stream) as ReadableStreamDefaultReader<Uint8Array>;
  let waiting: Waiting | undefined;
  /** The last `next()` or `return()` not settled yet: one called meanwhile waits its turn. */
  let tail: Promise<Step> | undefined;
  const last = (promise: Promise<Step>): Promise<Step> => {
    tail = promise;
    const clear = () => {
      if (tail === promise) tail = undefined;
    };
    promise.then(clear, clear);
    return promise;
  };
  let finished = false;
  /** What the source gave with no `next()` waiting: at most one, it answers one pull at a time. */
  let held: Outcome | undefined;
  const end = () => {
    finished = true;
    reader.releaseLock();
  };
  // Settles a next() with `outcome`: the end and an error release the stream.
  const deliver = (outcome: Outcome, to: Waiting) => {
    if ("error" in outcome || outcome.done) end();
    if ("error" in outcome) to.reject(outcome.error);
    else to.resolve(outcome);
  };
  const settle = (outcome: Outcome) => {
    const to = waiting;
    waiting = undefined;
    if (to) deliver(outcome, to);
    else held = outcome;
  };
  const feed: ReadableStreamDefaultController<Uint8Array> = {
    get desiredSize() {
      return controller.desiredSize;
    },
    enqueue: (chunk?: Uint8Array) => settle({ value: chunk!, done: false }),
    close() {
      controller.close();
      settle(DONE);
    },
    error(error?: unknown) {
      controller.error(error);
      settle({ error });
    },
  };
  source.start(feed);
  const step = (): Promise<Step> => {
    if (finished) return Promise.resolve(DONE);
    if (!held) source.pull();
    const now = held;
    held = undefined;
    return now
      ? new Promise<Step>((resolve, reject) => deliver(now, { resolve, reject }))
      : last(new Promise<Step>((resolve, reject) => (waiting = { resolve, reject })));
  };
  const leave = async (value?: undefined): Promise<Step> => {
    if (finished) return { value, done: true };
    finished = true;
    if (preventCancel) {
      // The stream reads on from here, the source feeding it again, unless it ended already.
      const next = held;
      if (!next || !("error" in next || next.done)) {
        if (next) controller.enqueue(next.value);
        source.start(controller);
      }
      reader.releaseLock();
    } else {
      await reader.cancel(value);
      reader.releaseLock();
    }
    return { value, done: true };
  };
  const after = (run: () => Promise<Step>): Promise<Step> =>
    tail ? last(tail.then(run, run)) : run();
  return {
    next: () => after(step),
    return: (value?: undefined) => after(() => leave(value)),
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
