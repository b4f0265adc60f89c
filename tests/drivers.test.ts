/**
 * Real drivers against real servers, in the runtime running the tests: pg and postgres.js against
 * PostgreSQL, ioredis against redis, mqtt against mosquitto, all started in a server namespace
 * (tests/servers.ts), the drivers in a child process in the client namespace, one pulled cable
 * for all of them at once (tests/drivers_scenario.ts). For each driver: an idle connection
 * reports the loss (the driver's own error) within the keepalive budget + 0.5 s; a request sent
 * right after the pull, with `userTimeout`, is rejected within userTimeout + 0.5 s of being
 * sent; and once the cable is back, the driver's new socket carries the options, read back from
 * the kernel with `getKeepAlive`. `VIA` lists the ways the options reach the drivers' sockets:
 * "setKeepAlive" runs the README's snippets (tests/drivers/), each driver's socket in hand; each
 * way runs the same tests (the client's `snippetOptions` says what a way hands the drivers).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import process from "node:process";
import { isBun, test, type TestOptions } from "./harness.ts";
import { serversUnavailable } from "./servers.ts";
import {
  DRIVERS,
  type DriversRun,
  key,
  type Role,
  runDrivers,
  type Via,
} from "./drivers_scenario.ts";
import { detectionTime, type KeepAliveOptions } from "../mod.ts";
import { netnsUnavailable } from "../tools/netns.ts";

const KEEPALIVE: Record<Role, KeepAliveOptions> = {
  idle: { idle: 1000, interval: 1000, count: 3 },
  inflight: { idle: 1000, interval: 1000, count: 3, userTimeout: 3000 },
};
/** Budget of each role: the keepalive budget while idle, the user timeout with a request out. */
const BUDGET: Record<Role, number> = {
  idle: detectionTime(KEEPALIVE.idle),
  inflight: KEEPALIVE.inflight.userTimeout!,
};
const MARGIN = 500;
const VIA: Via[] = ["setKeepAlive", "policy"];

/** Skipped with the reason when namespaces or servers are missing, except under CI=true. */
function driverTestOptions(): TestOptions {
  const reason = netnsUnavailable() ?? serversUnavailable();
  if (reason && process.env.CI !== "true") {
    return { skip: `${reason} (set CI=true to make this a failure)`, sanitize: false };
  }
  return { sanitize: false, timeout: 90_000 };
}

const runs = new Map<Via, Promise<DriversRun>>();
/** One run per way, shared by that way's tests. */
function run(via: Via): Promise<DriversRun> {
  if (!runs.has(via)) {
    runs.set(via, runDrivers({ via, keepAlive: KEEPALIVE, capMs: 20_000 }));
  }
  return runs.get(via)!;
}

/** The options as `getKeepAlive` reads them back after setting `options` on a new socket. */
const expected = (options: KeepAliveOptions) => ({
  enabled: true,
  idle: options.idle,
  interval: options.interval,
  count: options.count,
  userTimeout: options.userTimeout ?? 0,
});

const runtime = isBun ? "Bun" : "Deno";

