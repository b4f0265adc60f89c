/**
 * The listener lists of `LiveConnection` and of the reconnecting client, as `EventTarget`
 * keeps them (`once`, `signal`), with two guarantees of their own: a listener that throws is
 * reported and the others still run, and a listener's abort listener is taken off its `signal`
 * as soon as the listener is removed, fires `once`, or the list is cleared. A signal often
 * outlives many connections; an abort listener left on it would keep each of them in memory.
 *
 * @module
 */

import { reportSafely } from "./state.ts";

/** A listener as `EventTarget` takes it: a function, or an object with `handleEvent`. */
export type Listener<E> = ((event: E) => void) | { handleEvent(event: E): void };

/** How a listener was added. */
interface Entry {
  readonly once: boolean;
  /** Takes the listener's abort listener off the signal it was added with, if any. */
  readonly unsubscribe: (() => void) | undefined;
}

/** Listeners in the order they were added. */
export type Listeners<E> = Map<Listener<E>, Entry>;

/**
 * Adds `listener`, or replaces the options of one already there. Nothing is added if the
 * options' signal has already aborted.
 */
export function addListener<E>(
  listeners: Listeners<E>,
  listener: Listener<E>,
  options: boolean | AddEventListenerOptions | undefined,
): void {
  const opts = typeof options === "object" && options !== null ? options : {};
  const signal = opts.signal;
  if (signal?.aborted) return;
  // Replaced in place, keeping its turn; only the new options' signal is listened to.
  listeners.get(listener)?.unsubscribe?.();
  let unsubscribe: (() => void) | undefined;
  if (signal) {
    // `once`: an abort removes this abort listener itself.
    const onAbort = () => void listeners.delete(listener);
    signal.addEventListener("abort", onAbort, { once: true });
    unsubscribe = () => signal.removeEventListener("abort", onAbort);
  }
  listeners.set(listener, { once: opts.once === true, unsubscribe });
}

/** Removes `listener`, and its abort listener from its signal. */
export function removeListener<E>(listeners: Listeners<E>, listener: Listener<E>): void {
  const entry = listeners.get(listener);
  if (!entry) return;
  listeners.delete(listener);
  entry.unsubscribe?.();
}

/** Removes every listener, and each one's abort listener from its signal. */
export function clearListeners<E>(listeners: Listeners<E>): void {
  for (const entry of listeners.values()) entry.unsubscribe?.();
  listeners.clear();
}

/**
 * Calls every listener with `event` (`this` is `target` for a function), removing `once` ones
 * first. What a listener throws goes to `onError`, safely, and the next listener runs.
 */
export function dispatchTo<E>(
  listeners: Listeners<E>,
  target: unknown,
  event: E,
  onError: (error: unknown) => void,
): void {
  // Listeners added or removed by a listener take effect from the next event (hence the copy).
  for (const [listener, { once }] of [...listeners]) {
    if (once) removeListener(listeners, listener);
    try {
      if (typeof listener === "function") listener.call(target, event);
      else listener.handleEvent(event);
    } catch (error) {
      reportSafely(onError, error);
    }
  }
}
