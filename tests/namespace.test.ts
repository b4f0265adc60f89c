/**
 * Which socket is the connection's when another network namespace has one with the same two
 * addresses (a descriptor inherited from a process there). Against the fake kernel, so every
 * arrangement is exact: the guessed descriptors (Deno's lookup) never choose the foreign socket,
 * whatever order they come in; the scan takes only the socket of this process's namespace; a
 * runtime that names its descriptor (Bun) is not second-guessed. The real thing, with two
 * namespaces and an inherited descriptor, is in tests/faults.test.ts.
 */
import assert from "node:assert/strict";
import { test } from "./harness.ts";
import { FakeKernel } from "./fixtures/fake_kernel.ts";
import { getKeepAliveOn, setKeepAliveOn, type SocketTarget } from "../src/sockopt.ts";
import { linux } from "../src/os/linux.ts";
import { SocketOptionError } from "../src/errors.ts";
import type { Descriptor } from "../ffi/types.ts";

const LOCAL = { hostname: "198.18.0.1", port: 40000 };
const REMOTE = { hostname: "198.18.0.2", port: 7000 };
const OPTIONS = { idle: 7000, interval: 3000, count: 4, userTimeout: 12_345 };
const FOREIGN_NETNS = 8192n;

/** A kernel holding the foreign socket at `foreign` and, unless `mine` is undefined, ours. */
function arrange(foreign: Descriptor, mine: Descriptor | undefined): FakeKernel {
  const kernel = new FakeKernel();
  kernel.open(foreign, LOCAL, REMOTE, undefined, FOREIGN_NETNS);
  if (mine !== undefined) kernel.open(mine, LOCAL, REMOTE);
  return kernel;
}

function guessing(kernel: FakeKernel, hints: Descriptor[]): SocketTarget {
  return {
    local: LOCAL,
    remote: REMOTE,
    hints: () => hints,
    scan: () => kernel.listDescriptors(),
  };
}

const options = (kernel: FakeKernel, fd: Descriptor) => kernel.peekOptions(fd);
const untouched = (kernel: FakeKernel, fd: Descriptor) =>
  assert.deepEqual(
    options(kernel, fd),
    options(arrange(fd, undefined), fd),
    `descriptor ${fd} (foreign) was touched`,
  );

test("namespace: a guessed descriptor in another namespace is never chosen, in any hint order", () => {
  for (const hints of [[3, 5], [5, 3], [3], [5], []]) {
    const kernel = arrange(3, 5);
    const info = setKeepAliveOn(
      linux,
      () => kernel,
      () => guessing(kernel, hints),
      undefined,
      OPTIONS,
    );
    assert.equal(info.idle, 7000, `hints ${hints}`);
    assert.equal(options(kernel, 5)["6/4"], 7, `hints ${hints}: ours did not get idle`);
    untouched(kernel, 3);
    assert.deepEqual(
      getKeepAliveOn(linux, () => kernel, () => guessing(kernel, hints), undefined),
      {
        enabled: true,
        ...OPTIONS,
      },
    );
  }
});

test("namespace: with only the foreign socket left, the lookup fails and says why", () => {
  const kernel = arrange(3, undefined);
  assert.throws(
    () => setKeepAliveOn(linux, () => kernel, () => guessing(kernel, [3]), undefined, OPTIONS),
    (e: unknown) =>
      e instanceof SocketOptionError && e.code === "ERR_SOCKET_NOT_FOUND" &&
      /another network namespace/.test(e.message),
  );
  untouched(kernel, 3);
  assert.equal(kernel.sets.length, 0);
});

test("namespace: two sockets of this namespace with our addresses (impossible in TCP) are refused", () => {
  const kernel = arrange(3, 5);
  kernel.open(6, LOCAL, REMOTE); // a second socket, not a duplicate: its own cookie
  assert.throws(
    () => setKeepAliveOn(linux, () => kernel, () => guessing(kernel, [9]), undefined, OPTIONS),
    (e: unknown) => e instanceof SocketOptionError && e.code === "ERR_SOCKET_AMBIGUOUS",
  );
  assert.equal(kernel.sets.length, 0);
});

test("namespace: where the namespace cannot be read, a foreign match makes the lookup refuse", () => {
  const kernel = arrange(3, 5);
  // No socket() of its own: the home namespace is unknown, so every match counts.
  const calls = Object.assign(Object.create(kernel), { socket: undefined }) as FakeKernel;
  assert.throws(
    () => setKeepAliveOn(linux, () => calls, () => guessing(kernel, [5]), undefined, OPTIONS),
    (e: unknown) => e instanceof SocketOptionError && e.code === "ERR_SOCKET_AMBIGUOUS",
  );
  assert.equal(kernel.sets.length, 0);
});

test("namespace: a descriptor the runtime names (Bun's fd) is verified by address alone", () => {
  const kernel = arrange(3, 5);
  const named: SocketTarget = { local: LOCAL, remote: REMOTE, hints: () => [5] };
  setKeepAliveOn(linux, () => kernel, () => named, undefined, OPTIONS);
  assert.equal(options(kernel, 5)["6/4"], 7);
  untouched(kernel, 3);
  assert.equal(kernel.sockets.size, 2, "no probe socket was made for a named descriptor");
});

test("namespace: each socket's own namespace is read, whichever was read before it", () => {
  const kernel = arrange(3, 5);
  // Large enough that the two halves of the 64-bit cookie both differ from the home one's.
  kernel.open(7, LOCAL, { ...REMOTE, port: 7001 }, undefined, (1n << 40n) + 5n);
  const home = linux.namespace!(kernel, 5);
  for (const [fd, expected] of [[3, FOREIGN_NETNS], [5, home], [7, (1n << 40n) + 5n], [5, home]]) {
    assert.equal(linux.namespace!(kernel, fd as Descriptor), expected, `descriptor ${fd}`);
  }
  assert.equal(linux.namespace!(kernel, 99), undefined, "no descriptor, no namespace");
  assert.notEqual(home, FOREIGN_NETNS);
});
