/**
 * Two network namespaces joined by a veth pair, for real network faults: the client's end is
 * 198.18.0.1, the server's 198.18.0.2 (RFC 2544's benchmarking range, and nothing else).
 * `pull()` sets the server's end down: a pulled cable, where probes go unanswered. Used by the
 * tests, the demo and the benchmarks; needs root and iproute2.
 */

import { execFileSync } from "node:child_process";
import process from "node:process";

/** The client's address. */
export const CLIENT_IP = "198.18.0.1";
/** The server's address. */
export const SERVER_IP = "198.18.0.2";
const PREFIX = "sockalive-";
const CLIENT_IF_INDEX = 101;
const SERVER_IF_INDEX = 102;

/**
 * Why namespace tests cannot run here, or `undefined` if they can. Under CI=true they must run:
 * the caller turns the reason into a failure instead of a skip.
 */
export function netnsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "network namespace tests need root";
  try {
    execFileSync("ip", ["netns", "list"], { stdio: "pipe" });
  } catch (error) {
    return `the ip command (iproute2) does not work: ${(error as Error).message}`;
  }
  return undefined;
}

function ip(...args: string[]): string {
  return execFileSync("ip", args, { stdio: ["ignore", "pipe", "pipe"] }).toString();
}

let counter = 0;

/** A client namespace and a server namespace joined by a veth pair. */
export class TestNet {
  readonly client: string;
  readonly server: string;
  readonly clientIf: string;
  readonly serverIf: string;
  /** The permanent neighbour entries, as `ip neigh replace` arguments, for `plugIn` to restore. */
  #neighbours: string[][] = [];

  private constructor(id: string) {
    this.client = `${PREFIX}${id}-c`;
    this.server = `${PREFIX}${id}-s`;
    // Interface names are limited to 15 characters.
    this.clientIf = `sa${id.replace("-", "x")}c`.slice(-15);
    this.serverIf = `sa${id.replace("-", "x")}s`.slice(-15);
  }

  /** Creates both namespaces; on any failure, removes what it made and throws. */
  static create(): TestNet {
    const reason = netnsUnavailable();
    if (reason) throw new Error(`Cannot run network namespace tests: ${reason}`);
    removeStale();
    const net = new TestNet(`${process.pid}-${counter++}`);
    try {
      ip("netns", "add", net.client);
      ip("netns", "add", net.server);
      ip(
        "link",
        "add",
        net.clientIf,
        // Distinct indexes make the client see a pull at once. Each namespace numbers its own
        // devices, so both ends would be number 2; a veth whose index equals its peer's is not
        // "urgent" to linkwatch, which then handles its loss of carrier up to 1 s late (one rate
        // limit for the whole machine). Until it does, the veth driver rejects every packet
        // (NET_XMIT_DROP), TCP counts none as sent and TCP_USER_TIMEOUT has nothing to time:
        // measured 3.5-3.9 s with equal indexes and 3.0 s without, for userTimeout 3000 while
        // writing. A real NIC queues packets meanwhile: the veth's artefact, not the network's.
        "index",
        String(CLIENT_IF_INDEX),
        "netns",
        net.client,
        "type",
        "veth",
        "peer",
        "name",
        net.serverIf,
        "index",
        String(SERVER_IF_INDEX),
        "netns",
        net.server,
      );
      const sides = [
        { ns: net.client, dev: net.clientIf, address: CLIENT_IP },
        { ns: net.server, dev: net.serverIf, address: SERVER_IP },
      ];
      for (const { ns, dev, address } of sides) {
        ip("-n", ns, "addr", "add", `${address}/24`, "dev", dev);
        ip("-n", ns, "link", "set", dev, "up");
        ip("-n", ns, "link", "set", "lo", "up");
      }
      // Each side knows the other's MAC for good, as a host behind a switch keeps its ARP entry
      // when a cable further on is pulled. Otherwise the pull flushes the entry, ARP fails about
      // 3 s later, and the kernel reports that (EHOSTUNREACH) instead of the timeout that ended
      // the connection (ETIMEDOUT): a race with a 3 s userTimeout, seen once in CI.
      const macs = sides.map(({ ns, dev }) =>
        (JSON.parse(ip("-j", "-n", ns, "link", "show", "dev", dev)) as { address: string }[])[0]
          .address
      );
      sides.forEach(({ ns, dev }, i) => {
        const peer = 1 - i;
        const entry = [
          "-n",
          ns,
          "neigh",
          "replace",
          sides[peer].address,
          "lladdr",
          macs[peer],
          "dev",
          dev,
          "nud",
          "permanent",
        ];
        net.#neighbours.push(entry);
        ip(...entry);
      });
    } catch (error) {
      net.destroy();
      throw error;
    }
    return net;
  }

  /** The argv prefix that runs a command inside the client's or server's namespace. */
  exec(side: "client" | "server"): string[] {
    return ["ip", "netns", "exec", side === "client" ? this.client : this.server];
  }

  /**
   * Pulls the cable: one side's end goes down (the server's by default). Returns when, in ms
   * since the epoch.
   */
  pull(side: "client" | "server" = "server"): number {
    if (side === "server") ip("-n", this.server, "link", "set", this.serverIf, "down");
    else ip("-n", this.client, "link", "set", this.clientIf, "down");
    return Date.now();
  }

  /**
   * Plugs the cable back in: sets the side's end up again and restores both neighbour entries
   * (setting a link down deletes even permanent ones). Returns when, in ms since the epoch.
   */
  plugIn(side: "client" | "server" = "server"): number {
    if (side === "server") ip("-n", this.server, "link", "set", this.serverIf, "up");
    else ip("-n", this.client, "link", "set", this.clientIf, "up");
    for (const entry of this.#neighbours) ip(...entry);
    return Date.now();
  }

  /** Deletes both namespaces (and with them the veth pair). Safe to call twice. */
  destroy(): void {
    for (const ns of [this.client, this.server]) {
      try {
        ip("netns", "del", ns);
      } catch {
        // Already gone.
      }
    }
  }

  /** Whether a namespace named `ns` exists. */
  static exists(ns: string): boolean {
    return ip("netns", "list").split("\n").some((line) => line.split(" ")[0] === ns);
  }
}

/** Removes namespaces left by an earlier run of this harness whose process is gone. */
function removeStale(): void {
  for (const line of ip("netns", "list").split("\n")) {
    const name = line.split(" ")[0];
    const m = new RegExp(`^${PREFIX}(\\d+)-\\d+-[cs]$`).exec(name);
    if (!m || Number(m[1]) === process.pid) continue;
    try {
      process.kill(Number(m[1]), 0);
    } catch {
      try {
        ip("netns", "del", name);
      } catch { /* raced with another cleanup */ }
    }
  }
}

/** Namespaces this process created that still exist. */
export function leftovers(): string[] {
  return ip("netns", "list").split("\n").map((l) => l.split(" ")[0])
    .filter((n) => n.startsWith(`${PREFIX}${process.pid}-`));
}
