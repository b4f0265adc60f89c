/**
 * Default keepalive policies: options applied to every outgoing TCP connection the program opens
 * (whoever opens it), chosen by a `match` function, applied through the same safe path as
 * `setKeepAlive`, and re-applied when the runtime's own `setKeepAlive` undoes them.
 *
 * @module
 */

import { SocketOptionError } from "./errors.ts";
import {
  describe,
  type KeepAliveInfo,
  type KeepAliveOptions,
  validateKeepAlive,
} from "./options.ts";
import {
  applyValidKeepAlive,
  type ResolvedTarget,
  resolveTarget,
  reverify,
  type SocketTarget,
} from "./sockopt.ts";
import type { Adapter, ConnectionApi, OpenedSocket } from "./transport.ts";

/**
 * A new outgoing TCP connection, as a policy's `match`, `onError` and `onOverride` see it: just
 * connected (over TLS: before the handshake), before the code that opened it sees it.
 *
 * @example
 * ```ts ignore
 * import { setDefaultKeepAlive, type ConnectionInfo } from "@sockalive/sockalive";
 * const databases = ({ hostname, port }: ConnectionInfo) => hostname === "db.internal" && port === 5432;
 * using _policy = setDefaultKeepAlive({ idle: 5000, interval: 1000, count: 3 }, { match: databases });
 * ```
 */
export interface ConnectionInfo {
  /** The API that opened it: `"node:net"`, `"node:tls"`, `"Deno.connect"`, ... */
  readonly api: ConnectionApi;
  /** The host as the caller asked for it (a name such as `"db.internal"`, or an address). */
  readonly hostname: string;
  /** The peer's port. */
  readonly port: number;
  /** The peer's address, as the name resolved to. */
  readonly remoteAddress: string;
  /** Our address. */
  readonly localAddress: string;
  /** Our port. */
  readonly localPort: number;
  /** Whether TLS runs over it (`node:tls`, `Deno.connectTls`, `Bun.connect` with `tls`). */
  readonly tls: boolean;
  /** The socket, as the API hands it out. */
  readonly socket: object;
}

/**
 * What `onOverride` is told: the runtime's own `setKeepAlive` was called on a socket a policy
 * applied to, changed the values in the kernel, and the policy's options were applied again.
 */
export interface KeepAliveOverride extends ConnectionInfo {
  /** The arguments of the runtime's `setKeepAlive` call, e.g. `[true, 60000]`. */
  readonly call: readonly unknown[];
  /** What that call left in the kernel. */
  readonly overridden: KeepAliveInfo;
  /** What the kernel holds after the policy's options were applied again. */
  readonly applied: KeepAliveInfo;
}

/** How a default keepalive policy chooses its connections and reports what happens. */
export interface DefaultKeepAliveOptions {
  /**
   * Whether the policy applies to this connection; default: every connection. Called once per
   * connection, as it connects. One that throws is reported to `onError` and counts as `false`.
   */
  match?: (connection: ConnectionInfo) => boolean;
  /**
   * Told when the options cannot be applied to a connection that matched (no open socket with
   * its addresses found, an option the OS refuses, ...), or when `match` or `onOverride` throws.
   * The connection itself is left as it is; one already closed as it connects is skipped.
   * Default: `console.error`.
   */
  onError?: (error: unknown, connection: ConnectionInfo) => void;
  /**
   * Told each time the runtime's own `setKeepAlive` (a driver's `socket.setKeepAlive(true, ms)`)
   * changed what the policy set on a socket, after the policy applied its options again.
   * Default: nothing is reported.
   */
  onOverride?: (override: KeepAliveOverride) => void;
}

/**
 * A default keepalive policy in force; `dispose()` (or leaving a `using` block) ends it for
 * connections opened from then on.
 *
 * @example
 * ```ts ignore
 * import { setDefaultKeepAlive } from "@sockalive/sockalive";
 * const policy = setDefaultKeepAlive({ idle: 5000, interval: 1000, count: 3 });
 * console.log(policy.options, policy.active); // { enabled: true, idle: 5000, ... } true
 * policy.dispose();
 * ```
 */
export interface KeepAlivePolicy extends Disposable {
  /** The options applied, as validated and rounded for this platform. */
  readonly options: Readonly<KeepAliveOptions>;
  /** Whether the policy is still in force. */
  readonly active: boolean;
  /** Ends the policy (once; again does nothing). Sockets it applied to keep their values. */
  dispose(): void;
}

