/**
 * The connection state machine: pure TypeScript, no I/O, no runtime globals.
 *
 * ```
 * connecting ──opened──▶ open ──eof──▶ closed-gracefully (by peer)
 *     │ │                  │ └─close──▶ closed-gracefully (by local)
 *     │ └──close──▶ closed-gracefully (by local)
 *     └──error──▶ broken ◀──error──┘
 * ```
 *
 * Terminal states are final: every event in them is ignored. Each transition reaches each
 * observer exactly once; an observer that throws is reported and the machine goes on.
 *
 * @module
 */

/**
 * Where a connection is.
 *
 * @example
 * ```ts
 * import { connect, type ConnectionState } from "@sockalive/sockalive";
 * import assert from "node:assert/strict";
 * const conn = connect({ port: 7000 });
 * const before: ConnectionState = conn.state;
 * await conn.close(); // before it opened
 * assert.deepEqual([before, conn.state], ["connecting", "closed-gracefully"]);
 * ```
 */
export type ConnectionState = "connecting" | "open" | "closed-gracefully" | "broken";

/**
 * The two states a connection ends in.
 *
 * @example
 * ```ts
 * import { connect, type TerminalState } from "@sockalive/sockalive";
 * import assert from "node:assert/strict";
 * const conn = connect({ port: 7000, signal: AbortSignal.abort() }); // ends at once, undialed
 * const end: TerminalState = (await conn.closed).state;
 * assert.equal(end, "broken");
 * ```
 */
export type TerminalState = "closed-gracefully" | "broken";

/**
 * What can happen to a connection.
 *
 * @example
 * ```ts
 * import { type ConnectionEvent, ConnectionStateMachine } from "./state.ts";
 * import assert from "node:assert/strict";
 * const events: ConnectionEvent[] = [{ type: "opened" }, { type: "error", code: "ECONNRESET" }];
 * const machine = new ConnectionStateMachine();
 * for (const event of events) machine.send(event);
 * assert.equal(machine.state, "broken");
 * assert.equal(machine.info?.code, "ECONNRESET");
 * ```
 */
export type ConnectionEvent =
  /** The TCP handshake completed. */
  | { type: "opened" }
  /** The peer shut down its sending side (FIN, read returned 0). */
  | { type: "eof" }
  /** The program closed the connection. */
  | { type: "close" }
  /** The connection failed: connect refused, keepalive or user timeout, reset, ... */
  | { type: "error"; code: string; error?: Error };

/**
 * The kinds of {@linkcode ConnectionEvent}.
 *
 * @example
 * ```ts
 * import { type ConnectionEventType, TRANSITIONS } from "./state.ts";
 * import assert from "node:assert/strict";
 * const whileConnecting: ConnectionEventType[] = ["opened", "close", "error"];
 * assert.deepEqual(Object.keys(TRANSITIONS.connecting), whileConnecting); // "eof" is ignored
 * ```
 */
export type ConnectionEventType = ConnectionEvent["type"];

/**
 * How a connection ended; the value `closed` resolves to.
 *
 * @example
 * ```ts
 * import { type CloseInfo, connect } from "@sockalive/sockalive";
 * import assert from "node:assert/strict";
 * const conn = connect({ port: 7000, signal: AbortSignal.abort() }); // ends at once, undialed
 * const info: CloseInfo = await conn.closed; // never rejects
 * assert.equal(info.state, "broken");
 * assert.equal(info.code, "ABORTED");
 * assert.ok(info.error instanceof Error); // the signal's reason
 * assert.equal(info.openForMs, undefined); // it never opened
 * ```
 */
export interface CloseInfo {
  /** The terminal state. */
  state: TerminalState;
  /** Who closed it, for `closed-gracefully`. */
  by?: "peer" | "local";
  /** The errno name of a break (`"ETIMEDOUT"`, `"ECONNRESET"`, ...). */
  code?: string;
  /** The runtime's error behind a break. */
  error?: Error;
  /** When it ended, in ms since the epoch. */
  at: number;
  /** How long it had been open, in ms; absent if it never opened. */
  openForMs?: number;
  /**
   * When data last arrived, in ms since the epoch, or when the connection opened if none did;
   * absent if it never opened. `at - lastReceivedAt` is how long the peer had been silent when
   * the end came.
   */
  lastReceivedAt?: number;
}

/**
 * One step of the machine.
 *
 * @example
 * ```ts
 * import { ConnectionStateMachine, type Transition } from "./state.ts";
 * import assert from "node:assert/strict";
 * const machine = new ConnectionStateMachine({ clock: () => 1_000 });
 * const step: Transition | undefined = machine.send({ type: "opened" });
 * assert.deepEqual(step, { from: "connecting", to: "open", at: 1_000 });
 * ```
 */
export interface Transition {
  /** The state left. */
  from: ConnectionState;
  /** The state entered. */
  to: ConnectionState;
  /** When, in ms since the epoch. */
  at: number;
  /** Present when `to` is terminal. */
  info?: CloseInfo;
}

