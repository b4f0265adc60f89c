import assert from "node:assert/strict";
import { test } from "./harness.ts";
import { parseIp, sockaddrIs, toEndpoint } from "../src/address.ts";
import { linux } from "../src/os/linux.ts";

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

test("address: sockaddr_in and sockaddr_in6 compare with endpoints (Linux layout)", () => {
  const is = (raw: Uint8Array, length: number, hostname: string, port: number) =>
    sockaddrIs(raw, length, linux.families, toEndpoint({ hostname, port })!);
  const v4 = new Uint8Array(16);
  v4.set([2, 0, 0x1b, 0x58, 198, 18, 0, 2]);
  assert.ok(is(v4, 16, "198.18.0.2", 7000));
  assert.ok(!is(v4, 16, "198.18.0.2", 7001));
  assert.ok(!is(v4, 16, "198.18.0.3", 7000));
  assert.ok(!is(v4, 16, "::ffff:0:c612:2", 7000), "IPv4 is only ever ::ffff:a.b.c.d");
  const v6 = new Uint8Array(28);
  v6.set([10, 0, 0, 80]);
  v6[23] = 1;
  assert.ok(is(v6, 28, "::1", 80));
  assert.ok(!is(v6, 28, "::2", 80));
  assert.ok(!is(new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]), 8, "0.0.0.0", 0)); // AF_UNIX
  assert.ok(!is(v6, 4, "::1", 80));
  assert.ok(!is(v6, 23, "::1", 80), "an IPv6 sockaddr shorter than its address");
});
