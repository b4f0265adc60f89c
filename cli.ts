#!/usr/bin/env bun
/**
 * `sockalive watch HOST:PORT`: opens one monitored TCP connection and prints every state change
 * with a timestamp, the keepalive values the kernel took, and how soon a silent peer would be
 * noticed; exits 0 when the connection closes gracefully and 1 when it breaks.
 *
 * Installed, run it with `bunx sockalive watch 127.0.0.1:7000 --idle 1s --interval 1s --count 3`
 * (Bun, from npm; the `#!` line runs it with Bun) or
 * `deno run --allow-net --allow-ffi jsr:@sockalive/sockalive/cli watch ...` (Deno, from JSR); in
 * this repository, `bun cli.ts watch ...` or `deno run -A cli.ts watch ...`. `--help` lists every
 * flag.
 *
 * @example Watching a peer
 * ```sh
 * deno run -A jsr:@sockalive/sockalive/cli watch [::1]:7000 --idle 1s --interval 1s --count 3 --json
 * ```
 *
 * @module
 */

import { isIPv6 } from "node:net";
import process from "node:process";
import { describeHealth, formatSeconds, type HealthMark, HealthTrend } from "./src/heartbeat.ts";
import type { TcpHealth } from "./src/health.ts";
import {
  type CloseInfo,
  connect,
  DEFAULT_KEEPALIVE,
  detectionTime,
  type KeepAliveInfo,
  type LiveConnection,
  type SocketAddress,
  type StateChangeEvent,
} from "./mod.ts";

/** Exit status for a graceful close. */
const EXIT_GRACEFUL = 0;
/** Exit status for a break: refused, reset, timed out, unreachable, keepalive not applicable. */
const EXIT_BROKEN = 1;
/** Exit status for a usage error. */
const EXIT_USAGE = 2;

/** What `sockalive watch` was asked to do. */
export interface WatchCommand {
  /** Always `"watch"`. */
  command: "watch";
  /** Host name or literal address, without brackets. */
  hostname: string;
  /** TCP port. */
  port: number;
  /** The keepalive options given on the command line (ms); keys left out take the defaults. */
  keepAlive: { idle?: number; interval?: number; count?: number; userTimeout?: number };
  /** `--connect-timeout` in ms. */
  connectTimeout?: number;
  /** `--idle-timeout` in ms: break the connection once nothing has arrived for this long. */
  idleTimeout?: number;
  /** `--every` in ms: how often to read and print the connection's health; 0: never. */
  every: number;
  /** `--json`: one JSON object per line. */
  json: boolean;
}

/** A command line that cannot be run; the CLI prints the message and exits 2. */
export class UsageError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

const UNITS = { ms: 1n, s: 1000n, m: 60_000n } as const;
/** Digits with an optional fraction, then an optional unit; no sign, exponent or spaces. */
const DURATION = /^(\d*)(?:\.(\d*))?(ms|s|m)?$/;

/**
 * Parses a duration: a number with `ms`, `s` or `m`, or a bare number of milliseconds. Returns
 * whole milliseconds; throws {@linkcode UsageError} naming `flag` and the text for anything else,
 * including a duration that is not a whole number of milliseconds (a bare `0.4`).
 *
 * @example
 * ```ts
 * import { parseDuration } from "@sockalive/sockalive/cli";
 * import assert from "node:assert/strict";
 * assert.equal(parseDuration("1.5s"), 1500);
 * assert.equal(parseDuration("250"), 250);
 * assert.equal(parseDuration("2m"), 120_000);
 * ```
 */