/**
 * The allowed transitions: `TRANSITIONS[state][event]` is the next state, absent where the
 * event is ignored in that state.
 *
 * @example
 * ```ts
 * import { TRANSITIONS } from "./state.ts";
 * import assert from "node:assert/strict";
 * assert.equal(TRANSITIONS.open.eof, "closed-gracefully");
 * assert.equal(TRANSITIONS.connecting.eof, undefined); // ignored while connecting
 * assert.deepEqual(TRANSITIONS.broken, {}); // terminal: every event is ignored
 * ```
 */
export const TRANSITIONS: {
  readonly [S in ConnectionState]: { readonly [E in ConnectionEventType]?: ConnectionState };
} = {
  "connecting": { opened: "open", close: "closed-gracefully", error: "broken" },
  "open": { eof: "closed-gracefully", close: "closed-gracefully", error: "broken" },
  "closed-gracefully": {},
  "broken": {},
};

/** All states, in the order a connection can pass through them. */
export const STATES: readonly ConnectionState[] = [
  "connecting",
  "open",
  "closed-gracefully",
  "broken",
];

/** Whether `state` is final. */
export function isTerminal(state: ConnectionState): state is TerminalState {
  switch (state) {
    case "connecting":
    case "open":
      return false;
    case "closed-gracefully":
    case "broken":
      return true;
    default:
      return unreachable(state);
  }
}

/** Marks code the type checker proves cannot run. */
export function unreachable(value: never): never {
  throw new Error(`unreachable: ${String(value)}`);
}

/**
 * Receives every transition.
 *
 * @example
 * ```ts
 * import { ConnectionStateMachine, type TransitionObserver } from "./state.ts";
 * import assert from "node:assert/strict";
 * const seen: string[] = [];
 * const observer: TransitionObserver = (t) => seen.push(`${t.from} -> ${t.to}`);
 * const machine = new ConnectionStateMachine();
 * const stop = machine.observe(observer);
 * machine.send({ type: "opened" });
 * stop();
 * machine.send({ type: "close" });
 * assert.deepEqual(seen, ["connecting -> open"]);
 * ```
 */
export type TransitionObserver = (transition: Transition) => void;

/**
 * An observer as an object: `onTransition` receives every transition. For owners that already
 * have an object to hand (no closure needed per machine).
 *
 * @example
 * ```ts
 * import { ConnectionStateMachine, type TransitionHandler } from "./state.ts";
 * import assert from "node:assert/strict";
 * const seen: string[] = [];
 * const handler: TransitionHandler = { onTransition: (t) => seen.push(t.to) };
 * const machine = new ConnectionStateMachine({ observer: handler });
 * machine.send({ type: "opened" });
 * assert.deepEqual(seen, ["open"]);
 * ```
 */
export interface TransitionHandler {
  /** Receives every transition. */
  onTransition(transition: Transition): void;
  /**
   * When data last arrived, in ms since the epoch (`undefined`: none has), for
   * {@linkcode CloseInfo.lastReceivedAt}. The machine asks once, as the connection ends.
   */
  lastReceivedAt?(): number | undefined;
}

interface MachineEnv {
  readonly clock: () => number;
  readonly onObserverError: (error: unknown) => void;
}

const DEFAULT_ENV: MachineEnv = Object.freeze({
  clock: Date.now,
  onObserverError: reportObserverError,
});

/**
 * Holds one connection's state and applies events to it.
 *
 * @example
 * ```ts
 * import { ConnectionStateMachine } from "./state.ts";
 * import assert from "node:assert/strict";
 * const machine = new ConnectionStateMachine();
 * machine.send({ type: "opened" });
 * machine.send({ type: "error", code: "ETIMEDOUT" });
 * assert.equal(machine.state, "broken");
 * assert.equal(machine.send({ type: "eof" }), undefined); // terminal: ignored
 * ```
 */
export class ConnectionStateMachine {
  #state: ConnectionState = "connecting";
  #openedAt: number | undefined;
  #info: CloseInfo | undefined;
  // One machine per connection and memory per idle connection is a target (BENCHMARKS.md): the
  // observer list and the delivery queue are created only when something needs them.
  readonly #observer: TransitionObserver | TransitionHandler | undefined;
  #observers: TransitionObserver[] | undefined;
  #queue: Transition[] | undefined;
  #delivering = false;
  /** The clock and the error sink: one object (the defaults shared by every machine). */
  readonly #env: MachineEnv;

  /**
   * `clock` gives ms since the epoch (default `Date.now`); `onObserverError` receives what an
   * observer throws (default: `console.error`); `observer`, if given, is observed from the start
   * (as with {@linkcode ConnectionStateMachine.observe}).
   */
  constructor(options: {
    clock?: () => number;
    onObserverError?: (error: unknown) => void;
    observer?: TransitionObserver | TransitionHandler;
  } = {}) {
    const { clock, onObserverError } = options;
    this.#env = clock === undefined && onObserverError === undefined
      ? DEFAULT_ENV
      : { clock: clock ?? Date.now, onObserverError: onObserverError ?? reportObserverError };
    this.#observer = options.observer;
  }

