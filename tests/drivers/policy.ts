import {
  type KeepAliveOptions,
  type KeepAlivePolicy,
  setDefaultKeepAlive,
} from "@sockalive/sockalive";

/**
 * Every TCP connection the process opens to one of `ports` from now on, whichever driver opens
 * it and however often it reconnects, gets `keepAlive` as soon as it connects. A driver that
 * then calls the runtime's own `socket.setKeepAlive(true, ms)` (postgres.js does, with its
 * keep_alive) does not undo it: the policy is applied again, and `onOverride` hears of it.
 */
export function keepAliveTo(ports: number[], keepAlive: KeepAliveOptions): KeepAlivePolicy {
  return setDefaultKeepAlive(keepAlive, {
    match: ({ port }) => ports.includes(port),
    onOverride: ({ call, port }) =>
      console.warn(`sockalive: a driver's setKeepAlive(${call.join(", ")}) to :${port} undone`),
  });
}

// using policy = keepAliveTo([5432, 6379, 1883], keepAlive); // then make drivers as usual