export function parseDuration(text: string, flag = "duration"): number {
  const m = DURATION.exec(text);
  const whole = m?.[1] ?? "", fraction = m?.[2] ?? "";
  if (!m || whole + fraction === "") {
    throw new UsageError(
      `${flag}: ${JSON.stringify(text)} is not a duration; give a number with ms, s or m ` +
        `(1500ms, 1.5s, 2m), or a bare number of milliseconds`,
    );
  }
  // In exact decimal arithmetic, so 1.1s is 1100 ms rather than 1100.0000000000002. A part of a
  // millisecond is refused rather than rounded: rounding would turn a bare 0.4 into 0, which as a
  // user timeout means "the system default", and as anything else is refused as "got 0".
  const scale = 10n ** BigInt(fraction.length);
  const ms = BigInt(whole + fraction) * UNITS[(m[3] ?? "ms") as keyof typeof UNITS];
  if (ms % scale !== 0n) {
    throw new UsageError(
      `${flag}: ${JSON.stringify(text)} is not a whole number of ms` +
        (m[3] === undefined
          ? ` (a bare number is milliseconds; for ${text} seconds, write ${text}s)`
          : ""),
    );
  }
  // Past 2^53 the value is approximate, but far past every limit, which the library then names.
  return Number(ms / scale);
}

/** A {@linkcode UsageError} for a target, with the fix to suggest. */
function badTarget(text: string, problem: string): UsageError {
  return new UsageError(`${JSON.stringify(text)}${problem}`);
}

const NOT_A_TARGET = " is not HOST:PORT (e.g. 127.0.0.1:7000, [::1]:7000)";
/** The port suggested where the text has none. */
const EXAMPLE_PORT = 7000;

/**
 * Parses `HOST:PORT`; an IPv6 address goes in brackets (`[::1]:7000`). Throws
 * {@linkcode UsageError} naming the text, with the corrected target where one can be guessed.
 *
 * @example
 * ```ts
 * import { parseTarget } from "@sockalive/sockalive/cli";
 * import assert from "node:assert/strict";
 * assert.deepEqual(parseTarget("[::1]:7000"), { hostname: "::1", port: 7000 });
 * assert.deepEqual(parseTarget("example.com:80"), { hostname: "example.com", port: 80 });
 * ```
 */
export function parseTarget(text: string): { hostname: string; port: number } {
  if (text === "") throw badTarget(text, NOT_A_TARGET);
  if (/\s/.test(text)) throw badTarget(text, ": HOST:PORT has no spaces");
  let hostname: string, portText: string;
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    hostname = text.slice(1, close);
    const after = text.slice(close + 1);
    if (close === -1 || /[[\]]/.test(hostname + after)) throw badTarget(text, NOT_A_TARGET);
    const withPort = /^:\d+$/.test(after) ? after : `:${EXAMPLE_PORT}`;
    if (hostname === "") {
      throw badTarget(
        text,
        `: the brackets are empty; put an IPv6 address in them, e.g. [::1]${withPort}`,
      );
    }
    if (!hostname.includes(":")) {
      throw badTarget(text, `: brackets are for IPv6 addresses; write ${hostname}${withPort}`);
    }
    if (after !== "" && !after.startsWith(":")) {
      if (!/^\d+$/.test(after)) throw badTarget(text, NOT_A_TARGET);
      throw badTarget(text, `: put a colon between "]" and the port, e.g. [${hostname}]:${after}`);
    }
    portText = after.slice(1);
  } else {
    if (/[[\]]/.test(text)) throw badTarget(text, NOT_A_TARGET);
    const colon = text.lastIndexOf(":");
    hostname = colon === -1 ? text : text.slice(0, colon);
    portText = colon === -1 ? "" : text.slice(colon + 1);
    if (hostname.includes(":")) {
      // Unbracketed IPv6: the part after the last colon is the port if what is before it is an
      // address; else the whole text may be an address that lacks its port.
      if (isIPv6(hostname) && /^\d*$/.test(portText)) {
        throw badTarget(
          text,
          `: put an IPv6 address in brackets, e.g. [${hostname}]:${portText || EXAMPLE_PORT}`,
        );
      }
      if (isIPv6(text)) {
        throw badTarget(
          text,
          `: put an IPv6 address in brackets and add the port, e.g. [${text}]:${EXAMPLE_PORT}`,
        );
      }
      throw badTarget(text, NOT_A_TARGET);
    }
    if (hostname === "") {
      throw badTarget(text, ` has no host; e.g. 127.0.0.1:${portText || EXAMPLE_PORT}`);
    }
  }
  if (portText === "") {
    const host = hostname.includes(":") ? `[${hostname}]` : hostname;
    throw badTarget(text, ` has no port; e.g. ${host}:${EXAMPLE_PORT}`);
  }
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535) {
    throw badTarget(
      text,
      `: the port must be a whole number from 1 to 65535, got ${JSON.stringify(portText)}`,
    );
  }
  return { hostname, port };
}