const POLICY_KEYS = ["match", "onError", "onOverride"] as const;

type Valid = ReturnType<typeof validateKeepAlive>;

/** A socket a policy applied to, as its guarded `setKeepAlive` finds it. */
interface Applied {
  policy: Policy;
  info: ConnectionInfo;
  resolved: ResolvedTarget;
  /** What the kernel held once the policy's options were applied. */
  values: KeepAliveInfo;
}

/** Sockets whose runtime `setKeepAlive` is guarded, with the policy that applied to them. */
const GUARDED = new WeakMap<object, Applied>();
/** Sockets whose `setKeepAlive` has the wrapper (kept across reconnects of the same object). */
const WRAPPED = new WeakSet<object>();

/** One runtime's policies, newest last, and its hooks while any is in force. */
class Policies<S> {
  readonly #runtime: Adapter<S>;
  readonly #stack: Policy[] = [];
  #uninstall: (() => void) | undefined;

  constructor(runtime: Adapter<S>) {
    this.#runtime = runtime;
  }

  add(policy: Policy): void {
    this.#stack.push(policy);
    this.#uninstall ??= this.#runtime.connectHooks.install((opened) => this.#opened(opened));
  }

  remove(policy: Policy): void {
    const at = this.#stack.indexOf(policy);
    if (at >= 0) this.#stack.splice(at, 1);
    if (this.#stack.length > 0) return;
    const uninstall = this.#uninstall;
    this.#uninstall = undefined;
    uninstall?.();
  }

  /** The newest policy that matches applies; never throws into the opener's code. */
  #opened({ socket, api, hostname, tls }: OpenedSocket<S>): void {
    const runtime = this.#runtime;
    // A socket connecting again: what applied to its last connection does not carry over.
    GUARDED.delete(socket as object);
    let info: ConnectionInfo;
    let target: SocketTarget;
    try {
      target = runtime.target(socket);
      info = {
        api,
        hostname,
        port: target.remote.port,
        remoteAddress: target.remote.hostname,
        localAddress: target.local.hostname,
        localPort: target.local.port,
        tls,
        socket: socket as object,
      };
    } catch {
      // Not a TCP connection over IP (a Unix socket), or already closed: nothing to keep alive.
      return;
    }
    for (let i = this.#stack.length - 1; i >= 0; i--) {
      const policy = this.#stack[i]!;
      if (!policy.matches(info)) continue;
      try {
        const platform = runtime.platform();
        const calls = runtime.calls();
        const resolved = resolveTarget(platform, calls, target);
        const values = applyValidKeepAlive(platform, calls, resolved.fd, policy.valid);
        guard(socket as object, { policy, info, resolved, values });
      } catch (error) {
        policy.report(error, info);
      }
      return;
    }
  }

  /** Called by a guarded socket's `setKeepAlive`, after the runtime's own has run. */
  reassert(applied: Applied, call: unknown[]): void {
    const { policy, info, resolved } = applied;
    if (!policy.active) return;
    const runtime = this.#runtime;
    try {
      const platform = runtime.platform();
      const calls = runtime.calls();
      const fd = reverify(platform, calls, resolved);
      const overridden = platform.getKeepAlive(calls, fd);
      if (sameValues(overridden, applied.values)) return;
      applied.values = applyValidKeepAlive(platform, calls, fd, policy.valid);
      policy.overridden({ ...info, call, overridden, applied: applied.values });
    } catch (error) {
      // A socket closed meanwhile has nothing left to keep alive.
      if (error instanceof SocketOptionError && error.code === "ERR_SOCKET_NOT_FOUND") return;
      policy.report(error, info);
    }
  }
}

const REGISTRIES = new WeakMap<object, Policies<never>>();

function registry<S>(runtime: Adapter<S>): Policies<S> {
  let found = REGISTRIES.get(runtime) as Policies<S> | undefined;
  if (!found) REGISTRIES.set(runtime, (found = new Policies(runtime)) as Policies<never>);
  return found;
}

class Policy implements KeepAlivePolicy {
  readonly options: Readonly<KeepAliveOptions>;
  readonly valid: Valid;
  readonly #match: DefaultKeepAliveOptions["match"];
  readonly #onError: NonNullable<DefaultKeepAliveOptions["onError"]>;
  readonly #onOverride: DefaultKeepAliveOptions["onOverride"];
  readonly #registry: Policies<unknown>;
  #active = true;

