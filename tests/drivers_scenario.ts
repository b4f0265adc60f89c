/**
 * One pulled cable under pg, postgres.js, ioredis and mqtt at once: starts the servers in a
 * server namespace, runs tests/fixtures/drivers_client.ts in the client namespace, pulls the
 * cable once every connection is open, plugs it back in once every driver has reported the
 * loss, and collects what the client printed. Shared by tests/drivers.test.ts and
 * tools/drivers_matrix.ts.
 */
import { fixture, Proc, runtimeCommand } from "./harness.ts";
import { PORTS, startServers } from "./servers.ts";
import { SERVER_IP, TestNet } from "../tools/netns.ts";
import type { KeepAliveOptions } from "../mod.ts";

/** How the options reach the drivers' sockets. */
export type Via = "setKeepAlive" | "policy" | "none";
/** What a connection does at the pull. */
export type Role = "idle" | "inflight";
/** The drivers, by npm name. */
export const DRIVERS = ["pg", "postgres", "ioredis", "mqtt"] as const;
/** One of {@link DRIVERS}. */
export type Driver = typeof DRIVERS[number];

/** A line the client printed, parsed. */
export type Line = Record<string, unknown> & { type: string; driver?: Driver; role?: Role };

/** What one run observed; the maps are keyed by `${driver} ${role}`. */
export interface DriversRun {
  pulledAt: number;
  /** When the cable went back in (0: it did not). */
  pluggedAt: number;
  opened: Map<string, Line>;
  /** "detected" (or "undetected", "answered") per connection. */
  detected: Map<string, Line>;
  /** "reconnected" (or "reconnect-failed") per connection. */
  reconnected: Map<string, Line>;
  lines: Line[];
}

/** What to run. */
export interface DriversConfig {
  via: Via;
  keepAlive: Record<Role, KeepAliveOptions>;
  roles?: Role[];
  /** How long the client waits for each driver to report the loss. */
  capMs: number;
  /** false: stop after the loss (no plugging back in, no reconnects); default true. */
  reconnect?: boolean;
  /** The command that runs a script (default: the runtime running this). */
  command?: (script: string, args: string[]) => string[];
}

/** The key of a connection in {@link DriversRun}'s maps. */
export const key = (driver: Driver, role: Role): string => `${driver} ${role}`;

/** Runs the scenario once; always stops the servers and deletes the namespaces. */
export async function runDrivers(config: DriversConfig): Promise<DriversRun> {
  const net = TestNet.create();
  let clients: Proc[] = [];
  let servers: { stop(): Promise<void> } | undefined;
  try {
    servers = await startServers(net);
    const roles = config.roles ?? ["idle", "inflight"];
    // A policy is the whole process's, and each role has options of its own: one client per
    // role then, all behind the same cable.
    const groups = config.via === "policy" ? roles.map((role) => [role]) : [roles];
    const command = config.command ?? runtimeCommand;
    clients = groups.map((group) =>
      new Proc([
        ...net.exec("client"),
        ...command(fixture("drivers_client.ts"), [JSON.stringify({
          via: config.via,
          host: SERVER_IP,
          ports: PORTS,
          keepAlive: config.keepAlive,
          roles: group,
          capMs: config.capMs,
          reconnect: config.reconnect ?? true,
        })]),
      ])
    );
    await Promise.all(clients.map((c) => c.waitFor(/"type":"armed"/, 30_000)));
    const pulledAt = net.pull();
    for (const c of clients) c.send("pulled");
    await Promise.all(
      clients.map((c) => c.waitFor(/"type":"detected-all"/, config.capMs + 10_000)),
    );
    let pluggedAt = 0;
    if (config.reconnect !== false) {
      pluggedAt = net.plugIn();
      for (const c of clients) c.send("plugged");
    }
    await Promise.all(clients.map((c) => c.waitFor(/"type":"done"/, 40_000)));
    const lines = clients.flatMap((c) => c.lines).filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Line);
    const byKey = (types: string[]) =>
      new Map(
        lines.filter((l) => types.includes(l.type)).map((l) => [key(l.driver!, l.role!), l]),
      );
    return {
      pulledAt,
      pluggedAt,
      opened: byKey(["opened"]),
      detected: byKey(["detected", "undetected", "answered"]),
      reconnected: byKey(["reconnected", "reconnect-failed"]),
      lines,
    };
  } catch (error) {
    const stderr = clients.map((c) => c.stderr).join("\n---\n") || "(not started)";
    throw new Error(`${(error as Error).message}\nclient stderr:\n${stderr}`);
  } finally {
    for (const c of clients) await c.kill();
    await servers?.stop();
    net.destroy();
  }
}