/** Each flag that takes a value, and the `connect` option it sets (as the library names it). */
const VALUE_FLAGS: Readonly<Record<string, string>> = {
  "--idle": "idle",
  "--interval": "interval",
  "--count": "count",
  "--user-timeout": "userTimeout",
  "--connect-timeout": "connectTimeout",
  "--idle-timeout": "idleTimeout",
  "--every": "every",
};

/** How often the connection's health is read and printed unless `--every` says otherwise. */
const DEFAULT_EVERY_MS = 1000;

/**
 * Parses the arguments after the program name. Returns `"help"` for `--help`; throws
 * {@linkcode UsageError} for anything it cannot run.
 *
 * @example
 * ```ts
 * import { parseArgs } from "@sockalive/sockalive/cli";
 * import assert from "node:assert/strict";
 * assert.deepEqual(parseArgs(["watch", "[::1]:7000", "--idle", "1s", "--count=3", "--json"]), {
 *   command: "watch",
 *   hostname: "::1",
 *   port: 7000,
 *   keepAlive: { idle: 1000, count: 3 },
 *   every: 1000,
 *   json: true,
 * });
 * assert.equal(parseArgs(["--help"]), "help");
 * ```
 */
export function parseArgs(args: readonly string[]): WatchCommand | "help" {
  return parse(args).command;
}

/**
 * {@linkcode parseArgs}, plus what was typed for each option, by the library's name for it
 * (`idle: '--idle: "40000s"'`): the library checks the ranges, and its message names the option
 * and the milliseconds, not the text that gave them.
 */
function parse(
  args: readonly string[],
): { command: WatchCommand | "help"; typed: Map<string, string> } {
  const typed = new Map<string, string>();
  if (args.includes("--help") || args.includes("-h") || args[0] === "help") {
    return { command: "help", typed };
  }
  const positional: string[] = [];
  const keepAlive: WatchCommand["keepAlive"] = {};
  let connectTimeout: number | undefined;
  let idleTimeout: number | undefined;
  let every = DEFAULT_EVERY_MS;
  let json = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith("-") || arg === "-") {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const flag = eq === -1 ? arg : arg.slice(0, eq);
    if (flag === "--json") {
      if (eq !== -1) throw new UsageError(`--json takes no value, got ${JSON.stringify(arg)}`);
      json = true;
      continue;
    }
    const key = Object.hasOwn(VALUE_FLAGS, flag) ? VALUE_FLAGS[flag] : undefined;
    if (key === undefined) throw new UsageError(`unknown flag ${JSON.stringify(flag)}`);
    let value: string;
    if (eq !== -1) {
      value = arg.slice(eq + 1);
    } else {
      const next = args[i + 1];
      if (next === undefined || next.startsWith("--")) {
        throw new UsageError(
          `${flag} needs a value${flag === "--count" ? " (a number of probes)" : " (a duration)"}`,
        );
      }
      value = next;
      i++;
    }
    typed.set(key, `${flag}: ${JSON.stringify(value)}`);
    switch (flag) {
      case "--idle":
        keepAlive.idle = parseDuration(value, flag);
        break;
      case "--interval":
        keepAlive.interval = parseDuration(value, flag);
        break;
      case "--user-timeout":
        keepAlive.userTimeout = parseDuration(value, flag);
        break;
      case "--connect-timeout":
        connectTimeout = parseDuration(value, flag);
        if (connectTimeout === 0) {
          throw new UsageError(`--connect-timeout: ${JSON.stringify(value)} must be more than 0`);
        }
        break;
      case "--idle-timeout":
        idleTimeout = parseDuration(value, flag);
        if (idleTimeout === 0) {
          throw new UsageError(`--idle-timeout: ${JSON.stringify(value)} must be more than 0`);
        }
        break;
      case "--every":
        every = parseDuration(value, flag);
        break;
      case "--count":
        if (!/^\d+$/.test(value)) {
          throw new UsageError(
            `--count: ${JSON.stringify(value)} is not a whole number of probes`,
          );
        }
        keepAlive.count = Number(value);
        break;
    }
  }
  const [command, target, ...rest] = positional;
  if (command === undefined) throw new UsageError("missing command: sockalive watch HOST:PORT");
  if (command !== "watch") {
    throw new UsageError(`unknown command ${JSON.stringify(command)}; the command is "watch"`);
  }
  if (target === undefined) throw new UsageError("watch needs HOST:PORT, e.g. 127.0.0.1:7000");
  if (rest.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(rest[0])}`);
  return {
    command: {
      command: "watch",
      ...parseTarget(target),
      keepAlive,
      ...(connectTimeout === undefined ? {} : { connectTimeout }),
      ...(idleTimeout === undefined ? {} : { idleTimeout }),
      every,
      json,
    },
    typed,
  };
}

/**
 * The text `--help` prints.
 *
 * @example
 * ```ts
 * import { helpText } from "@sockalive/sockalive/cli";
 * console.log(helpText());
 * ```
 */
export function helpText(): string {
  const d = DEFAULT_KEEPALIVE;
  return `Usage: sockalive watch HOST:PORT [flags]

