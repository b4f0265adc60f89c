/**
 * The runtime-agnostic exports every entry point shares: the errors users catch, the pure
 * helpers, and the types users name. Classes whose instances sockalive makes for you
 * (connections, listeners, clients, events) are exported as types only: their constructors take
 * the runtime, and are no API.
 *
 * @module
 */

export type {
  ConnectOptions,
  LiveConnection,
  StateChangeEvent,
  StateChangeListener,
} from "./connection.ts";
export type { ClientTlsOptions, ServerTlsOptions } from "./tls_options.ts";
export {
  ConnectionClosedError,
  SocketOptionError,
  type SocketOptionName,
  type Syscall,
} from "./errors.ts";
export {
  DEFAULT_KEEPALIVE,
  detectionTime,
  type KeepAliveInfo,
  type KeepAliveOptions,
} from "./options.ts";
export type { SocketAddress } from "./address.ts";
export type { CloseInfo, ConnectionState, TerminalState } from "./state.ts";
export type { BackoffOptions, ResolvedBackoff } from "./backoff.ts";
export type {
  ConnectFunction,
  ReconnectingClient,
  ReconnectingOptions,
  ReconnectingStopInfo,
} from "./reconnect.ts";
export type {
  ReconnectAttemptEvent,
  ReconnectConnectionEvent,
  ReconnectGiveUpEvent,
  ReconnectingEventMap,
  ReconnectingListener,
  ReconnectStateChangeEvent,
} from "./reconnect_events.ts";
export type { ListenOptions, LiveListener } from "./listener.ts";
export type { Sockalive } from "./api.ts";
export type { TcpHealth, TcpState } from "./health.ts";
export type {
  ConnectionInfo,
  DefaultKeepAliveOptions,
  KeepAliveOverride,
  KeepAlivePolicy,
} from "./policy.ts";
export type { ConnectionApi } from "./transport.ts";
