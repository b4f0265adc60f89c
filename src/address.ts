/**
 * IP addresses as text (what runtimes report) and as sockaddr bytes (what the kernel reports),
 * both brought to one form for comparison: 16 bytes, IPv4 as IPv4-mapped IPv6.
 *
 * @module
 */

/**
 * An endpoint as a runtime reports it.
 *
 * @example
 * ```ts
 * import type { SocketAddress } from "@sockalive/sockalive";
 * import assert from "node:assert/strict";
 * // The shape of `conn.localAddr`, `conn.remoteAddr` and `server.addr`:
 * const format = ({ hostname, port }: SocketAddress) =>
 *   hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
 * assert.equal(format({ hostname: "127.0.0.1", port: 7000 }), "127.0.0.1:7000");
 * assert.equal(format({ hostname: "::1", port: 7000 }), "[::1]:7000");
 * ```
 */
export interface SocketAddress {
  /** A literal IPv4 or IPv6 address (IPv6 may be bracketed or carry a %zone). */
  hostname: string;
  /** The TCP port. */
  port: number;
}

/** An endpoint in comparable form. */
export interface Endpoint {
  /** 16 bytes; IPv4 is stored as ::ffff:a.b.c.d. */
  address: Uint8Array;
  /** The TCP port. */
  port: number;
}

/** Addresses parsed lately: a process talks to few peers, from few local addresses. */
const PARSED = new Map<string, Uint8Array | undefined>();
const MAX_PARSED = 256;

/**
 * {@linkcode parseIp}, remembered: every lookup and verification converts the same few address
 * strings, and parsing each anew made a new array each time. The bytes are only ever read.
 */
function parsedIp(text: string): Uint8Array | undefined {
  let bytes = PARSED.get(text);
  if (bytes === undefined && !PARSED.has(text)) {
    bytes = parseIp(text);
    if (PARSED.size >= MAX_PARSED) PARSED.clear();
    PARSED.set(text, bytes);
  }
  return bytes;
}

/**
 * Parses a literal IPv4 or IPv6 address into 16 bytes, or returns `undefined` if `text` is not
 * one (a host name, say).
 */
export function parseIp(text: string): Uint8Array | undefined {
  let s = text.trim();
  if (s.startsWith("[") && s.endsWith("]")) s = s.slice(1, -1);
  const zone = s.indexOf("%");
  if (zone >= 0) s = s.slice(0, zone);
  const v4 = parseIpv4(s);
  if (v4) return mapped(v4);
  if (!s.includes(":")) return undefined;
  // An IPv6 address may end in dotted IPv4 (::ffff:1.2.3.4): rewrite that as two hex groups.
  const lastColon = s.lastIndexOf(":");
  if (s.slice(lastColon + 1).includes(".")) {
    const v4 = parseIpv4(s.slice(lastColon + 1));
    if (!v4) return undefined;
    const hex = (hi: number, lo: number) => ((hi << 8) | lo).toString(16);
    s = `${s.slice(0, lastColon + 1)}${hex(v4[0], v4[1])}:${hex(v4[2], v4[3])}`;
  }
  const halves = s.split("::");
  if (halves.length > 2) return undefined;
  const parseGroups = (part: string): number[] | undefined => {
    if (part === "") return [];
    const groups = part.split(":").map((g) => /^[0-9a-fA-F]{1,4}$/.test(g) ? parseInt(g, 16) : -1);
    return groups.includes(-1) ? undefined : groups;
  };
  const [before = "", after] = halves;
  const head = parseGroups(before);
  const rest = after === undefined ? [] : parseGroups(after);
  if (!head || !rest) return undefined;
  const total = head.length + rest.length;
  if (halves.length === 1 ? total !== 8 : total > 7) return undefined;
  const groups = [...head, ...new Array(8 - total).fill(0), ...rest];
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  return bytes;
}

/** Four dot-separated parts of one to three decimal digits, each at most 255. */
function parseIpv4(s: string): [number, number, number, number] | undefined {
  // By hand rather than split + regex: this runs twice for every connection opened.
  const bytes: [number, number, number, number] = [0, 0, 0, 0];
  let part = 0, digits = 0, value = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46 /* . */) {
      if (digits === 0 || part === 3) return undefined;
      bytes[part++] = value;
      digits = 0;
      value = 0;
    } else if (c >= 48 && c <= 57 && digits < 3) {
      value = value * 10 + (c - 48);
      if (value > 255) return undefined;
      digits++;
    } else {
      return undefined;
    }
  }
  if (digits === 0 || part !== 3) return undefined;
  bytes[3] = value;
  return bytes;
}