Opens a TCP connection to HOST:PORT with TCP keepalive set as asked and watches it: prints each
state change (connecting, open, closed-gracefully, broken) with an ISO timestamp, the keepalive
values the kernel actually took, how soon a silent peer would be noticed, and, while open, the
kernel's own record of the connection every --every: round-trip time, segments unacknowledged,
retransmissions, keepalive probes unanswered, and how long the peer has been silent. A line of its
own marks the moment probes start going unanswered (or data starts being retransmitted), and the
break says how long the peer had been silent. On a terminal the heartbeat is redrawn in place;
piped, it is one line per heartbeat. Exits when the connection ends.

HOST:PORT  127.0.0.1:7000, example.com:7000, or an IPv6 address in brackets: [::1]:7000

Durations take a unit: ms, s or m (1500ms, 1.5s, 2m); a bare number is milliseconds.
A duration is whole milliseconds: 0.4s is 400 ms, and a bare 0.4 is refused.

Flags:
  --idle DURATION             silence before the first keepalive probe
                              (default ${d.idle / 1000}s; Linux rounds up to whole seconds)
  --interval DURATION         time between unanswered probes
                              (default ${d.interval / 1000}s; Linux rounds up to whole seconds)
  --count N                   unanswered probes before the connection is dropped
                              (default ${d.count})
  --user-timeout DURATION     how long sent data may go unacknowledged before the connection is
                              dropped; 0 leaves it to the system
                              (default: idle + interval x count)
  --connect-timeout DURATION  give up connecting after this long (default: the system's own)
  --idle-timeout DURATION     break the connection (IDLE_TIMEOUT) once nothing has arrived for
                              this long: a peer that answers probes but is hung (default: none)
  --every DURATION            how often to read and print the health (default 1s; 0: never)
  --json                      print one JSON object per line instead of text (heartbeats are
                              {"event":"health", "tcpState", ...every field the OS reports})
  -h, --help                  print this help

Flags also take --flag=value. A silent peer is noticed after idle + interval x count; with a
user timeout, at the first probe at or past it.

Exit status:
  0    the connection closed gracefully
  1    it broke: refused, reset, timed out, unreachable, or keepalive could not be set
  2    usage error
  130  interrupted (Ctrl-C); the connection is closed first

Run it:
  Bun (bun add @sockalive/sockalive):  bunx sockalive watch HOST:PORT ...
  Deno:  deno run --allow-net --allow-ffi jsr:@sockalive/sockalive/cli watch HOST:PORT ...
         (narrower: --allow-ffi=PATH, the C library's full path, which the error names)
`;
}

/** Where {@linkcode main} writes: `process.stdout` and `process.stderr` fit. */
export interface Output {
  /** Writes text as is. */
  write(text: string): unknown;
  /** Whether it is a terminal: the "waiting" line is then redrawn in place every second. */
  isTTY?: boolean;
}

/** Prints lines; on a TTY the "waiting" line is redrawn every second with the time waited. */
class Printer {
  readonly #out: Output;
  readonly #json: boolean;
  #live: { since: number; text: (elapsed: number) => string } | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(out: Output, json: boolean) {
    this.#out = out;
    this.#json = json;
  }

  /** Prints one record: a text line, or a JSON object. */
  line(at: number, text: string, record: Record<string, unknown>): void {
    this.#clearLive();
    const time = new Date(at).toISOString();
    this.#out.write(
      this.#json ? JSON.stringify({ time, ...record }) + "\n" : `${time} ${text}\n`,
    );
  }

  /** Prints what is being waited for; on a TTY in text mode it then counts the seconds. */
  waiting(at: number, text: (elapsed: number) => string, record: Record<string, unknown>): void {
    if (this.#json || !this.#out.isTTY) {
      this.line(at, `waiting: ${text(0)}`, { event: "waiting", ...record });
      return;
    }
    this.#clearLive();
    this.#live = { since: at, text };
    this.#drawLive();
    this.#timer = setInterval(() => this.#drawLive(), 1000);
  }

  /** Whether the waiting line is redrawn in place (text on a terminal). */
  get live(): boolean {
    return !this.#json && this.#out.isTTY === true;
  }

  /** Redraws the waiting line now, if there is one. */
  redraw(): void {
    if (this.#live) this.#drawLive();
  }

  /** Ends the waiting line (keeping it on screen). */
  stop(): void {
    if (this.#live) this.#out.write("\n");
    clearInterval(this.#timer);
    this.#live = undefined;
  }

  #drawLive(): void {
    const live = this.#live!;
    const elapsed = Date.now() - live.since;
    this.#out.write(
      `\r\x1b[2K${new Date(live.since).toISOString()} waiting: ${live.text(elapsed)}`,
    );
  }

  #clearLive(): void {
    if (!this.#live) return;
    clearInterval(this.#timer);
    this.#live = undefined;
    this.#out.write("\r\x1b[2K");
  }
}

function address(a: SocketAddress | undefined): string {
  if (!a) return "?";
  return a.hostname.includes(":") ? `[${a.hostname}]:${a.port}` : `${a.hostname}:${a.port}`;
}

function budget(k: KeepAliveInfo | undefined): number | undefined {
  if (!k?.enabled) return undefined;
  return detectionTime(k);
}

function describeKeepAlive(k: KeepAliveInfo | undefined): string {
  if (!k) return "keepalive: unknown";
  if (!k.enabled) return "keepalive (kernel values): off; a silent peer may go unnoticed";
  return `keepalive (kernel values): idle ${k.idle} ms, interval ${k.interval} ms, count ${k.count}, ` +
    `user timeout ${k.userTimeout === 0 ? "system default" : `${k.userTimeout} ms`}; ` +
    `detection budget ${budget(k)} ms`;
}

function describeEnd(info: CloseInfo): string {
  const open = info.openForMs === undefined ? "" : `, after ${info.openForMs / 1000} s open`;
  if (info.state === "closed-gracefully") return `by ${info.by ?? "?"}${open}`;
  const message = info.error?.message ? ` (${info.error.message})` : "";
  const silent = silentMs(info);
  const quiet = silent === undefined ? "" : `; the peer had been silent ${formatSeconds(silent)}`;
  return `${info.code ?? "?"}${message}${open}${quiet}`;
}

/** How long the peer had been silent when the connection ended, if it ever opened. */
function silentMs(info: CloseInfo): number | undefined {
  return info.lastReceivedAt === undefined ? undefined : info.at - info.lastReceivedAt;
}

/** The line of a {@linkcode HealthMark}. */
function describeMark(mark: HealthMark, health: TcpHealth, k: KeepAliveInfo | undefined): string {
  const silent = health.lastReceived === undefined
    ? ""
    : `, the peer silent ${formatSeconds(health.lastReceived)}`;
  switch (mark.kind) {
    case "probes": {
      const count = k?.enabled ? k.count : undefined;
      const left = count === undefined || k?.interval === undefined
        ? ""
        : `; unless it answers, dropped within ${
          formatSeconds(Math.max(0, count - mark.probes + 1) * k.interval)
        }`;
      return `probes unanswered: ${mark.probes}${
        count === undefined ? "" : ` of ${count}`
      }${silent}${left}`;
    }
    case "retransmits":
      return `retransmitting: sent data unacknowledged (unacked ${mark.unacked ?? "?"}, ` +
        `retransmits ${mark.retransmits})${silent}`;
    case "answered":
      return `answered: the peer acknowledges again${silent}`;
  }
}

/**
 * Runs the CLI with `args` (the arguments after the program name); resolves with the exit status.
 * Usage errors go to `stderr`; everything else to `stdout`.
 *
 * @example
 * ```ts ignore
 * import { main } from "@sockalive/sockalive/cli";
 * const status = await main(["watch", "127.0.0.1:7000", "--idle", "1s", "--count", "3"]);
 * console.log("exit status", status);
 * ```
 */
export async function main(
  args: readonly string[],
  io: { stdout: Output; stderr: Output; signal?: AbortSignal } = {
    stdout: process.stdout,
    stderr: process.stderr,
  },
): Promise<number> {
  const usage = (message: string) => {
    io.stderr.write(`sockalive: ${message}\nRun "sockalive --help" for the flags.\n`);
    return EXIT_USAGE;
  };
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    return usage(error.message);
  }
  const { command, typed } = parsed;
  if (command === "help") {
    io.stdout.write(helpText());
    return 0;
  }
  const { hostname, port, keepAlive, connectTimeout, idleTimeout, every, json } = command;
  const target = hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
  let conn: LiveConnection;
  try {
    conn = connect({
      hostname,
      port,
      keepAlive,
      ...(connectTimeout === undefined ? {} : { connectTimeout }),
      ...(idleTimeout === undefined ? {} : { idleTimeout }),
    });
  } catch (error) {
    if (error instanceof TypeError || error instanceof RangeError) {
      // The library checks ranges, and its message names the option, the limit and the value in
      // ms; what the user typed for that option goes first, as typed.
      const option = /^Cannot [a-z ]+: "(\w+)"/.exec(error.message)?.[1];
      const given = option === undefined ? undefined : typed.get(option);
      return usage(`${given === undefined ? "" : `${given} is out of range: `}${error.message}`);
    }
    // E.g. ERR_UNSUPPORTED_PLATFORM: nothing to watch here, and no fault of the command line.
    const code = (error as { code?: unknown }).code;
    io.stderr.write(`sockalive: ${code ? `${code}: ` : ""}${(error as Error).message}\n`);
    return EXIT_BROKEN;
  }
  const out = new Printer(io.stdout, json);
  let interrupted = false;
  const onAbort = () => {
    interrupted = true;
    void conn.close();
  };
  io.signal?.addEventListener("abort", onAbort, { once: true });

  out.waiting(
    Date.now(),
    (t) => `connecting to ${target}${t >= 1000 ? ` (${formatSeconds(t)})` : ""}`,
    {
      state: "connecting",
      target,
    },
  );
  let heartbeat: ReturnType<typeof setInterval> | undefined;
  /** The last heartbeat's text, shown in the waiting line on a terminal. */
  let latest = "";
  conn.addEventListener("statechange", (e: StateChangeEvent) => {
    if (e.to === "open") {
      const k = conn.keepAlive;
      const within = budget(k);
      out.line(
        e.at,
        `${e.from} -> ${e.to}: ${address(conn.localAddr)} -> ${address(conn.remoteAddr)}`,
        {
          event: "statechange",
          from: e.from,
          to: e.to,
          local: address(conn.localAddr),
          remote: address(conn.remoteAddr),
          keepAlive: k,
          detectionTime: within ?? null,
        },
      );
      if (!json) out.line(e.at, describeKeepAlive(k), {});
      const notice = within === undefined
        ? "keepalive is off, so a silent peer may go unnoticed"
        : `a silent peer is noticed within ${formatSeconds(within)}`;
      out.waiting(
        e.at,
        (t) =>
          `open${t >= 1000 ? ` for ${Math.floor(t / 1000)} s` : ""}; ${
            latest === "" ? "" : `${latest}; `
          }${notice}`,
        {
          state: "open",
          detectionTime: within ?? null,
        },
      );
      if (every > 0) heartbeat = startHeartbeat(conn, out, every, (text) => (latest = text));
      return;
    }
    clearInterval(heartbeat);
    const info = e.info!;
    out.line(e.at, `${e.from} -> ${e.to}: ${describeEnd(info)}`, {
      event: "statechange",
      from: e.from,
      to: e.to,
      ...(info.by ? { by: info.by } : {}),
      ...(info.code ? { code: info.code } : {}),
      ...(info.error?.message ? { message: info.error.message } : {}),
      ...(info.openForMs === undefined ? {} : { openForMs: info.openForMs }),
      ...(silentMs(info) === undefined ? {} : { silentMs: silentMs(info) }),
    });
  });
  const info = await conn.closed;
  io.signal?.removeEventListener("abort", onAbort);
  const status = interrupted ? 130 : info.state === "broken" ? EXIT_BROKEN : EXIT_GRACEFUL;
  const why = interrupted
    ? "interrupted"
    : info.state === "broken"
    ? `the connection broke (${info.code})`
    : `the connection closed gracefully (by ${info.by})`;
  out.line(Date.now(), `exit ${status}: ${why}`, { event: "exit", status, reason: why });
  out.stop();
  return status;
}

/**
 * Reads the connection's health every `every` ms: prints each {@linkcode HealthMark} as a line of
 * its own, and the heartbeat itself as a line (piped, JSON) or into the waiting line (terminal).
 */
function startHeartbeat(
  conn: LiveConnection,
  out: Printer,
  every: number,
  show: (text: string) => void,
): ReturnType<typeof setInterval> {
  const trend = new HealthTrend();
  const count = conn.keepAlive?.enabled ? conn.keepAlive.count : undefined;
  let failed = false;
  return setInterval(() => {
    let health: TcpHealth | undefined;
    try {
      health = conn.health();
    } catch (error) {
      // Reported once: an OS (or Wine) that cannot read it will not start to.
      if (!failed) {
        const code = (error as { code?: string }).code;
        out.line(Date.now(), `health: cannot be read (${code}): ${(error as Error).message}`, {
          event: "health-unavailable",
          code,
        });
      }
      failed = true;
      return;
    }
    if (!health) return; // ended meanwhile: its statechange line comes next
    const at = Date.now();
    for (const mark of trend.feed(health)) {
      out.line(at, describeMark(mark, health, conn.keepAlive), {
        event: mark.kind,
        ...mark,
        health,
      });
    }
    const text = describeHealth(health, count);
    if (out.live) {
      show(text);
      out.redraw();
    } else {
      // The connection's state is "state" in every record; the TCP state is "tcpState" here.
      const { state: tcpState, ...fields } = health;
      out.line(at, `open: ${text}`, { event: "health", state: "open", tcpState, ...fields, count });
    }
  }, every);
}

if (import.meta.main) {
  // Ctrl-C and SIGTERM close the connection (the peer sees FIN) before exiting.
  const interrupt = new AbortController();
  const onSignal = () => interrupt.abort();
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const status = await main(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    signal: interrupt.signal,
  });
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  // Exit only once everything written has been flushed to a pipe.
  process.stdout.write("", () => process.exit(status));
}
