/**
 * The idle watchdog (components/machine/idle.py) on a sandboxed workstation (it stops the engine,
 * not the machine), and a stack changing the watchdog's settings on a running machine.
 */
import assert from "node:assert/strict";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { request, Sandbox, SANDBOX_API_KEY } from "./helpers/sandbox";

import { check, idleRecord, MIN } from "./helpers/watchdog";

describe("the watchdog on a sandboxed workstation: stops the engine, not the machine", () => {
  let sb: Sandbox;
  before(async () => {
    sb = await Sandbox.create({
      request: { model: "qwen3:0.6b", engine: "ollama" },
      secrets: "file",
      idle: { minutes: 5, ttlHours: null, countSsh: true, action: "stop-engine" },
    });
    const r = await sb.install();
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });
  after(() => sb?.destroy());

  it("an SSH session keeps it; without one it stops the engine unit once; the endpoint then fails; a restart resets the clock", async () => {
    const base = Date.now() / 1000 + 3600;
    const boot = { QS_BOOT_AT: String(base - 3600) };
    writeFileSync(path.join(sb.state, "who.txt"), "ubuntu   pts/0        2027-01-15 08:00 (198.51.100.7)\n");
    check(sb, base, boot);
    check(sb, base + 10 * MIN, boot);
    const stops = (): number =>
      sb.calls().filter((c) => c.cmd === "systemctl" && c.args.join(" ") === "stop qwen3-serve-engine.service").length;
    assert.equal(stops(), 0, "a logged-in user counts as activity when idleCountsSsh is set");
    rmSync(path.join(sb.state, "who.txt"));
    const c = check(sb, base + 15 * MIN, boot);
    assert.match(c.out, /stopping \(stop-engine\): no inference request for 5 min/);
    assert.equal(stops(), 1);
    assert.equal(sb.calls().filter((x) => x.args[0] === "poweroff").length, 0, "never powers off someone's machine");
    const res = await request(`http://127.0.0.1:${sb.proxyPort}/v1/models`, {
      headers: { Authorization: `Bearer ${SANDBOX_API_KEY}` },
    });
    assert.equal(res.status, 502, "the GPU is free; the proxy has nothing behind it");
    // Hours later, still stopped, nothing more to do.
    assert.match(check(sb, base + 200 * MIN, boot).out, /^$/);
    assert.equal(stops(), 1);
    assert.match(String(idleRecord(sb).reason), /^stopped at .*; start the engine to serve again$/);
    // Someone starts it again: a fresh window, not an instant stop.
    assert.equal((await sb.run(["systemctl", "start", "qwen3-serve-engine.service"])).code, 0);
    check(sb, base + 201 * MIN, boot);
    check(sb, base + 204 * MIN, boot);
    assert.equal(stops(), 1);
    check(sb, base + 206 * MIN, boot);
    assert.equal(stops(), 2);
  });
});

describe("changing the watchdog's settings on a machine", () => {
  let sb: Sandbox;
  before(async () => {
    sb = await Sandbox.create({
      request: { model: "qwen3:8b", engine: "vllm" },
      secrets: "file",
      idle: { minutes: 30, ttlHours: null, countSsh: false, action: "stop-engine" },
    });
    const r = await sb.install();
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });
  after(() => sb?.destroy());

  it("a new window or TTL in the env file re-runs the bootstrap without restarting the engine", async () => {
    const env = sb.p("etc/qwen3-serve/bootstrap.env");
    writeFileSync(
      env,
      readFileSync(env, "utf8")
        .replace(/^IDLE_MINUTES='30'$/m, "IDLE_MINUTES='90'")
        .replace(/^TTL_HOURS=''$/m, "TTL_HOURS='8'"),
    );
    const before = sb.calls().length;
    const r = await sb.bootstrap();
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const restarts = sb
      .calls()
      .slice(before)
      .filter(
        (c) =>
          c.cmd === "systemctl" &&
          /^(re)?start$/.test(c.args[0] ?? "") &&
          c.args.includes("qwen3-serve-engine.service"),
      );
    assert.deepEqual(restarts, [], "the model stays loaded");
    assert.equal(sb.status().state, "ready");
  });
});
