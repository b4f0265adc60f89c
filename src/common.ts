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
export { ConnectionClosedError, SocketOptionError, type SocketOptionName, type Syscall } from "./errors.ts";
export {
  DEFAULT_KEEPALIVE,
  detectionTime,
  type KeepAliveInfo,
  type KeepAliveOptions,
} from "./options.ts";
export type { SocketAddress } from "./address.ts";
export {
  type CloseInfo,
  type ConnectionState,
  ConnectionStateMachine,
  type TerminalState,
  type Transition,
  TRANSITIONS,
} from "./state.ts";
export { LINUX_LIMITS } from "./os/linux.ts";
