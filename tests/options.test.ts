import assert from "node:assert/strict";
import { test } from "./harness.ts";
import {
  detectionTime,
  sharedKeepAliveInfo,
  toMillis,
  toSeconds,
  validateKeepAlive,
} from "../src/options.ts";
import { LINUX_LIMITS } from "../src/os/linux.ts";
import { keepAliveRequest } from "../src/checks.ts";

const L = LINUX_LIMITS;

test("options: toSeconds rounds up, toMillis converts back", () => {
  assert.equal(toSeconds(1), 1);
  assert.equal(toSeconds(999), 1);
  assert.equal(toSeconds(1000), 1);
  assert.equal(toSeconds(1001), 2);
  assert.equal(toSeconds(32767000), 32767);
  assert.equal(toMillis(3), 3000);
});

test("options: Linux rounds idle and interval up to whole seconds and reports them", () => {
  assert.deepEqual(
    validateKeepAlive({ idle: 1500, interval: 1, count: 3, userTimeout: 2500.2 }, L),
    {
      enabled: true,
      idle: 2000,
      interval: 1000,
      count: 3,
      userTimeout: 2501,
    },
  );
  assert.deepEqual(validateKeepAlive({}, L), { enabled: true });
  assert.deepEqual(validateKeepAlive({ enabled: false }, L), { enabled: false });
  assert.deepEqual(validateKeepAlive({ userTimeout: -0 }, L), { enabled: true, userTimeout: 0 });
  assert.ok(Object.is(validateKeepAlive({ userTimeout: -0 }, L).userTimeout, 0));
});

test("options: limits are inclusive at both ends", () => {
  assert.equal(validateKeepAlive({ idle: 32767000 }, L).idle, 32767000);
  assert.equal(validateKeepAlive({ interval: 32767000 }, L).interval, 32767000);
  assert.equal(validateKeepAlive({ count: 127 }, L).count, 127);
  assert.equal(validateKeepAlive({ count: 1 }, L).count, 1);
  assert.equal(validateKeepAlive({ userTimeout: 2 ** 31 - 1 }, L).userTimeout, 2 ** 31 - 1);
});

test("options: RangeError names the option and the limit", () => {
  const cases: Array<[object, RegExp]> = [
    [
      { idle: 0 },
      /"idle" must be more than 0 and at most 32767000 ms \(Linux takes whole seconds from 1000 ms to 32767000 ms\), got 0/,
    ],
    [{ idle: 32767001 }, /"idle" .*got 32767001/],
    [{ interval: -5 }, /"interval" .*got -5/],
    [{ interval: NaN }, /"interval" .*got NaN/],
    [{ idle: Infinity }, /"idle" .*got Infinity/],
    [{ count: 0 }, /"count" must be an integer from 1 to 127 on Linux, got 0/],
    [{ count: 128 }, /"count" .*got 128/],
    [{ count: 2.5 }, /"count" .*got 2.5/],
    [{ userTimeout: -1 }, /"userTimeout" must be from 0 to 2147483647 ms on Linux/],
    [{ userTimeout: 2 ** 31 }, /"userTimeout" .*got 2147483648/],
  ];
  for (const [options, message] of cases) {
    assert.throws(() => validateKeepAlive(options, L), (e: unknown) => {
      assert.ok(e instanceof RangeError, `${JSON.stringify(options)} -> ${e}`);
      assert.match((e as Error).message, /^Cannot set keepalive: /);
      assert.match((e as Error).message, message);
      return true;
    });
  }
});

test("options: TypeError for wrong types and unknown keys", () => {
  const cases: Array<[unknown, RegExp]> = [
    [{ idle: "1000" }, /"idle" must be a number of milliseconds, got "1000"/],
    [{ count: null }, /"count" must be a number of probes, got null/],
    [{ enabled: 1 }, /"enabled" must be a boolean, got 1/],
    [{ idel: 1000 }, /unknown option "idel"/],
    [null, /options must be an object, got null/],
    ["fast", /options must be an object/],
    [[1], /options must be an object, got an array/],
  ];
  for (const [options, message] of cases) {
    assert.throws(
      () => validateKeepAlive(options as never, L),
      (e: unknown) => e instanceof TypeError && message.test((e as Error).message),
    );
  }
});

test("options: only own string keys count; symbols and inherited values are refused or ignored", () => {
  assert.throws(
    () => validateKeepAlive({ [Symbol("idle")]: 1000 } as never, L),
    (e: unknown) =>
      e instanceof TypeError && /unknown option Symbol\(idle\)/.test((e as Error).message),
  );
  // A value inherited through the prototype is not an option the caller set.
  const inherited = Object.create({ count: 0 }) as object;
  assert.deepEqual(validateKeepAlive(inherited, L), { enabled: true });
});

test("options: detectionTime follows idle + interval x count, and Linux's user timeout rule", () => {
  assert.equal(detectionTime({ idle: 1000, interval: 1000, count: 3 }), 4000);
  assert.equal(detectionTime({ idle: 7200000, interval: 75000, count: 9 }), 7875000);
  // With TCP_USER_TIMEOUT, Linux drops at the first probe time at or past it.
  assert.equal(detectionTime({ idle: 1000, interval: 1000, count: 3, userTimeout: 5000 }), 5000);
  assert.equal(detectionTime({ idle: 1000, interval: 1000, count: 9, userTimeout: 2500 }), 3000);
  assert.equal(detectionTime({ idle: 5000, interval: 1000, count: 3, userTimeout: 100 }), 6000);
  assert.throws(() => detectionTime({ idle: 1000, interval: 0, count: 3 }), RangeError);
  assert.throws(() => detectionTime({ idle: 1000, interval: 1000 }), RangeError);
});

test("options: connect's keepAlive fills defaults and ties userTimeout to the budget", () => {
  assert.deepEqual(keepAliveRequest(false, L), { enabled: false });
  assert.deepEqual(keepAliveRequest(undefined, L), {
    enabled: true,
    idle: 10000,
    interval: 2000,
    count: 5,
    userTimeout: 20000,
  });
  assert.deepEqual(keepAliveRequest({ idle: 1500, interval: 1000, count: 3 }, L), {
    enabled: true,
    idle: 2000,
    interval: 1000,
    count: 3,
    userTimeout: 5000,
  });
  assert.equal(keepAliveRequest({ idle: 1000, userTimeout: 0 }, L).userTimeout, 0);
  assert.throws(() => keepAliveRequest({ idle: -1 }, L), /"idle"/);
  assert.throws(() => keepAliveRequest(42 as never, L), TypeError);
});

test("sharedKeepAliveInfo: frozen; equal values give the last object back, others a new one", () => {
  const values = { enabled: true, idle: 1000, interval: 1000, count: 3, userTimeout: 4000 };
  const a = sharedKeepAliveInfo({ ...values });
  assert.ok(Object.isFrozen(a));
  assert.deepEqual(a, values);
  assert.equal(sharedKeepAliveInfo({ ...values }), a, "the same values: the same object");
  const b = sharedKeepAliveInfo({ ...values, idle: 2000 });
  assert.notEqual(b, a);
  assert.equal(b.idle, 2000);
  // Windows' unverified fields are kept with their own object, frozen too.
  const c = sharedKeepAliveInfo({ ...values, unverified: ["idle"] });
  assert.notEqual(c, a);
  assert.ok(Object.isFrozen(c.unverified));
  assert.notEqual(sharedKeepAliveInfo({ ...values, unverified: ["idle"] }), c);
});
