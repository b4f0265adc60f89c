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

// A listener added without a signal needs no entry of its own: most connections have one such
// listener, and at tens of thousands of connections a Map and an entry each cost ~300 B apiece.
const PLAIN: Entry = Object.freeze({ once: false, unsubscribe: undefined });
const ONCE: Entry = Object.freeze({ once: true, unsubscribe: undefined });

/**
 * Listeners in the order they were added, flat: each listener, then how it was added. A list
 * holds a handful at most, so a linear search is the fast one too.
 */
export type Listeners<E> = Array<Listener<E> | Entry>;

/** Where `listener` is in `listeners`, or -1. */
function find<E>(listeners: Listeners<E>, listener: Listener<E>): number {
  for (let i = 0; i < listeners.length; i += 2) if (listeners[i] === listener) return i;
  return -1;
}

/**
 * Adds `listener` to `listeners` (a new list if there is none yet), or replaces the options of
 * one already there; returns the list. Nothing is added if the options' signal has already
 * aborted.
 */
export function addListener<E>(
  listeners: Listeners<E> | undefined,
  listener: Listener<E>,
  options: boolean | AddEventListenerOptions | undefined,
): Listeners<E> | undefined {
  const opts = typeof options === "object" && options !== null ? options : undefined;
  const signal = opts?.signal;
  if (signal?.aborted) return listeners;
  const once = opts?.once === true;
  let list = listeners;
  let entry = once ? ONCE : PLAIN;
  if (signal) {
    // `once`: an abort removes this abort listener itself.
    const onAbort = () => void (list && remove(list, listener));
    signal.addEventListener("abort", onAbort, { once: true });
    entry = { once, unsubscribe: () => signal.removeEventListener("abort", onAbort) };
  }
  if (!list) {
    // A literal of the size needed: an empty array's first push reserves 16 slots in V8.
    list = [listener, entry];
    return list;
  }
  const at = find(list, listener);
  if (at < 0) list.push(listener, entry);
  else {
    // Replaced in place, keeping its turn; only the new options' signal is listened to.
    (list[at + 1] as Entry).unsubscribe?.();
    list[at + 1] = entry;
  }
  return list;
}

/** Takes `listener` out of the list; returns how it had been added. */
function remove<E>(listeners: Listeners<E>, listener: Listener<E>): Entry | undefined {
  const at = find(listeners, listener);
  if (at < 0) return undefined;
  const entry = listeners[at + 1] as Entry;
  listeners.splice(at, 2);
  return entry;
}

/** Removes `listener`, and its abort listener from its signal. */
export function removeListener<E>(listeners: Listeners<E>, listener: Listener<E>): void {
  remove(listeners, listener)?.unsubscribe?.();
}

/** Removes every listener, and each one's abort listener from its signal. */
export function clearListeners<E>(listeners: Listeners<E>): void {
  for (let i = 1; i < listeners.length; i += 2) (listeners[i] as Entry).unsubscribe?.();
  listeners.length = 0;
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
  const now = listeners.slice();
  for (let i = 0; i < now.length; i += 2) {
    const listener = now[i] as Listener<E>;
    if ((now[i + 1] as Entry).once) removeListener(listeners, listener);
    try {
      if (typeof listener === "function") listener.call(target, event);
      else listener.handleEvent(event);
    } catch (error) {
      reportSafely(onError, error);
    }
  }
}
