/**
 * The connect phase's abort handle ({@linkcode DialAbort}): what `dialUntil` and the runtimes'
 * dials rely on, without a network.
 *
 * @module
 */

import assert from "node:assert/strict";
import { test } from "./harness.ts";
import { DialAbort } from "../src/connecting.ts";

test("connecting: DialAbort calls its one listener once, with the reason set, and never after clearing", () => {
  const abort = new DialAbort();
  assert.equal(abort.aborted, false);
  assert.equal(abort.reason, undefined);
  const seen: unknown[] = [];
  abort.listen(() => seen.push(abort.aborted && abort.reason));
  abort.abort();
  abort.abort();
  assert.equal(seen.length, 1, "called once, however often aborted");
  assert.ok(seen[0] instanceof DOMException);
  assert.equal((seen[0] as DOMException).name, "AbortError");
  assert.equal(abort.reason, seen[0], "the same reason every time");

  const cleared = new DialAbort();
  let calls = 0;
  cleared.listen(() => calls++);
  cleared.listen(undefined);
  cleared.abort();
  assert.equal(calls, 0, "a cleared listener is not called");
});

test("connecting: DialAbort's AbortSignal follows it, asked for before or after the abort", () => {
  const before = new DialAbort();
  const signal = before.abortSignal();
  assert.equal(before.abortSignal(), signal, "one signal per handle");
  let events = 0;
  signal.addEventListener("abort", () => events++);
  assert.equal(signal.aborted, false);
  before.abort();
  assert.equal(signal.aborted, true);
  assert.equal(signal.reason, before.reason);
  assert.equal(events, 1);

  const after = new DialAbort();
  after.abort();
  const late = after.abortSignal();
  assert.equal(late.aborted, true, "made after the abort: aborted already");
  assert.equal(late.reason, after.reason);
});
