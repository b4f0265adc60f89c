import assert from "node:assert/strict";
import { test } from "./harness.ts";
import { decodeSockaddr, parseIp, sameEndpoint, toEndpoint } from "../src/address.ts";

const hex = (b: Uint8Array | undefined) =>
  b && [...b].map((x) => x.toString(16).padStart(2, "0")).join("");

test("address: IPv4 and IPv6 text parse to one 16-byte form", () => {
  assert.equal(hex(parseIp("127.0.0.1")), "00000000000000000000ffff7f000001");
  assert.equal(hex(parseIp("::ffff:127.0.0.1")), "00000000000000000000ffff7f000001");
  assert.equal(hex(parseIp("::1")), "00000000000000000000000000000001");
  assert.equal(hex(parseIp("[::1]")), "00000000000000000000000000000001");
  assert.equal(hex(parseIp("fe80::1%eth0")), "fe800000000000000000000000000001");
  assert.equal(hex(parseIp("2001:db8:0:0:1:0:0:1")), "20010db8000000000001000000000001");
  assert.equal(hex(parseIp("2001:db8::")), "20010db8000000000000000000000000");
  for (
    const bad of ["localhost", "1.2.3", "256.1.1.1", "1::2::3", "12345::", "1:2:3:4:5:6:7:8:9", ""]
  ) {
    assert.equal(parseIp(bad), undefined, bad);
  }
});

test("address: sockaddr_in and sockaddr_in6 decode (Linux layout)", () => {
  const v4 = new Uint8Array(16);
  v4.set([2, 0, 0x1b, 0x58, 198, 18, 0, 2]);
  const e4 = decodeSockaddr(v4, 16)!;
  assert.equal(e4.port, 7000);
  assert.ok(sameEndpoint(e4, toEndpoint({ hostname: "198.18.0.2", port: 7000 })!));
  assert.ok(!sameEndpoint(e4, toEndpoint({ hostname: "198.18.0.2", port: 7001 })!));
  const v6 = new Uint8Array(28);
  v6.set([10, 0, 0, 80]);
  v6[23] = 1;
  assert.ok(sameEndpoint(decodeSockaddr(v6, 28)!, toEndpoint({ hostname: "::1", port: 80 })!));
  assert.equal(decodeSockaddr(new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]), 8), undefined); // AF_UNIX
  assert.equal(decodeSockaddr(v6, 4), undefined);
});
