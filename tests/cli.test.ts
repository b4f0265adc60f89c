/**
 * `cli.ts watch`, end to end: the CLI runs as a child process of the runtime running the tests,
 * against the python peer. Plus the argument parsing, in process.
 */
import assert from "node:assert/strict";
import process from "node:process";
import {
  command,
  isBun,
  netnsTestOptions,
  Proc,
  runtimeCommand,
  sleep,
  startPeer,
  test,
  withPeer,
} from "./harness.ts";
import { SERVER_IP, TestNet } from "../tools/netns.ts";
import {
  helpText,
  main,
  type Output,
  parseArgs,
  parseDuration,
  parseTarget,
  UsageError,
} from "../cli.ts";

// Child processes (the CLI, the python peer) are spawned in these tests.
const opts = { sanitize: false, timeout: 10_000 };
const cli = new URL("../cli.ts", import.meta.url).pathname;
const TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /;
const FAST = ["--idle", "1s", "--interval", "1s", "--count", "3"];

function watch(...args: string[]): Proc {
  return new Proc(runtimeCommand(cli, args));
}

/** Waits for the process to exit, killing it if it has not within `ms`. */
async function exitCode(p: Proc, ms = 8_000): Promise<number | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), ms)));
  const result = await Promise.race([p.exited(), timeout]);
  clearTimeout(timer);
  if (result === "timeout") {
    await p.kill();
    assert.fail(`the CLI did not exit within ${ms} ms; stdout:\n${p.lines.join("\n")}`);
  }
  return result;
}

test("cli: parses durations, targets and flags", () => {
  assert.equal(parseDuration("1500"), 1500);
  assert.equal(parseDuration("1500ms"), 1500);
  assert.equal(parseDuration("1.5s"), 1500);
  assert.equal(parseDuration("2m"), 120_000);
  assert.equal(parseDuration("0"), 0);
  for (const bad of ["", "1h", "-1s", "1 s", "s", "1.2.3"]) {
    assert.throws(() => parseDuration(bad, "--idle"), (e: unknown) => {
      assert.ok(e instanceof UsageError);
      assert.match(e.message, /^--idle: .* is not a duration/);
      return true;
    });
  }
  assert.deepEqual(parseTarget("[::1]:7000"), { hostname: "::1", port: 7000 });
  assert.deepEqual(parseTarget("[fe80::1%eth0]:80"), { hostname: "fe80::1%eth0", port: 80 });
  assert.deepEqual(parseTarget("localhost:65535"), { hostname: "localhost", port: 65535 });
  assert.throws(() => parseTarget("::1:7000"), /IPv6 address in brackets, e.g. \[::1\]:7000/);
  assert.throws(
    () => parseTarget("127.0.0.1"),
    /"127\.0\.0\.1" has no port; e\.g\. 127\.0\.0\.1:7000/,
  );
  assert.throws(() => parseTarget("127.0.0.1:0"), /port must be a whole number from 1 to 65535/);
  assert.throws(() => parseTarget("127.0.0.1:70000"), /from 1 to 65535/);
  assert.throws(() => parseTarget("[::1]:x"), /from 1 to 65535/);
  assert.deepEqual(
    parseArgs([
      "watch",
      "h:1",
      "--idle=2s",
      "--interval",
      "500",
      "--count",
      "4",
      "--user-timeout",
      "0",
      "--connect-timeout",
      "3s",
    ]),
    {
      command: "watch",
      hostname: "h",
      port: 1,
      keepAlive: { idle: 2000, interval: 500, count: 4, userTimeout: 0 },
      connectTimeout: 3000,
      every: 1000,
      json: false,
    },
  );
  assert.equal(parseArgs(["watch", "h:1", "-h"]), "help");
  assert.throws(() => parseArgs([]), /missing command/);
  assert.throws(() => parseArgs(["ping", "h:1"]), /unknown command "ping"/);
  assert.throws(() => parseArgs(["watch"]), /watch needs HOST:PORT/);
  assert.throws(() => parseArgs(["watch", "h:1", "h:2"]), /unexpected argument "h:2"/);
  assert.throws(() => parseArgs(["watch", "h:1", "--idle"]), /--idle needs a value/);
  assert.throws(() => parseArgs(["watch", "h:1", "--count", "2.5"]), /not a whole number/);
  assert.throws(() => parseArgs(["watch", "h:1", "--json=yes"]), /--json takes no value/);
  assert.throws(() => parseArgs(["watch", "h:1", "--connect-timeout", "0"]), /more than 0/);
});

