/**
 * The orchestrator's side of child processes: the command line that runs a benchmark script in
 * Deno or Bun, a child whose JSON lines are collected, and bookkeeping so every child and every
 * namespace is gone when the run ends, also on failure or Ctrl-C.
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import process from "node:process";
import { createInterface } from "node:readline";
import type { TestNet } from "../tools/netns.ts";

/** A runtime the children can run in. */
export type RuntimeId = "deno" | "bun";

const ROOT = new URL("../", import.meta.url).pathname;

/** Absolute path of a file under bench/. */
export function benchFile(name: string): string {
  return new URL(`./${name}`, import.meta.url).pathname;
}

function bunPath(): string {
  const local = `${ROOT}node_modules/.bin/bun`;
  return existsSync(local) ? local : "bun";
}

/** The argv that runs `script` (under bench/) in `runtime`, GC exposed. */
export function runtimeArgv(runtime: RuntimeId, script: string, argv: string[] = []): string[] {
  const path = benchFile(script);
  return runtime === "bun"
    ? [bunPath(), path, ...argv]
    : [Deno.execPath(), "run", "-A", "--v8-flags=--expose-gc", path, ...argv];
}

/** The version string of a runtime, e.g. "2.9.6". */
export async function runtimeVersion(runtime: RuntimeId): Promise<string> {
  const argv = runtime === "bun" ? [bunPath(), "--version"] : [Deno.execPath(), "--version"];
  const out = await new Deno.Command(argv[0], { args: argv.slice(1) }).output();
  return new TextDecoder().decode(out.stdout).split("\n")[0].replace(/^deno /, "").trim();
}

const live = new Set<Child>();
const nets = new Set<TestNet>();

/** A child process; stdout is parsed as JSON lines (other lines are kept as text). */
export class Child {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly messages: Array<Record<string, unknown>> = [];
  stderr = "";
  readonly exited: Promise<number | null>;
  #waiters: Array<{ test: (m: Record<string, unknown>) => boolean; resolve: () => void }> = [];
  #onMessage: ((m: Record<string, unknown>) => void) | undefined;

  constructor(name: string, argv: string[], onMessage?: (m: Record<string, unknown>) => void) {
    this.name = name;
    this.#onMessage = onMessage;
    this.proc = spawn(argv[0], argv.slice(1), { stdio: ["pipe", "pipe", "pipe"] });
    live.add(this);
    createInterface({ input: this.proc.stdout! }).on("line", (line) => {
      let message: Record<string, unknown>;
      try {
        message = JSON.parse(line);
      } catch {
        message = { type: "text", text: line };
      }
      this.messages.push(message);
      this.#onMessage?.(message);
      for (const w of [...this.#waiters]) {
        if (w.test(message)) {
          this.#waiters.splice(this.#waiters.indexOf(w), 1);
          w.resolve();
        }
      }
    });
    this.proc.stderr!.on("data", (d: Uint8Array) => {
      this.stderr += new TextDecoder().decode(d);
      if (this.stderr.length > 20_000) this.stderr = this.stderr.slice(-10_000);
    });
    this.exited = new Promise((resolve) =>
      this.proc.on("exit", (code) => {
        live.delete(this);
        resolve(code);
      })
    );
  }

  /** The first message of `type` (already received or future); rejects on exit or timeout. */
  async waitFor(type: string, timeoutMs: number): Promise<Record<string, unknown>> {
    const found = () => this.messages.find((m) => m.type === type);
    const already = found();
    if (already) return already;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        new Promise<void>((resolve) =>
          this.#waiters.push({ test: (m) => m.type === type, resolve })
        ),
        this.exited.then((code) => {
          if (!found()) {
            throw new Error(
              `${this.name} exited (${code}) before "${type}"; stderr: ${this.stderr.slice(-2000)}`,
            );
          }
        }),
        new Promise<void>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new Error(
                  `${this.name}: no "${type}" within ${timeoutMs} ms; stderr: ${
                    this.stderr.slice(-2000)
                  }`,
                ),
              ),
            timeoutMs,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
    return found()!;
  }

  /** Writes a line to the child's stdin. */
  send(line: string): void {
    this.proc.stdin?.write(`${line}\n`);
  }

