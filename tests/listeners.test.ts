/**
 * The listener lists behind `addEventListener` of a connection and of a reconnecting client:
 * the order, replacement and `once` of `EventTarget`, a signal's abort listener taken off as soon
 * as it is not needed, and a throwing listener that stops no other.
 */
import assert from "node:assert/strict";
import { test } from "./harness.ts";
import {
  addListener,
  clearListeners,
  dispatchTo,
  type Listeners,
  removeListener,
} from "../src/listeners.ts";

/** A stand-in AbortSignal that shows the abort listeners on it. */
function countedSignal(): {
  controller: { abort(): void; signal: AbortSignal };
  live: () => number;
} {
  const on = new Set<() => void>();
  const fake = {
    aborted: false,
    addEventListener: (_type: string, listener: () => void) => void on.add(listener),
    removeEventListener: (_type: string, listener: () => void) => void on.delete(listener),
  };
  const abort = () => {
    fake.aborted = true;
    for (const listener of [...on]) {
      on.delete(listener); // added with `once`
      listener();
    }
  };
  return { controller: { abort, signal: fake as unknown as AbortSignal }, live: () => on.size };
}

test("listeners: called in the order added, each once, `this` the target", () => {
  let list: Listeners<string> | undefined;
  const seen: string[] = [];
  const target = {};
  const a = function (this: unknown, e: string) {
    assert.equal(this, target);
    seen.push(`a:${e}`);
  };
  list = addListener(list, a, undefined);
  list = addListener(list, { handleEvent: (e: string) => seen.push(`b:${e}`) }, undefined);
  list = addListener(list, a, undefined); // already there: nothing added, its turn kept
  dispatchTo(list!, target, "x", () => assert.fail("no listener throws"));
  assert.deepEqual(seen, ["a:x", "b:x"]);
});

test("listeners: once runs one event; re-adding replaces the options in place", () => {
  let list: Listeners<number> | undefined;
  const seen: string[] = [];
  const a = (e: number) => seen.push(`a${e}`);
  const b = (e: number) => seen.push(`b${e}`);
  list = addListener(list, a, { once: true });
  list = addListener(list, b, undefined);
  list = addListener(list, a, {}); // no longer once, still first
  dispatchTo(list!, undefined, 1, () => {});
  list = addListener(list, b, { once: true });
  dispatchTo(list!, undefined, 2, () => {});
  dispatchTo(list!, undefined, 3, () => {});
  assert.deepEqual(seen, ["a1", "b1", "a2", "b2", "a3"]);
});

test("listeners: removed, or added, by a listener: from the next event on", () => {
  let list: Listeners<number> | undefined;
  const seen: string[] = [];
  const c = (e: number) => seen.push(`c${e}`);
  const b = (e: number) => seen.push(`b${e}`);
  const a = (e: number) => {
    seen.push(`a${e}`);
    if (e === 1) {
      removeListener(list!, b);
      list = addListener(list, c, undefined);
    }
  };
  list = addListener(list, a, undefined);
  list = addListener(list, b, undefined);
  dispatchTo(list!, undefined, 1, () => {});
  dispatchTo(list!, undefined, 2, () => {});
  assert.deepEqual(seen, ["a1", "b1", "a2", "c2"]);
  removeListener(list!, a);
  removeListener(list!, a); // not there: nothing happens
  dispatchTo(list!, undefined, 3, () => {});
  assert.deepEqual(seen.slice(4), ["c3"]);
});

test("listeners: a throwing listener is reported and the next one still runs", () => {
  let list: Listeners<number> | undefined;
  const errors: unknown[] = [];
  const seen: number[] = [];
  const boom = new Error("listener failed");
  list = addListener(list, () => {
    throw boom;
  }, undefined);
  list = addListener(list, (e: number) => seen.push(e), undefined);
  dispatchTo(list!, undefined, 7, (error) => errors.push(error));
  assert.deepEqual(errors, [boom]);
  assert.deepEqual(seen, [7]);
});

test("listeners: a signal's abort listener goes with its listener (removed, once, cleared, aborted)", () => {
  const { controller, live } = countedSignal();
  const signal = controller.signal;
  let list: Listeners<number> | undefined;
  const seen: string[] = [];
  const a = () => seen.push("a");
  const b = () => seen.push("b");
  const c = () => seen.push("c");
  list = addListener(list, a, { signal });
  list = addListener(list, b, { signal, once: true });
  list = addListener(list, c, { signal });
  assert.equal(live(), 3);
  removeListener(list!, a);
  assert.equal(live(), 2, "removed: its abort listener is off the signal");
  dispatchTo(list!, undefined, 1, () => {});
  assert.equal(live(), 1, "fired once: its abort listener is off the signal");
  list = addListener(list, c, undefined); // replaced without a signal: the old abort listener goes
  assert.equal(live(), 0);
  list = addListener(list, c, { signal });
  assert.equal(live(), 1);
  clearListeners(list!);
  assert.equal(live(), 0, "cleared: nothing left on the signal");
  dispatchTo(list!, undefined, 2, () => {});
  assert.deepEqual(seen, ["b", "c"]);

  list = addListener(list, a, { signal });
  controller.abort();
  assert.equal(live(), 0);
  dispatchTo(list!, undefined, 3, () => {});
  assert.deepEqual(seen, ["b", "c"], "aborted: the listener is gone");
  list = addListener(list, a, { signal }); // already aborted: not added
  assert.equal(list!.length, 0);
});
