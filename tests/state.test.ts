import assert from "node:assert/strict";
import { test } from "./harness.ts";
import {
  type ConnectionEvent,
  type ConnectionState,
  ConnectionStateMachine,
  STATES,
  type Transition,
} from "../src/state.ts";

const EVENTS: ConnectionEvent[] = [
  { type: "opened" },
  { type: "eof" },
  { type: "close" },
  { type: "error", code: "ETIMEDOUT", error: new Error("timed out") },
];

// Written out by hand from the issue, not derived from TRANSITIONS, so the table is checked.
const EXPECTED: Record<ConnectionState, Record<ConnectionEvent["type"], ConnectionState | null>> = {
  "connecting": { opened: "open", eof: null, close: "closed-gracefully", error: "broken" },
  "open": { opened: null, eof: "closed-gracefully", close: "closed-gracefully", error: "broken" },
  "closed-gracefully": { opened: null, eof: null, close: null, error: null },
  "broken": { opened: null, eof: null, close: null, error: null },
};

/** A machine driven into `state` through allowed events, with a fake clock. */
function machineIn(state: ConnectionState, clock = { now: 1000 }) {
  const m = new ConnectionStateMachine({ clock: () => clock.now });
  const path: Record<ConnectionState, ConnectionEvent[]> = {
    "connecting": [],
    "open": [{ type: "opened" }],
    "closed-gracefully": [{ type: "opened" }, { type: "eof" }],
    "broken": [{ type: "opened" }, { type: "error", code: "ECONNRESET" }],
  };
  for (const e of path[state]) m.send(e);
  assert.equal(m.state, state);
  return m;
}

for (const state of STATES) {
  for (const event of EVENTS) {
    test(`state machine: ${state} + ${event.type}`, () => {
      const clock = { now: 1000 };
      const m = machineIn(state, clock);
      const seen: Transition[] = [];
      m.observe((t) => seen.push(t));
      const infoBefore = m.info;
      clock.now = 1500;
      const t = m.send(event);
      const expected = EXPECTED[state][event.type];
      if (expected === null) {
        assert.equal(t, undefined);
        assert.equal(m.state, state);
        assert.equal(seen.length, 0);
        assert.equal(m.info, infoBefore); // a terminal outcome is never rewritten
        return;
      }
      assert.equal(m.state, expected);
      assert.equal(seen.length, 1, "exactly one transition reaches the observer");
      assert.deepEqual(seen[0], t);
      assert.equal(t!.from, state);
      assert.equal(t!.to, expected);
      assert.equal(t!.at, 1500);
      if (expected === "open") {
        assert.equal(m.openedAt, 1500);
        assert.equal(t!.info, undefined);
      } else {
        const info = t!.info!;
        assert.equal(info.state, expected);
        assert.equal(info.at, 1500);
        assert.deepEqual(m.info, info);
        if (state === "open") assert.equal(info.openForMs, 500);
        else assert.equal("openForMs" in info, false);
        if (event.type === "eof") assert.equal(info.by, "peer");
        if (event.type === "close") assert.equal(info.by, "local");
        if (event.type === "error") {
          assert.equal(info.code, "ETIMEDOUT");
          assert.equal(info.error?.message, "timed out");
          assert.equal("by" in info, false);
        }
      }
    });
  }
}

test("state machine: an observer that throws does not break it", () => {
  const reported: unknown[] = [];
  const m = new ConnectionStateMachine({ onObserverError: (e) => reported.push(e) });
  const seen: string[] = [];
  m.observe(() => {
    throw new Error("boom");
  });
  m.observe((t) => seen.push(`${t.from}->${t.to}`));
  m.send({ type: "opened" });
  m.send({ type: "error", code: "ECONNRESET" });
  assert.deepEqual(seen, ["connecting->open", "open->broken"]);
  assert.equal(reported.length, 2);
  assert.equal(m.state, "broken");
});

test("state machine: an event sent by an observer is delivered in order to every observer", () => {
  const m = new ConnectionStateMachine();
  const first: string[] = [];
  const second: string[] = [];
  m.observe((t) => {
    first.push(`${t.from}->${t.to}`);
    if (t.to === "open") {
      m.send({ type: "close" });
      assert.equal(m.state, "closed-gracefully"); // the state changes at once
    }
  });
  m.observe((t) => second.push(`${t.from}->${t.to}`));
  m.send({ type: "opened" });
  assert.deepEqual(first, ["connecting->open", "open->closed-gracefully"]);
  assert.deepEqual(second, ["connecting->open", "open->closed-gracefully"]);
  assert.equal(m.send({ type: "error", code: "EPIPE" }), undefined);
});

test("state machine: unsubscribe stops delivery", () => {
  const m = new ConnectionStateMachine();
  let n = 0;
  const off = m.observe(() => n++);
  m.send({ type: "opened" });
  off();
  m.send({ type: "eof" });
  assert.equal(n, 1);
});