  constructor(valid: Valid, options: DefaultKeepAliveOptions, registry: Policies<unknown>) {
    this.valid = valid;
    this.options = Object.freeze({ ...valid });
    this.#match = options.match;
    this.#onError = options.onError ?? defaultOnError;
    this.#onOverride = options.onOverride;
    this.#registry = registry;
  }

  get active(): boolean {
    return this.#active;
  }

  dispose(): void {
    if (!this.#active) return;
    this.#active = false;
    this.#registry.remove(this);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  matches(info: ConnectionInfo): boolean {
    if (this.#match === undefined) return true;
    try {
      return this.#match(info) === true;
    } catch (error) {
      this.report(error, info);
      return false;
    }
  }

  report(error: unknown, info: ConnectionInfo): void {
    try {
      this.#onError(error, info);
    } catch (thrown) {
      // The opener's code must not see it: the last place left to tell is the console.
      console.error(thrown, error);
    }
  }

  overridden(override: KeepAliveOverride): void {
    try {
      this.#onOverride?.(override);
    } catch (error) {
      this.report(error, override);
    }
  }

  reassert(applied: Applied, call: unknown[]): void {
    this.#registry.reassert(applied, call);
  }
}

function defaultOnError(error: unknown, info: ConnectionInfo): void {
  console.error(
    `sockalive: cannot apply the default keepalive to a ${info.api} connection to ` +
      `${info.hostname}:${info.port}:`,
    error,
  );
}

/**
 * Wraps the socket's own `setKeepAlive` (where it has one), on this socket only, so that a call
 * that changes the policy's values is followed by the policy applying them again.
 */
function guard(socket: object, applied: Applied): void {
  GUARDED.set(socket, applied);
  if (WRAPPED.has(socket)) return; // reconnected: the wrapper is in place, finds the new record
  WRAPPED.add(socket);
  const original = (socket as { setKeepAlive?: unknown }).setKeepAlive;
  if (typeof original !== "function") return; // a Deno.TlsConn: nothing can undo the policy
  try {
    Object.defineProperty(socket, "setKeepAlive", {
      configurable: true,
      writable: true,
      enumerable: false,
      value: function setKeepAlive(this: unknown, ...call: unknown[]): unknown {
        const result = Reflect.apply(original, this, call);
        const record = this === socket ? GUARDED.get(socket) : undefined;
        record?.policy.reassert(record, call);
        return result;
      },
    });
  } catch {
    // A frozen socket keeps its method: the policy is applied, not guarded.
  }
}

function sameValues(a: KeepAliveInfo, b: KeepAliveInfo): boolean {
  return a.enabled === b.enabled && a.idle === b.idle && a.interval === b.interval &&
    a.count === b.count && a.userTimeout === b.userTimeout;
}

/**
 * The body of every entry point's `setDefaultKeepAlive`: options checked as `setKeepAlive`
 * checks them, and the FFI opened, before anything is patched.
 */
export function setDefaultKeepAliveOn<S>(
  runtime: Adapter<S>,
  options: KeepAliveOptions,
  policy: DefaultKeepAliveOptions = {},
): KeepAlivePolicy {
  const valid = validateKeepAlive(options, runtime.platform().limits);
  checkPolicyOptions(policy);
  // Without FFI no connection could be served: that is said here, once, not on each connect.
  runtime.calls();
  const policies = registry(runtime);
  const made = new Policy(valid, policy, policies as Policies<unknown>);
  policies.add(made);
  return made;
}

function checkPolicyOptions(policy: unknown): asserts policy is DefaultKeepAliveOptions {
  if (typeof policy !== "object" || policy === null || Array.isArray(policy)) {
    throw new TypeError(
      `Cannot set the default keepalive: the policy must be an object, got ${describe(policy)}`,
    );
  }
  for (const key of Object.keys(policy)) {
    if (!(POLICY_KEYS as readonly string[]).includes(key)) {
      throw new TypeError(
        `Cannot set the default keepalive: unknown option "${key}"; expected one of ${
          POLICY_KEYS.join(", ")
        }`,
      );
    }
  }
  for (const key of POLICY_KEYS) {
    const value = (policy as Record<string, unknown>)[key];
    if (value !== undefined && typeof value !== "function") {
      throw new TypeError(
        `Cannot set the default keepalive: "${key}" must be a function, got ${describe(value)}`,
      );
    }
  }
}
