/**
 * The `tls` option of `connect`, `reconnecting` and `listen`: its shape, what it is once checked,
 * and its checks (every key known, PEM that looks like PEM, ALPN names that fit), run before
 * anything touches a socket.
 *
 * @module
 */

import { describe } from "./options.ts";

/**
 * TLS options of `connect` and `reconnecting`. The server's certificate is always verified, its
 * chain and its name; there is no option to skip that.
 *
 * @example
 * ```ts ignore
 * import { connect } from "@sockalive/sockalive";
 * const pem = await Deno.readTextFile("ca.pem");
 * const conn = connect({
 *   hostname: "198.18.0.2",
 *   port: 5433,
 *   tls: { caCerts: [pem], serverName: "db.example", alpnProtocols: ["postgresql"] },
 *   keepAlive: { idle: 1000, interval: 1000, count: 3 },
 * });
 * await conn.opened; // handshake done, certificate verified for db.example
 * console.log(conn.alpnProtocol); // "postgresql", or null if the server chose none
 * ```
 */
export interface ClientTlsOptions {
  /**
   * PEM certificates to trust, in addition to the runtime's default roots (a private CA, say).
   * Each string holds one or more `-----BEGIN CERTIFICATE-----` blocks.
   */
  caCerts?: string[];
  /**
   * The name the server's certificate must be valid for, also sent as SNI; default the
   * connection's `hostname`. A literal IP address is matched against the certificate's IP
   * addresses.
   */
  serverName?: string;
  /** Application protocols to offer (ALPN), most preferred first; each 1 to 255 bytes. */
  alpnProtocols?: string[];
}

/**
 * TLS options of `listen`: the server's certificate chain and private key, in PEM.
 *
 * @example
 * ```ts ignore
 * import { listen } from "@sockalive/sockalive";
 * const cert = await Deno.readTextFile("server.pem"); // leaf first, then intermediates
 * const key = await Deno.readTextFile("server.key");
 * await using server = listen({ port: 8443, tls: { cert, key }, keepAlive: true });
 * for await (const conn of server) {
 *   conn.opened.then(() => console.log("handshake done with", conn.remoteAddr));
 * }
 * ```
 */
export interface ServerTlsOptions {
  /** The certificate chain, PEM: the server's certificate first, then any intermediates. */
  cert: string;
  /** The private key of the certificate, PEM, not encrypted. */
  key: string;
  /** Application protocols the server accepts (ALPN), most preferred first; each 1 to 255 bytes. */
  alpnProtocols?: string[];
}

/** What a TLS client runs with, once checked: copies, so a caller's later change has no effect. */
export interface ClientTls {
  /** PEM certificates trusted in addition to the default roots; may be empty. */
  readonly caCerts: readonly string[];
  /** The name to verify the server's certificate for, and to send as SNI. */
  readonly serverName: string;
  /** ALPN protocols to offer; may be empty (then none is offered). */
  readonly alpnProtocols: readonly string[];
}

/** What a TLS server runs with, once checked. */
export interface ServerTls {
  /** The certificate chain, PEM. */
  readonly cert: string;
  /** The private key, PEM. */
  readonly key: string;
  /** ALPN protocols accepted; may be empty. */
  readonly alpnProtocols: readonly string[];
}

/** The code of a connection whose TLS handshake failed, in every runtime. */
export const TLS_HANDSHAKE_CODE = "ERR_TLS_HANDSHAKE";

const CLIENT_TLS_KEYS = ["caCerts", "serverName", "alpnProtocols"] as const;
const SERVER_TLS_KEYS = ["cert", "key", "alpnProtocols"] as const;

/**
 * The `tls` option of `connect` and `reconnecting`: `true`, `false` / absent, or
 * {@linkcode ClientTlsOptions}, with every key known and well-formed.
 */
