/**
 * One test API for `deno test` and `bun test`, and the helpers the scenarios share: spawning
 * processes with line-based I/O, the python peer, and the runtime running the tests.
 */

import { type ChildProcess, spawn } from "node:child_process";
import net from "node:net";
import { createInterface } from "node:readline";
import { readdirSync } from "node:fs";
import process from "node:process";
import { netnsUnavailable } from "../tools/netns.ts";
import { denoCalls } from "../src/adapters/deno.ts";
import { bunCalls } from "../src/adapters/bun.ts";
import type { SocketCalls } from "../ffi/types.ts";

/** Whether the tests run under Bun. */
export const isBun = typeof (globalThis as { Bun?: unknown }).Bun !== "undefined";

/** Per-test options. */
export interface TestOptions {
  /** Timeout in ms (Bun enforces it; Deno relies on the scenario's own bounds). */
  timeout?: number;
  /** Skip, with the reason printed. */
  skip?: string;
  /** Deno's op/resource sanitizers; off only where child processes are spawned. */
  sanitize?: boolean;
}

type BunTest = {
  (name: string, fn: () => Promise<void> | void, timeout?: number): void;
  skip(name: string, fn: () => void): void;
};

/** Registers a test in whichever runtime is running. */
export function test(
  name: string,
  fn: () => Promise<void> | void,
  options: TestOptions = {},
): void {
  if (options.skip) console.warn(`SKIP ${name}: ${options.skip}`);
  if (isBun) {
    const bunTest = (import.meta as unknown as { require(id: string): { test: BunTest } })
      .require("bun:test").test;
    if (options.skip) bunTest.skip(name, () => {});
    else bunTest(name, fn, options.timeout ?? 5_000);
    return;
  }
  Deno.test({
    name,
    fn,
    ignore: options.skip !== undefined,
    sanitizeOps: options.sanitize ?? true,
    sanitizeResources: options.sanitize ?? true,
  });
}

/** The command that runs a TypeScript file with the runtime running the tests. */
export function runtimeCommand(script: string, args: string[] = []): string[] {
  if (isBun) return [process.execPath, script, ...args];
  return [Deno.execPath(), "run", "-A", script, ...args];
}

/** A spawned process whose stdout is read line by line. */
export class Proc {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  #waiters: Array<{ match: (line: string) => boolean; resolve: (line: string) => void }> = [];
  #exited: Promise<number | null>;
  stderr = "";

  constructor(argv: string[]) {
    this.child = spawn(argv[0], argv.slice(1), { stdio: ["pipe", "pipe", "pipe"] });
    createInterface({ input: this.child.stdout! }).on("line", (line) => {
      this.lines.push(line);
      for (const w of [...this.#waiters]) {
        if (w.match(line)) {
          this.#waiters.splice(this.#waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    });
    this.child.stderr!.on("data", (d) => (this.stderr += d.toString()));
    this.#exited = new Promise((resolve) => this.child.on("exit", (code) => resolve(code)));
  }

  /** Waits for a line matching `pattern` (already seen or future), at most `ms`. */
  waitFor(pattern: RegExp | ((line: string) => boolean), ms = 10_000): Promise<string> {
    const match = typeof pattern === "function" ? pattern : (l: string) => pattern.test(l);
    const seen = this.lines.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new Error(
            `timed out after ${ms} ms waiting for ${pattern}; stdout:\n${
              this.lines.join("\n")
            }\nstderr:\n${this.stderr}`,
          ),
        );
      }, ms);
      this.#waiters.push({
        match,
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
      });
    });
  }

  /** Sends a line to stdin. */
  send(line: string): void {
    this.child.stdin!.write(line + "\n");
  }

  /** Resolves with the exit code. */
  exited(): Promise<number | null> {
    return this.#exited;
  }

  /** Kills the process (if still running) and waits for it. */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill("SIGKILL");
    }
    await this.#exited;
    this.child.stdin?.destroy();
  }
}

const here = new URL(".", import.meta.url).pathname;
/** Path of a fixture file. */
export const fixture = (name: string): string => `${here}fixtures/${name}`;

/** Starts the python peer on `host` (port 0 = any); resolves once it listens. */
export async function startPeer(
  host = "127.0.0.1",
  port = 0,
  prefix: string[] = [],
): Promise<{ peer: Proc; port: number }> {
  const peer = new Proc([...prefix, "python3", fixture("peer.py"), host, String(port)]);
  const line = await peer.waitFor(/^LISTENING /);
  return { peer, port: Number(line.split(" ")[1]) };
}

/** Runs `fn` with a fresh python peer listening on `host`, and always stops the peer. */
export async function withPeer(
  fn: (peer: Proc, port: number) => Promise<void>,
  host = "127.0.0.1",
): Promise<void> {
  const { peer, port } = await startPeer(host);
  try {
    await fn(peer, port);
  } finally {
    await peer.kill();
  }
}

/**
 * Runs `fn` with an in-process node:net server on loopback (works in Deno and Bun); the server
 * keeps every accepted socket open, `resetAll` sends RST on each, `endAll` sends FIN on each, and
 * everything is closed after.
 */