  /** Kills the child (SIGKILL) and waits for it. */
  async kill(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill("SIGKILL");
    }
    await this.exited;
  }
}

/** Registers a namespace pair so it is destroyed even if the run is interrupted. */
export function track(net: TestNet): TestNet {
  nets.add(net);
  return net;
}

/** Destroys a tracked namespace pair. */
export function untrack(net: TestNet): void {
  net.destroy();
  nets.delete(net);
}

const restores = new Set<() => void>();

/**
 * Registers how to put back a machine setting a benchmark changed, so that it is put back even if
 * the run is interrupted; returns the function that puts it back now (and forgets it).
 */
export function trackSetting(restore: () => void): () => void {
  const once = () => {
    if (restores.delete(once)) restore();
  };
  restores.add(once);
  return once;
}

/**
 * Kills every child still running, deletes every namespace still tracked, and puts back every
 * machine setting still changed.
 */
export async function cleanupAll(): Promise<void> {
  await Promise.all([...live].map((c) => c.kill()));
  for (const net of nets) net.destroy();
  nets.clear();
  for (const restore of [...restores]) restore();
}

/** On Ctrl-C or SIGTERM: clean up, then exit. */
export function installSignalCleanup(): void {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => {
      console.error(`\n${signal}: cleaning up children and namespaces`);
      void cleanupAll().finally(() => process.exit(130));
    });
  }
}

/** Starts a peer (bench/peer.ts) and returns it with its port. */
export async function startPeer(
  runtime: RuntimeId,
  mode: "hold" | "source" | "sink" | "echo",
  host: string,
  port: number,
  prefix: string[] = [],
  bytes = 0,
): Promise<{ peer: Child; port: number }> {
  const peer = new Child(
    `peer(${mode})`,
    [...prefix, ...runtimeArgv(runtime, "peer.ts", [mode, host, String(port), String(bytes)])],
  );
  const listening = await peer.waitFor("listening", 15_000);
  return { peer, port: listening.port as number };
}

/** Prints a progress line (stderr, so tables on stdout stay clean). */
export function progress(text: string): void {
  console.error(`  .. ${text}`);
}

/** This process's hard limit on open descriptors (`ulimit -Hn`); children inherit it. */
export function descriptorLimit(): number {
  const line = readFileSync("/proc/self/limits", "utf8").split("\n")
    .find((l) => l.startsWith("Max open files"));
  const hard = Number(line?.trim().split(/\s+/)[4]);
  return Number.isFinite(hard) ? hard : 1024;
}

/** CPU time (user + system) a process has used so far, in ms, from /proc/<pid>/stat. */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticksPerSecond = 100;
  return ((Number(fields[11]) + Number(fields[12])) / ticksPerSecond) * 1000;
}

/** Starts `count` peers of `mode` (one port each, `port` 0 = any) and returns them. */
export async function startPeers(
  count: number,
  mode: "hold",
  host: string,
  port: number,
  prefix: string[],
): Promise<{ peers: Child[]; ports: number[] }> {
  const started = await Promise.all(
    Array.from({ length: count }, (_, i) => startPeer("bun", mode, host, port && port + i, prefix)),
  );
  return { peers: started.map((s) => s.peer), ports: started.map((s) => s.port) };
}

/** Busy and total CPU ticks of the whole machine so far, from /proc/stat. */
function machineTicks(): { busy: number; total: number } {
  const fields = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1)
    .map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  const idle = fields[3]! + fields[4]!; // idle + iowait
  return { busy: total - idle, total };
}

/**
 * Waits until the machine is quiet: less than `busyShare` of all its CPUs busy over a window of
 * `windowMs`, for at most `maxMs`. A section that tore down 100,000 sockets and their network
 * namespaces leaves the kernel's cleanup running for seconds after its processes are gone, and a
 * section measured meanwhile measures that too. Returns how long it waited, in ms.
 */
export async function settle(maxMs = 60_000, windowMs = 1000, busyShare = 0.1): Promise<number> {
  const start = performance.now();
  for (;;) {
    const before = machineTicks();
    await new Promise((resolve) => setTimeout(resolve, windowMs));
    const after = machineTicks();
    const share = (after.busy - before.busy) / Math.max(1, after.total - before.total);
    const waited = performance.now() - start;
    if (share < busyShare || waited >= maxMs) return waited;
  }
}