export function checkClientTls(
  verb: string,
  tls: unknown,
  hostname: string,
): ClientTls | undefined {
  if (tls === undefined || tls === false) return undefined;
  if (tls === true) return { caCerts: [], serverName: hostname, alpnProtocols: [] };
  checkTlsShape(verb, tls, CLIENT_TLS_KEYS, "true, false or an options object");
  const { caCerts, serverName, alpnProtocols } = tls as ClientTlsOptions;
  if (serverName !== undefined) {
    if (typeof serverName !== "string") {
      throw new TypeError(
        `Cannot ${verb}: "tls.serverName" must be a string, got ${describe(serverName)}`,
      );
    }
    if (serverName === "") {
      throw new RangeError(`Cannot ${verb}: "tls.serverName" must not be empty`);
    }
  }
  return {
    caCerts: checkPemList(verb, "tls.caCerts", caCerts, CERTIFICATE),
    serverName: serverName ?? hostname,
    alpnProtocols: checkAlpn(verb, alpnProtocols),
  };
}

/** The `tls` option of `listen`: `false` / absent, or {@linkcode ServerTlsOptions}. */
export function checkServerTls(tls: unknown): ServerTls | undefined {
  if (tls === undefined || tls === false) return undefined;
  checkTlsShape("listen", tls, SERVER_TLS_KEYS, "false or an object with cert and key");
  const { cert, key, alpnProtocols } = tls as ServerTlsOptions;
  checkPem("listen", "tls.cert", cert, CERTIFICATE);
  checkPem("listen", "tls.key", key, PRIVATE_KEY);
  if (ENCRYPTED_KEY.test(key)) {
    throw new TypeError(`Cannot listen: "tls.key" must not be encrypted (no passphrase is taken)`);
  }
  return { cert, key, alpnProtocols: checkAlpn("listen", alpnProtocols) };
}

function checkTlsShape(
  verb: string,
  tls: unknown,
  keys: readonly string[],
  expected: string,
): void {
  if (typeof tls !== "object" || tls === null || Array.isArray(tls)) {
    throw new TypeError(`Cannot ${verb}: "tls" must be ${expected}, got ${describe(tls)}`);
  }
  // Unknown keys are refused, as at the top level: `rejectUnauthorized: false` or a misspelt
  // `caCert` silently dropped would run a connection other than the one asked for.
  for (const key of Reflect.ownKeys(tls)) {
    if (typeof key !== "string" || !keys.includes(key)) {
      throw new TypeError(
        `Cannot ${verb}: unknown option "tls.${String(key)}"; expected one of ${keys.join(", ")}`,
      );
    }
  }
}

const CERTIFICATE = /-----BEGIN CERTIFICATE-----/;
const PRIVATE_KEY = /-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----/;
const ENCRYPTED_KEY = /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/;

function checkPem(verb: string, name: string, value: unknown, block: RegExp): void {
  if (typeof value !== "string") {
    throw new TypeError(`Cannot ${verb}: "${name}" must be a PEM string, got ${describe(value)}`);
  }
  if (!block.test(value)) {
    const what = block === CERTIFICATE ? "a certificate" : "a private key";
    throw new TypeError(`Cannot ${verb}: "${name}" must be ${what} in PEM form (${block.source})`);
  }
}

function checkPemList(verb: string, name: string, value: unknown, block: RegExp): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    // A PEM is long: it is not quoted back.
    const got = typeof value === "string" ? "one string: put it in an array" : describe(value);
    throw new TypeError(`Cannot ${verb}: "${name}" must be an array of PEM strings, got ${got}`);
  }
  value.forEach((pem, i) => checkPem(verb, `${name}[${i}]`, pem, block));
  return [...value];
}

const utf8 = new TextEncoder();

function checkAlpn(verb: string, value: unknown): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    throw new TypeError(
      `Cannot ${verb}: "tls.alpnProtocols" must be an array of strings, got ${describe(value)}`,
    );
  }
  value.forEach((protocol, i) => {
    if (typeof protocol !== "string") {
      throw new TypeError(
        `Cannot ${verb}: "tls.alpnProtocols[${i}]" must be a string, got ${describe(protocol)}`,
      );
    }
    // ALPN carries each name behind one length byte (RFC 7301), and an empty one is invalid.
    const bytes = utf8.encode(protocol).byteLength;
    if (bytes < 1 || bytes > 255) {
      throw new RangeError(
        `Cannot ${verb}: "tls.alpnProtocols[${i}]" must be 1 to 255 bytes long, got ${bytes}`,
      );
    }
  });
  return [...value];
}