test("cli: graceful close -> exit 0, every transition printed with a timestamp", async () => {
  await withPeer(async (peer, port) => {
    const p = watch("watch", `127.0.0.1:${port}`, ...FAST);
    await p.waitFor(/waiting: open; a silent peer is noticed within 4\.0 s$/);
    await peer.waitFor(/^ACCEPTED/);
    await command(peer, "close");
    assert.equal(await exitCode(p), 0, p.stderr);
    for (const line of p.lines) assert.match(line, TIMESTAMP);
    // Heartbeats ("open: rtt ...") come once a second; a slow run may show one.
    const text = p.lines.map((l) => l.replace(TIMESTAMP, "")).filter((l) =>
      !l.startsWith("open: ")
    );
    assert.deepEqual(text.map((l) => l.split(":")[0]), [
      "waiting",
      "connecting -> open",
      "keepalive (kernel values)",
      "waiting",
      "open -> closed-gracefully",
      "exit 0",
    ]);
    assert.equal(text[0], `waiting: connecting to 127.0.0.1:${port}`);
    assert.match(
      text[1],
      new RegExp(`^connecting -> open: 127\\.0\\.0\\.1:\\d+ -> 127\\.0\\.0\\.1:${port}$`),
    );
    assert.equal(
      text[2],
      "keepalive (kernel values): idle 1000 ms, interval 1000 ms, count 3, user timeout 4000 ms; " +
        "detection budget 4000 ms",
    );
    assert.match(text[4], /^open -> closed-gracefully: by peer, after [\d.]+ s open$/);
  });
}, opts);

test("cli: peer reset -> exit 1 with ECONNRESET printed", async () => {
  await withPeer(async (peer, port) => {
    const p = watch("watch", `127.0.0.1:${port}`, ...FAST);
    await p.waitFor(/waiting: open/);
    await peer.waitFor(/^ACCEPTED/);
    await command(peer, "reset");
    assert.equal(await exitCode(p), 1, p.stderr);
    assert.ok(p.lines.some((l) => / open -> broken: ECONNRESET/.test(l)), p.lines.join("\n"));
    assert.match(p.lines.at(-1)!, /exit 1: the connection broke \(ECONNRESET\)$/);
  });
}, opts);