  /** Where what an observer throws goes (also what the connection's listeners throw). */
  get onObserverError(): (error: unknown) => void {
    return this.#env.onObserverError;
  }

  /** The current state. */
  get state(): ConnectionState {
    return this.#state;
  }

  /** When the connection opened, in ms since the epoch. */
  get openedAt(): number | undefined {
    return this.#openedAt;
  }

  /** How it ended, once terminal. */
  get info(): CloseInfo | undefined {
    return this.#info;
  }

  /** Adds an observer; returns a function that removes it. */
  observe(observer: TransitionObserver): () => void {
    const observers = this.#observers ??= [];
    if (!observers.includes(observer)) observers.push(observer);
    return () => {
      const at = this.#observers?.indexOf(observer) ?? -1;
      if (at >= 0) this.#observers!.splice(at, 1);
    };
  }

  /**
   * Sends the break `code` with `error` (made an `Error` if it is not one), as
   * {@linkcode ConnectionStateMachine.send} does.
   */
  fail(code: string, error: unknown): Transition | undefined {
    const err = error instanceof Error ? error : new Error(String(error));
    return this.send({ type: "error", code, error: err });
  }

  /**
   * Applies `event`. Returns the transition, or `undefined` when the event is not allowed in the
   * current state (the state is then unchanged).
   */
  send(event: ConnectionEvent): Transition | undefined {
    const from = this.#state;
    const to = TRANSITIONS[from][event.type];
    if (to === undefined) return undefined;
    const at = this.#env.clock();
    const transition: Transition = { from, to, at };
    switch (event.type) {
      case "opened":
        this.#openedAt = at;
        break;
      case "eof":
        transition.info = this.#end("closed-gracefully", at, { by: "peer" });
        break;
      case "close":
        transition.info = this.#end("closed-gracefully", at, { by: "local" });
        break;
      case "error":
        transition.info = this.#end("broken", at, {
          code: event.code,
          ...(event.error ? { error: event.error } : {}),
        });
        break;
      default:
        unreachable(event);
    }
    // The state changes before anyone hears of it, so an observer that calls send() sees the
    // new state and cannot re-enter a transition that is already done.
    this.#state = to;
    // Transitions caused by an observer are delivered after the current one has reached every
    // observer, so all observers hear them in order.
    if (this.#delivering) {
      (this.#queue ??= []).push(transition);
      return transition;
    }
    this.#delivering = true;
    try {
      for (let t: Transition | undefined = transition; t; t = this.#queue?.shift()) {
        this.#deliver(t);
      }
    } finally {
      this.#delivering = false;
      this.#queue = undefined;
    }
    return transition;
  }

  #deliver(t: Transition): void {
    if (this.#observer) this.#call(this.#observer, t);
    const observers = this.#observers;
    if (!observers) return;
    // Observers added or removed while this transition is delivered take effect from the next
    // one (hence the copy; one observer, the common case, needs none).
    if (observers.length === 1) this.#call(observers[0]!, t);
    else for (const observer of [...observers]) this.#call(observer, t);
  }

  #call(observer: TransitionObserver | TransitionHandler, t: Transition): void {
    try {
      if (typeof observer === "function") observer(t);
      else observer.onTransition(t);
    } catch (error) {
      reportSafely(this.#env.onObserverError, error);
    }
  }

  #end(state: TerminalState, at: number, rest: Omit<CloseInfo, "state" | "at">): CloseInfo {
    const info: CloseInfo = { state, ...rest, at };
    if (this.#openedAt !== undefined) {
      info.openForMs = at - this.#openedAt;
      const observer = this.#observer;
      const received = typeof observer === "object" ? observer.lastReceivedAt?.() : undefined;
      info.lastReceivedAt = received ?? this.#openedAt;
    }
    this.#info = info;
    return info;
  }
}

/** The default for a listener that throws: report it and go on. */
export function reportObserverError(error: unknown): void {
  console.error("sockalive: a statechange listener threw; the connection goes on:", error);
}

/**
 * Hands what a listener threw to `report` (the user's `onListenerError`, say). That is user code
 * too: if it throws, both errors go to `console.error` instead, so nothing a user callback does
 * can escape into the code that called it, where it would stop the delivery to further
 * listeners, escape from `close()`, or reject a promise nobody handles.
 */
export function reportSafely(report: (error: unknown) => void, error: unknown): void {
  try {
    report(error);
  } catch (reportError) {
    try {
      console.error(
        "sockalive: onListenerError threw while reporting a listener's error; both errors:",
        reportError,
        error,
      );
    } catch {
      // console.error itself failed (replaced, or an error that cannot be printed): nothing is
      // left that could report it without throwing.
    }
  }
}