export async function withServer<T>(
  fn: (port: number, server: { resetAll(): void; endAll(): void }) => Promise<T>,
): Promise<T> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on("error", () => {});
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    return await fn((server.address() as net.AddressInfo).port, {
      resetAll: () => {
        for (const s of sockets) s.resetAndDestroy();
      },
      endAll: () => {
        for (const s of sockets) s.end();
      },
    });
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** Sends a command to the peer and waits for its acknowledgement. */
export async function command(peer: Proc, cmd: string): Promise<void> {
  const before = peer.lines.length;
  peer.send(cmd);
  await peer.waitFor((l) => l === `OK ${cmd}` && peer.lines.indexOf(l, before) >= before);
}

/** Resolves after `ms`. */
export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));

/** A socket opened with the runtime's own API (`Deno.connect` or `Bun.connect`). */
export interface NativeSocket {
  socket: unknown;
  localPort: number;
  close(): void;
}

/** Opens a plain TCP connection with the running runtime's own API. */
export async function nativeConnect(port: number, hostname = "127.0.0.1"): Promise<NativeSocket> {
  if (isBun) {
    type S = { localPort: number; end(): void };
    const bun = (globalThis as unknown as {
      Bun: { connect(o: unknown): Promise<S> };
    }).Bun;
    const socket = await bun.connect({ hostname, port, socket: { data() {} } });
    return { socket, localPort: socket.localPort, close: () => socket.end() };
  }
  const conn = await Deno.connect({ hostname, port });
  return {
    socket: conn,
    localPort: (conn.localAddr as Deno.NetAddr).port,
    close: () => {
      try {
        conn.close();
      } catch { /* already closed */ }
    },
  };
}

/** `ss -tnoi` for established sockets with local port `port`: the kernel's own view. */
export async function ssLine(port: number): Promise<string> {
  const p = new Proc(["ss", "-tnoiH", "state", "established", `( sport = :${port} )`]);
  await p.exited();
  return p.lines.join(" ");
}

/**
 * The time left on the keepalive timer in a line of `ss -tnoi`, in seconds, or `undefined` if
 * the line shows none. Formats differ between iproute2 versions: "1min14sec", "6.992sec", and,
 * with iproute2 6.1 on recent kernels, seconds printed with an "ms" suffix ("6.992ms"); for "ms"
 * both readings are returned and the caller checks either fits.
 */
export function keepaliveSeconds(line: string): number[] | undefined {
  const m = /timer:\(keepalive,(?:(\d+)min)?(?:([\d.]+)(ms|sec))?,/.exec(line);
  if (!m) return undefined;
  const minutes = Number(m[1] ?? 0) * 60;
  const value = Number(m[2] ?? 0);
  return m[3] === "ms" ? [minutes + value / 1000, minutes + value] : [minutes + value];
}

/** The chunks, in order, as one array. */
export function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  return out;
}

/** Reads a whole stream. */
export async function readAll(readable: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of readable) chunks.push(chunk);
  return concat(chunks);
}

/** Checks bytes against the peer's pattern (i % 251). */
export function isPattern(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.byteLength; i++) if (bytes[i] !== i % 251) return false;
  return true;
}

/**
 * Test options for a network-namespace test: skipped with the reason when namespaces are not
 * available (not root, no iproute2), except under CI=true, where the test runs and fails instead.
 */
export function netnsTestOptions(
  timeout: number,
): { skip?: string; sanitize: false; timeout: number } {
  const reason = netnsUnavailable();
  if (reason && process.env.CI !== "true") {
    return {
      skip: `${reason} (run as root, or set CI=true to make this a failure)`,
      sanitize: false,
      timeout,
    };
  }
  return { sanitize: false, timeout };
}

/** Open descriptors of this process, counted in /proc/self/fd (Linux). */
export function openDescriptors(): number {
  return readdirSync("/proc/self/fd").length;
}

/**
 * Opens sockalive's C library now, outside any test. The library stays open for the life of the
 * process (by design), which Deno's resource sanitizer would otherwise report as a leak of
 * whichever test happened to use it first. No-op in Bun.
 */
export function preloadFfi(): void {
  if (!isBun) denoCalls();
}

/** The system calls of the runtime running the tests, through its own FFI. */
export function realCalls(): SocketCalls {
  return isBun ? bunCalls() : denoCalls();
}

/** `real` with every call counted by name (into `counts`). */
export function countedCalls(
  real: SocketCalls = realCalls(),
): { calls: SocketCalls; counts: Record<string, number> } {
  const counts: Record<string, number> = {};
  const calls = new Proxy(real, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver);
      if (typeof value !== "function" || typeof name !== "string") return value;
      return (...args: unknown[]) => {
        counts[name] = (counts[name] ?? 0) + 1;
        return value.apply(target, args);
      };
    },
  });
  return { calls, counts };
}

/**
 * The descriptor of this process whose local port (and, if given, peer port) are these, read
 * with getsockname/getpeername: a witness from outside the library.
 */
export function descriptorOf(localPort: number, remotePort?: number): number | undefined {
  const calls = realCalls();
  const buf = new Uint8Array(128);
  const port = () => (buf[2]! << 8) | buf[3]!;
  return calls.listDescriptors().find((fd) =>
    calls.getsockname(fd, buf.fill(0)) > 0 && port() === localPort &&
    (remotePort === undefined || (calls.getpeername(fd, buf.fill(0)) > 0 && port() === remotePort))
  );
}
