import type net from "node:net";
import type { MqttClient } from "mqtt";
import { type KeepAliveOptions, setKeepAlive } from "@sockalive/sockalive";

/** Sets `keepAlive` on the client's socket each time it connects (first connect, reconnects). */
export function keepAliveMqtt(client: MqttClient, keepAlive: KeepAliveOptions): MqttClient {
  // client.stream is typed as a Duplex; over mqtt:// it is a net.Socket (mqtts://: TLSSocket).
  return client.on("connect", () => setKeepAlive(client.stream as net.Socket, keepAlive));
}

// const client = keepAliveMqtt(mqtt.connect(`mqtt://${host}`), keepAlive);
