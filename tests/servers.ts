/**
 * PostgreSQL, redis and mosquitto, each started from its Debian package's binary inside a test
 * namespace (on the server's address, default ports), with a throwaway directory under /tmp, as
 * the package's own system user; `stop()` ends them and removes the directory. No systemd.
 */
import { execFileSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { userInfo } from "node:os";
import { Proc } from "./harness.ts";
import { SERVER_IP, type TestNet } from "../tools/netns.ts";

/** The servers' ports on {@link SERVER_IP}. */
export const PORTS = { pg: 5432, redis: 6379, mqtt: 1883 } as const;

const POSTGRES_ROOT = "/usr/lib/postgresql";

/** The newest installed PostgreSQL's bin directory, or `undefined`. */
function postgresBin(): string | undefined {
  if (!existsSync(POSTGRES_ROOT)) return undefined;
  const versions = readdirSync(POSTGRES_ROOT).filter((v) => /^\d+$/.test(v))
    .sort((a, b) => Number(b) - Number(a));
  const found = versions.find((v) => existsSync(`${POSTGRES_ROOT}/${v}/bin/postgres`));
  return found && `${POSTGRES_ROOT}/${found}/bin`;
}

function onPath(command: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${command}`], { stdio: "pipe" });
    return true;
  } catch {
    return false;
  }
}

/** An account's uid and gid, or `undefined` if there is none. */
function account(name: string): { uid: number; gid: number } | undefined {
  try {
    const [uid, gid] = ["-u", "-g"].map((flag) =>
      Number(execFileSync("id", [flag, name], { stdio: "pipe" }).toString())
    );
    return { uid, gid };
  } catch {
    return undefined;
  }
}

/**
 * Why the servers cannot be started here, or `undefined` if they can (.ci/run installs the
 * packages `postgresql`, `redis-server` and `mosquitto`).
 */
export function serversUnavailable(): string | undefined {
  const missing: string[] = [];
  if (!postgresBin() || !account("postgres")) missing.push("postgresql");
  if (!onPath("redis-server") || !account("redis")) missing.push("redis-server");
  if (!onPath("mosquitto") || !account("mosquitto")) missing.push("mosquitto");
  if (!onPath("setpriv")) missing.push("util-linux (setpriv)");
  if (missing.length === 0) return undefined;
  return `the servers' packages are not installed: ${missing.join(", ")}`;
}

/** The three servers running; `stop()` ends them and removes their directory. */
export interface Servers {
  stop(): Promise<void>;
}

/** Runs `argv` in the server's namespace as `user` (setpriv execs, so the pid is the server's). */
function asUser(net: TestNet, user: string, argv: string[]): Proc {
  return new Proc([
    ...net.exec("server"),
    "setpriv",
    `--reuid=${user}`,
    `--regid=${user}`,
    "--init-groups",
    ...argv,
  ]);
}

/** Waits until `proc` printed a line matching `pattern` on stdout or stderr, at most `ms`. */
async function printed(proc: Proc, name: string, pattern: RegExp, ms = 15_000): Promise<void> {
  const until = Date.now() + ms;
  while (!pattern.test(proc.stderr) && !proc.lines.some((l) => pattern.test(l))) {
    if (proc.child.exitCode !== null || Date.now() > until) {
      throw new Error(
        `${name} did not start (${proc.child.exitCode === null ? "timed out" : "exited"}):\n` +
          `${proc.lines.join("\n")}\n${proc.stderr}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Ends `proc` with `signal`, then SIGKILL if it is still there after 5 s. */
async function end(proc: Proc, signal: NodeJS.Signals): Promise<void> {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  proc.child.kill(signal);
  const timer = setTimeout(() => void proc.kill(), 5_000);
  await proc.exited();
  clearTimeout(timer);
  await proc.kill();
}

/**
 * Starts PostgreSQL (trust authentication for the client's address, user and database
 * `postgres`), redis and mosquitto (anonymous) in `net`'s server namespace; resolves once all
 * three accept connections. On failure, stops what it started and throws.
 */
export async function startServers(net: TestNet): Promise<Servers> {
  const reason = serversUnavailable();
  if (reason) throw new Error(`Cannot start the servers: ${reason}`);
  if (userInfo().uid !== 0) throw new Error("Cannot start the servers: they need root");
  const dir = mkdtempSync("/tmp/sockalive-servers-");
  chmodSync(dir, 0o755); // each server's user reaches its own directory and mosquitto's config
  const running: Array<{ proc: Proc; signal: NodeJS.Signals }> = [];
  const stop = async () => {
    // Immediate shutdown for PostgreSQL (SIGQUIT): nothing in it is worth keeping.
    await Promise.all(running.map(({ proc, signal }) => end(proc, signal)));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const pgDir = `${dir}/pg`;
    const redisDir = `${dir}/redis`;
    for (const [path, user] of [[pgDir, "postgres"], [redisDir, "redis"]] as const) {
      mkdirSync(path);
      const { uid, gid } = account(user)!;
      chownSync(path, uid, gid);
    }
    const bin = postgresBin()!;
    execFileSync("setpriv", [
      "--reuid=postgres",
      "--regid=postgres",
      "--init-groups",
      `${bin}/initdb`,
      "--pgdata",
      `${pgDir}/data`,
      "--auth=trust",
      "--username=postgres",
      "--no-sync",
    ], { stdio: "pipe" });
    // initdb trusts only loopback over TCP; the client's namespace connects from its own address.
    writeFileSync(`${pgDir}/data/pg_hba.conf`, "host all all 198.18.0.1/32 trust\n", {
      flag: "a",
    });
    const pg = asUser(net, "postgres", [
      `${bin}/postgres`,
      "-D",
      `${pgDir}/data`,
      "-c",
      `listen_addresses=${SERVER_IP}`,
      "-c",
      `port=${PORTS.pg}`,
      "-c",
      `unix_socket_directories=${pgDir}`,
      "-c",
      "fsync=off",
    ]);
    running.push({ proc: pg, signal: "SIGQUIT" });
    const redis = asUser(net, "redis", [
      "redis-server",
      "--bind",
      SERVER_IP,
      "--port",
      String(PORTS.redis),
      "--dir",
      redisDir,
      "--save",
      "",
      "--appendonly",
      "no",
      "--protected-mode",
      "no",
      "--logfile",
      "",
    ]);
    running.push({ proc: redis, signal: "SIGTERM" });
    const conf = `${dir}/mosquitto.conf`;
    writeFileSync(
      conf,
      `listener ${PORTS.mqtt} ${SERVER_IP}\nallow_anonymous true\npersistence false\nlog_dest stderr\n`,
    );
    const mosquitto = asUser(net, "mosquitto", ["mosquitto", "-c", conf]);
    running.push({ proc: mosquitto, signal: "SIGTERM" });
    await Promise.all([
      printed(pg, "PostgreSQL", /database system is ready to accept connections/),
      printed(redis, "redis", /Ready to accept connections/),
      printed(mosquitto, "mosquitto", /mosquitto version \S+ running/),
    ]);
  } catch (error) {
    await stop();
    throw error;
  }
  return { stop };
}