test("cli: --json prints one JSON object per line (IPv6 target)", async () => {
  await withPeer(async (peer, port) => {
    const p = watch("watch", `[::1]:${port}`, ...FAST, "--user-timeout", "2.5s", "--json");
    await p.waitFor(/"state":"open"/);
    await peer.waitFor(/^ACCEPTED/);
    await command(peer, "close");
    assert.equal(await exitCode(p), 0, p.stderr);
    const records = p.lines.map((l) => JSON.parse(l)).filter((r) => r.event !== "health");
    for (const r of records) assert.match(r.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.deepEqual(records.map((r) => `${r.event} ${r.state ?? r.to ?? r.status}`), [
      "waiting connecting",
      "statechange open",
      "waiting open",
      "statechange closed-gracefully",
      "exit 0",
    ]);
    assert.equal(records[0].target, `[::1]:${port}`);
    assert.equal(records[1].remote, `[::1]:${port}`);
    assert.deepEqual(records[1].keepAlive, {
      enabled: true,
      idle: 1000,
      interval: 1000,
      count: 3,
      userTimeout: 2500,
    });
    // With a user timeout of 2.5 s the drop comes at the first probe at or past it: 1 + 2 x 1 s.
    assert.equal(records[1].detectionTime, 3000);
    assert.equal(records[2].detectionTime, 3000);
    assert.equal(records[3].by, "peer");
    assert.equal(typeof records[3].openForMs, "number");
  }, "::1");
}, opts);

test("cli: nothing listening -> exit 1 with ECONNREFUSED", async () => {
  const { peer, port } = await startPeer();
  await peer.kill();
  const p = watch("watch", `127.0.0.1:${port}`);
  assert.equal(await exitCode(p), 1, p.stderr);
  assert.ok(p.lines.some((l) => / connecting -> broken: ECONNREFUSED/.test(l)), p.lines.join("\n"));
}, opts);

test("cli: Ctrl-C closes the connection (the peer sees FIN) and exits 130", async () => {
  await withPeer(async (peer, port) => {
    const p = watch("watch", `127.0.0.1:${port}`);
    await p.waitFor(/waiting: open/);
    await peer.waitFor(/^ACCEPTED/);
    await command(peer, "read");
    p.child.kill("SIGINT");
    const code = await exitCode(p);
    // Deno's node:child_process reports an exit status above 128 as death by signal 128 + n, so
    // there exit(130) reads as SIGINT; the last line shows the CLI itself chose 130.
    if (isBun) assert.equal(code, 130, p.stderr);
    else assert.ok(code === 130 || p.child.signalCode === "SIGINT", `${code} ${p.stderr}`);
    assert.ok(p.lines.some((l) => / open -> closed-gracefully: by local/.test(l)));
    assert.match(p.lines.at(-1)!, /exit 130: interrupted$/);
    await peer.waitFor(/^EOF 0$/);
  });
}, opts);

test("cli: --help explains every flag, with units", async () => {
  const p = watch("--help");
  assert.equal(await exitCode(p), 0, p.stderr);
  const help = p.lines.join("\n");
  assert.equal(help + "\n", helpText());
  for (
    const flag of [
      "--idle",
      "--interval",
      "--count",
      "--user-timeout",
      "--connect-timeout",
      "--json",
      "--help",
    ]
  ) {
    assert.ok(help.includes(flag), `--help mentions ${flag}`);
  }
  assert.match(help, /ms, s or m/);
  assert.match(help, /a bare number is milliseconds/);
  assert.match(help, /\[::1\]:7000/);
  assert.match(help, /Exit status/);
  // An installed user has no cli.ts to run: the commands are the package's.
  assert.match(help, /bunx sockalive watch/);
  assert.match(help, /deno run --allow-net --allow-ffi jsr:@sockalive\/sockalive\/cli watch/);
  assert.doesNotMatch(help, /cli\.ts/);
}, opts);

test("cli: bad flags and arguments exit 2 with a clear message on stderr", async () => {
  const cases: Array<[string[], RegExp]> = [
    [["watch", "127.0.0.1:7000", "--bogus"], /^sockalive: unknown flag "--bogus"/],
    [["watch", "127.0.0.1:7000", "--idle", "1h"], /--idle: "1h" is not a duration/],
    [["watch", "::1:7000"], /put an IPv6 address in brackets, e\.g\. \[::1\]:7000/],
    [["watch", "127.0.0.1:7000", "--count", "500"], /"count" must be an integer from 1 to 127/],
    [[], /missing command/],
    [["watch", "[]:80"], /"\[\]:80": the brackets are empty/],
    [["watch", "[::1]"], /"\[::1\]" has no port; e\.g\. \[::1\]:7000/],
    [["watch", "127.0.0.1:7000", "--idle", "0.4"], /--idle: "0\.4" is not a whole number of ms/],
  ];
  const procs = cases.map(([args]) => watch(...args));
  for (const [i, p] of procs.entries()) {
    assert.equal(await exitCode(p), 2, `${cases[i][0].join(" ")}: ${p.stderr}`);
    assert.match(p.stderr, cases[i][1]);
    assert.match(p.stderr, /--help/);
    assert.deepEqual(p.lines, [], "nothing on stdout");
  }
}, opts);

/** Runs the CLI in process (nothing here gets as far as a socket) and collects what it prints. */
async function mainWith(
  args: string[],
): Promise<{ status: number; stdout: string; stderr: string }> {
  let stdout = "", stderr = "";
  const sink = (write: (text: string) => void): Output => ({ write });
  const status = await main(args, {
    stdout: sink((t) => (stdout += t)),
    stderr: sink((t) => (stderr += t)),
  });
  return { status, stdout, stderr };
}

test("cli: every bad target or duration is a usage error naming what was typed", async () => {
  const cases: Array<[string, string[], RegExp]> = [
    // Targets; the suggestion is the target written correctly, or with PORT for a missing port.
    ["::1:7000", [], /"::1:7000": put an IPv6 address in brackets, e\.g\. \[::1\]:7000$/m],
    ["[::1]", [], /"\[::1\]" has no port; e\.g\. \[::1\]:7000$/m],
    ["::1", [], /"::1": put an IPv6 address in brackets and add the port, e\.g\. \[::1\]:7000$/m],
    ["fe80::1%eth0", [], /e\.g\. \[fe80::1%eth0\]:7000$/m],
    [
      "[::1]7000",
      [],
      /"\[::1\]7000": put a colon between "\]" and the port, e\.g\. \[::1\]:7000$/m,
    ],
    ["[::1]:", [], /"\[::1\]:" has no port; e\.g\. \[::1\]:7000$/m],
    ["[]:80", [], /"\[\]:80": the brackets are empty; put an IPv6 address in them/],
    [
      "[127.0.0.1]:1",
      [],
      /"\[127\.0\.0\.1\]:1": brackets are for IPv6 addresses; write 127\.0\.0\.1:1$/m,
    ],
    ["[[::1]]:80", [], /"\[\[::1\]\]:80" is not HOST:PORT/],
    ["[::1", [], /"\[::1" is not HOST:PORT/],
    ["1.2.3.4:80:90", [], /"1\.2\.3\.4:80:90" is not HOST:PORT/],
    ["host:", [], /"host:" has no port; e\.g\. host:7000$/m],
    [":80", [], /":80" has no host; e\.g\. 127\.0\.0\.1:80$/m],
    ["127.0.0.1", [], /"127\.0\.0\.1" has no port; e\.g\. 127\.0\.0\.1:7000$/m],
    [" 127.0.0.1:1", [], /" 127\.0\.0\.1:1": HOST:PORT has no spaces/],
    ["127.0.0.1:1e3", [], /port must be a whole number from 1 to 65535, got "1e3"/],
    // Durations, then the range the library checks, named by the flag and the text typed.
    ["127.0.0.1:1", ["--idle", "0.4"], /--idle: "0\.4" is not a whole number of ms/],
    ["127.0.0.1:1", ["--user-timeout", "0.4"], /--user-timeout: "0\.4" is not a whole number/],
    ["127.0.0.1:1", ["--connect-timeout", "0.4"], /--connect-timeout: "0\.4" is not a whole/],
    ["127.0.0.1:1", ["--interval", "0.0004s"], /--interval: "0\.0004s" is not a whole number/],
    ["127.0.0.1:1", ["--idle", "-1s"], /--idle: "-1s" is not a duration/],
    ["127.0.0.1:1", ["--idle", "1e3"], /--idle: "1e3" is not a duration/],
    ["127.0.0.1:1", ["--idle", "Infinity"], /--idle: "Infinity" is not a duration/],
    ["127.0.0.1:1", ["--idle", " 1s"], /--idle: " 1s" is not a duration/],
    ["127.0.0.1:1", ["--idle=1s "], /--idle: "1s " is not a duration/],
    ["127.0.0.1:1", ["--idle", "."], /--idle: "\." is not a duration/],
    ["127.0.0.1:1", ["--idle", "0"], /--idle: "0" is out of range: .*"idle" must be more than 0/],
    [
      "127.0.0.1:1",
      ["--interval", "40000s"],
      /--interval: "40000s" is out of range: .* got 40000000/,
    ],
    ["127.0.0.1:1", ["--idle", "1".repeat(30) + "s"], /--idle: "1{30}s" is out of range/],
    ["127.0.0.1:1", ["--user-timeout", "25d"], /--user-timeout: "25d" is not a duration/],
    [
      "127.0.0.1:1",
      ["--user-timeout", "3000000000"],
      /--user-timeout: "3000000000" is out of range/,
    ],
    ["127.0.0.1:1", ["--count", "500"], /--count: "500" is out of range: .*from 1 to 127/],
    ["127.0.0.1:1", ["--connect-timeout", "0"], /--connect-timeout: "0" must be more than 0/],
    [
      "127.0.0.1:1",
      ["--connect-timeout", "2500000000000"],
      /--connect-timeout: "2500000000000" is out of range/,
    ],
  ];
  // Every case is run and every miss reported at once, so one fix cannot hide another's need.
  const misses: string[] = [];
  for (const [target, flags, message] of cases) {
    const args = ["watch", target, ...flags];
    const { status, stdout, stderr } = await mainWith(args);
    const usage = status === 2 && message.test(stderr) && /--help/.test(stderr) && stdout === "";
    if (!usage) misses.push(`${JSON.stringify(args)} -> ${status}: ${stderr.split("\n")[0]}`);
  }
  assert.deepEqual(misses, []);
  // The same families, spelled correctly.
  assert.equal(parseDuration("0.4s"), 400);
  assert.equal(parseDuration("1.5m"), 90_000);
  assert.equal(parseDuration(".5s"), 500);
  assert.equal(parseDuration("1.1s"), 1100, "exactly, not 1100.0000000000002");
  assert.equal(parseDuration("0.0015m"), 90);
  assert.equal(parseDuration("1.000s"), 1000);
  assert.deepEqual(parseTarget("[::1]:07000"), { hostname: "::1", port: 7000 });
  assert.deepEqual(parseTarget("[::ffff:127.0.0.1]:80"), {
    hostname: "::ffff:127.0.0.1",
    port: 80,
  });
});

test(
  "cli: a heartbeat every --every with the kernel's health; --idle-timeout breaks a silent peer",
  async () => {
    await withPeer(async (peer, port) => {
      const p = watch(
        "watch",
        `127.0.0.1:${port}`,
        ...FAST,
        "--every",
        "100ms",
        "--idle-timeout",
        "700ms",
        "--json",
      );
      await p.waitFor(/"state":"open"/);
      await peer.waitFor(/^ACCEPTED/);
      assert.equal(await exitCode(p), 1, p.stderr);
      const records = p.lines.map((l) => JSON.parse(l));
      const beats = records.filter((r) => r.event === "health");
      assert.ok(beats.length >= 4, `${beats.length} heartbeats in 0.7 s at 100 ms`);
      for (const b of beats) {
        assert.equal(b.state, "open");
        assert.equal(b.count, 3);
        if (process.platform === "linux") {
          assert.equal(b.probes, 0);
          assert.equal(b.unacked, 0);
          assert.equal(typeof b.lastReceived, "number");
        }
      }
      const end = records.find((r) => r.event === "statechange" && r.to === "broken");
      assert.equal(end?.code, "IDLE_TIMEOUT");
      assert.ok(end.silentMs >= 700 && end.silentMs < 2000, `silent ${end.silentMs} ms`);
    });
  },
  opts,
);

test(
  "cli (netns): a pulled cable shows probes rising 1, 2, 3 in the heartbeats, a mark, then the break and the silence",
  async () => {
    const net = TestNet.create();
    let peer: Proc | undefined;
    let text: Proc | undefined;
    let json: Proc | undefined;
    try {
      peer = (await startPeer(SERVER_IP, 7000, net.exec("server"))).peer;
      const args = ["watch", `${SERVER_IP}:7000`, ...FAST, "--every", "250ms"];
      json = new Proc([...net.exec("client"), ...runtimeCommand(cli, [...args, "--json"])]);
      await json.waitFor(/"state":"open"/, 10_000);
      await peer.waitFor(/^ACCEPTED/);
      // The python peer serves one client; the text-mode watcher gets a peer of its own.
      const second = (await startPeer(SERVER_IP, 7001, net.exec("server"))).peer;
      try {
        text = new Proc([
          ...net.exec("client"),
          ...runtimeCommand(cli, ["watch", `${SERVER_IP}:7001`, ...FAST, "--every", "250ms"]),
        ]);
        await text.waitFor(/waiting: open/, 10_000);
        await second.waitFor(/^ACCEPTED/);
        await sleep(1500); // idle, past the first answered probe
        const pulledAt = net.pull();
        assert.equal(await exitCode(json, 15_000), 1, json.stderr);
        assert.equal(await exitCode(text, 15_000), 1, text.stderr);

        const records = json.lines.map((l) => JSON.parse(l));
        const at = (r: { time: string }) => Date.parse(r.time);
        const after = records.filter((r) => r.event === "health" && at(r) > pulledAt);
        const probes = after.map((r) => r.probes as number)
          .filter((v, i, all) => i === 0 || v !== all[i - 1]);
        assert.deepEqual(probes.slice(probes.lastIndexOf(0) + 1), [1, 2, 3], `probes ${probes}`);
        const mark = records.find((r) => r.event === "probes");
        assert.ok(mark && at(mark) > pulledAt, "the moment probes went unanswered is marked");
        const end = records.find((r) => r.event === "statechange" && r.to === "broken");
        assert.equal(end?.code, "ETIMEDOUT");
        const detected = at(end) - pulledAt;
        assert.ok(detected > 2500 && detected < 4500, `broken ${detected} ms after the pull`);
        assert.ok(end.silentMs >= detected + 1000, `silent ${end.silentMs} ms at the break`);

        // Text, piped: one heartbeat line each --every, the mark, the break with the silence.
        const lines = text.lines;
        assert.ok(
          lines.some((l) =>
            / open: rtt [\d.]+ ms {2}unacked 0 {2}retransmits 0 {2}probes 2\/3 {2}silent \d+\.\d s$/
              .test(l)
          ),
          lines.join("\n"),
        );
        assert.ok(
          lines.some((l) =>
            / probes unanswered: [123] of 3, the peer silent \d+\.\d s; unless it answers, dropped within/
              .test(l)
          ),
          lines.join("\n"),
        );
        assert.ok(
          lines.some((l) =>
            / open -> broken: ETIMEDOUT .*; the peer had been silent \d+\.\d s$/.test(l)
          ),
          lines.join("\n"),
        );
      } finally {
        await second.kill();
      }
    } finally {
      await json?.kill();
      await text?.kill();
      await peer?.kill();
      net.destroy();
    }
  },
  netnsTestOptions(40_000),
);