for (const via of VIA) {
  for (const driver of DRIVERS) {
    test(
      `drivers (${via}): ${driver}: the options are on its socket once connected`,
      async () => {
        const { opened } = await run(via);
        for (const role of ["idle", "inflight"] as const) {
          assert.deepEqual(opened.get(key(driver, role))?.keepAlive, expected(KEEPALIVE[role]));
        }
      },
      driverTestOptions(),
    );

    test(
      `drivers (${via}): ${driver}: pulled cable while idle -> its own error within ${
        BUDGET.idle + MARGIN
      } ms`,
      async () => {
        const { detected, pulledAt } = await run(via);
        const line = detected.get(key(driver, "idle"));
        assert.equal(line?.type, "detected", `no loss reported: ${JSON.stringify(line)}`);
        const elapsed = (line.at as number) - pulledAt;
        console.log(
          `${runtime} ${driver} idle (${via}): ${line.how} ${line.code ?? line.message} ` +
            `${elapsed} ms after the pull (budget ${BUDGET.idle} ms)`,
        );
        assert.ok(elapsed <= BUDGET.idle + MARGIN, `after ${elapsed} ms`);
        assert.ok(elapsed >= BUDGET.idle - 1000, `after ${elapsed} ms: too early for keepalive`);
        // postgres.js reports a lost idle connection only through onclose, without the error.
        if (driver !== "postgres") assert.equal(line.code, "ETIMEDOUT");
      },
      driverTestOptions(),
    );

    test(
      `drivers (${via}): ${driver}: request in flight, userTimeout ${BUDGET.inflight} -> ` +
        `rejected within ${BUDGET.inflight + MARGIN} ms`,
      async () => {
        const { detected, pulledAt } = await run(via);
        const line = detected.get(key(driver, "inflight"));
        assert.equal(line?.type, "detected", `not rejected: ${JSON.stringify(line)}`);
        assert.equal(line.how, "request rejected");
        const elapsed = (line.at as number) - (line.sentAt as number);
        console.log(
          `${runtime} ${driver} in flight (${via}): rejected (${line.code ?? line.message}) ` +
            `${elapsed} ms after the request, ${(line.at as number) - pulledAt} ms after the ` +
            `pull (userTimeout ${BUDGET.inflight} ms)`,
        );
        assert.ok(elapsed <= BUDGET.inflight + MARGIN, `after ${elapsed} ms`);
        assert.ok(elapsed >= BUDGET.inflight - 500, `after ${elapsed} ms: before userTimeout`);
        const reason = {
          pg: /ETIMEDOUT/,
          postgres: /ETIMEDOUT/,
          ioredis: /max retries per request/, // maxRetriesPerRequest: 0, at the drop
          mqtt: /Connection closed/,
        }[driver];
        assert.match(`${line.code} ${line.message}`, reason);
      },
      driverTestOptions(),
    );

    test(
      `drivers (${via}): ${driver}: after the cable is back, its new socket carries the options`,
      async () => {
        const { reconnected } = await run(via);
        for (const role of ["idle", "inflight"] as const) {
          const line = reconnected.get(key(driver, role));
          assert.equal(line?.type, "reconnected", `${role}: ${JSON.stringify(line)}`);
          assert.equal(line.newSocket, true, `${role}: the socket read back is the old one`);
          assert.deepEqual(line.keepAlive, expected(KEEPALIVE[role]), role);
        }
      },
      driverTestOptions(),
    );
  }
}

test(
  "drivers: postgres.js's own keep_alive (default 60 s), left on, overwrites idle after ours",
  async () => {
    const { lines } = await run("setKeepAlive");
    const line = lines.find((l) => l.type === "postgres-default-keep_alive");
    const keepAlive = line?.keepAlive as Record<string, unknown>;
    console.log(
      `${runtime}: postgres.js keep_alive 60 after sockalive: ${JSON.stringify(keepAlive)}`,
    );
    assert.equal(keepAlive.idle, 60_000);
    // Deno's socket.setKeepAlive(true, ms) sets idle only; Bun's sets interval 1 s and count 10.
    assert.equal(keepAlive.interval, 1000);
    assert.equal(keepAlive.count, isBun ? 10 : KEEPALIVE.idle.count);
  },
  driverTestOptions(),
);

test(
  "drivers (policy): postgres.js's own keep_alive (default 60 s) is undone and reported, not silent",
  async () => {
    const { lines, opened } = await run("policy");
    // Only postgres.js calls the runtime's setKeepAlive; pg, ioredis and mqtt leave it.
    const overrides = lines.filter((l) => l.type === "override");
    assert.ok(overrides.length >= 2, `${overrides.length} overrides reported`);
    for (const o of overrides) assert.match(String(o.message), /setKeepAlive.*undone/);
    // Yet its socket carries the policy's options, as every other driver's does.
    for (const role of ["idle", "inflight"] as const) {
      assert.deepEqual(opened.get(key("postgres", role))?.keepAlive, expected(KEEPALIVE[role]));
    }
  },
  driverTestOptions(),
);

test("README: each driver's snippet is tests/drivers/<driver>.ts, the code these tests run", () => {
  const here = new URL(".", import.meta.url).pathname;
  const readme = readFileSync(`${here}../README.md`, "utf8");
  const blocks = [...readme.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
  const section = readme.slice(readme.indexOf("### Use with your driver"));
  for (const driver of ["pg", "postgres", "ioredis", "mqtt", "policy"]) {
    const code = readFileSync(`${here}drivers/${driver}.ts`, "utf8");
    assert.ok(blocks.includes(code), `README.md has no block that is tests/drivers/${driver}.ts`);
    assert.ok(
      section.includes(code),
      `tests/drivers/${driver}.ts is not under "Use with your driver"`,
    );
  }
});
