/**
 * The runtime-agnostic exports every entry point shares.
 *
 * @module
 */

export {
  type ConnectOptions,
  LiveConnection,
  StateChangeEvent,
  type StateChangeListener,
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
  type KeepAliveLimits,
  type KeepAliveOptions,
} from "./options.ts";
export type { SocketAddress } from "./address.ts";
export {
  type CloseInfo,
  type ConnectionEvent,
  type ConnectionEventType,
  type ConnectionState,
  ConnectionStateMachine,
  type TerminalState,
  type Transition,
  type TransitionHandler,
  type TransitionObserver,
  TRANSITIONS,
} from "./state.ts";
export { LINUX_LIMITS } from "./os/linux.ts";
export {
  backoffDelay,
  type BackoffOptions,
  DEFAULT_BACKOFF,
  resolveBackoff,
  type ResolvedBackoff,
} from "./backoff.ts";
export {
  type ConnectFunction,
  ReconnectingClient,
  type ReconnectingOptions,
  type ReconnectingStopInfo,
} from "./reconnect.ts";
export {
  ReconnectAttemptEvent,
  ReconnectConnectionEvent,
  ReconnectGiveUpEvent,
  type ReconnectingEventMap,
  type ReconnectingListener,
  ReconnectStateChangeEvent,
} from "./reconnect_events.ts";
export { type ListenOptions, LiveListener } from "./listener.ts";
export type { Sockalive } from "./api.ts";
export type { TcpHealth, TcpState } from "./health.ts";
export type {
  ConnectionInfo,
  DefaultKeepAliveOptions,
  KeepAliveOverride,
  KeepAlivePolicy,
} from "./policy.ts";
export type { ConnectionApi } from "./transport.ts";