function mapped(v4: number[]): Uint8Array {
  const bytes = new Uint8Array(16);
  bytes[10] = 0xff;
  bytes[11] = 0xff;
  bytes.set(v4, 12);
  return bytes;
}

/** Whether `endpoint` is an IPv4 address (held as ::ffff:a.b.c.d). */
export function isIpv4(endpoint: Endpoint): boolean {
  const address = endpoint.address;
  for (let i = 0; i < 10; i++) if (address[i] !== 0) return false;
  return address[10] === 0xff && address[11] === 0xff;
}

/** Brings a runtime's address into comparable form; `undefined` if it is not a literal IP. */
export function toEndpoint(address: SocketAddress): Endpoint | undefined {
  const bytes = parsedIp(address.hostname);
  return bytes && Number.isInteger(address.port)
    ? { address: bytes, port: address.port }
    : undefined;
}

/**
 * Whether the sockaddr the kernel wrote (`length` bytes of `raw`) is `endpoint`, compared in
 * place, without making anything (this runs for every candidate descriptor of every
 * connection). Families other than IPv4 and IPv6 never match.
 */
export function sockaddrIs(
  raw: Uint8Array,
  length: number,
  families: { inet: number; inet6: number; lengthByte: boolean },
  endpoint: Endpoint,
): boolean {
  // `raw` is a sockaddr buffer (at least 28 bytes): every index read here is within it.
  if (length < 8 || portOf(raw) !== endpoint.port) return false;
  const family = familyOf(raw, families);
  const address = endpoint.address;
  if (family === families.inet) {
    // IPv4 is compared as ::ffff:a.b.c.d, the form parseIp gives it.
    for (let i = 0; i < 10; i++) if (address[i] !== 0) return false;
    if (address[10] !== 0xff || address[11] !== 0xff) return false;
    for (let i = 0; i < 4; i++) if (address[12 + i] !== raw[4 + i]) return false;
    return true;
  }
  if (family === families.inet6 && length >= 24) {
    for (let i = 0; i < 16; i++) if (address[i] !== raw[8 + i]) return false;
    return true;
  }
  return false;
}

/**
 * The endpoint in the sockaddr the kernel wrote (`length` bytes of `raw`; as in
 * {@linkcode sockaddrIs}), or `undefined` if the call failed (`length < 0`) or the family is
 * neither IPv4 nor IPv6 (a Unix socket, say).
 */
export function sockaddrEndpoint(
  raw: Uint8Array,
  length: number,
  families: { inet: number; inet6: number; lengthByte: boolean },
): Endpoint | undefined {
  if (length < 8) return undefined;
  const port = portOf(raw);
  const family = familyOf(raw, families);
  if (family === families.inet) {
    const address = new Uint8Array(16);
    address[10] = 0xff;
    address[11] = 0xff;
    address.set(raw.subarray(4, 8), 12);
    return { address, port };
  }
  if (family === families.inet6 && length >= 24) return { address: raw.slice(8, 24), port };
  return undefined;
}

/**
 * A sockaddr's family: `lengthByte` is true on BSD and macOS, where the family is one byte after
 * a length byte; Linux and Windows store it in 16 bits, little-endian.
 */
function familyOf(raw: Uint8Array, families: { lengthByte: boolean }): number {
  return families.lengthByte ? raw[1]! : raw[0]! | (raw[1]! << 8);
}

/** A sockaddr's port, stored in network order in both IPv4 and IPv6 ones. */
function portOf(raw: Uint8Array): number {
  return (raw[2]! << 8) | raw[3]!;
}

/** Dotted texts made lately, by the address as a 32-bit number: a process talks to few. */
const IPV4_TEXTS = new Map<number, string>();
const MAX_IPV4_TEXTS = 256;

/**
 * An IPv4 endpoint's address as dotted text (what runtimes report), or `undefined` for IPv6.
 * The same string is given again for the same address: a process's connections share few
 * addresses, and each connection need not hold a copy of its own.
 */
export function ipv4Text(endpoint: Endpoint): string | undefined {
  if (!isIpv4(endpoint)) return undefined;
  const a = endpoint.address;
  const bytes = ((a[12]! << 24) | (a[13]! << 16) | (a[14]! << 8) | a[15]!) >>> 0;
  let text = IPV4_TEXTS.get(bytes);
  if (text === undefined) {
    if (IPV4_TEXTS.size >= MAX_IPV4_TEXTS) IPV4_TEXTS.clear();
    text = `${a[12]}.${a[13]}.${a[14]}.${a[15]}`;
    IPV4_TEXTS.set(bytes, text);
  }
  return text;
}
