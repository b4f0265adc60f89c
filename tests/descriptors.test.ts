/**
 * A process at its descriptor limit (EMFILE) can still set keepalive on a connection it holds:
 * finding the socket needs no descriptor of its own (Deno lists /proc/self/fd, which takes one,
 * and otherwise tries every number below the limit, each verified as always).
 */
import assert from "node:assert/strict";
import { fixture, Proc, runtimeCommand, test, withServer } from "./harness.ts";

test("descriptors: setKeepAlive works at the process's descriptor limit", async () => {
  await withServer(async (port) => {
    const argv = runtimeCommand(fixture("emfile_child.ts"), [String(port)]);
    const quoted = argv.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ");
    const child = new Proc(["bash", "-c", `ulimit -n 256 && exec ${quoted}`]);
    try {
      assert.equal(await child.exited(), 0, child.stderr);
      const lines = child.lines.map((l) => JSON.parse(l));
      const probe = lines.find((l) => l.when === "probe");
      assert.ok(probe?.full, `the child did not reach its limit: ${child.lines.join("\n")}`);
      const atLimit = lines.find((l) => l.when === "at the limit");
      assert.equal(atLimit?.code, undefined, `at the limit: ${atLimit?.code} ${atLimit?.message}`);
      assert.equal(atLimit.keepAlive.idle, 7000);
      assert.equal(atLimit.keepAlive.count, 4);
      assert.equal(atLimit.keepAlive.enabled, true);
    } finally {
      await child.kill();
    }
  });
}, { timeout: 30_000, sanitize: false });
