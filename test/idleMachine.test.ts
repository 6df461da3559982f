/**
 * The idle watchdog (components/machine/idle.py), the real script in the bootstrap sandbox after a
 * real install, on a cloud machine (vLLM) and an Ollama machine; see idle.test.ts for what each
 * part proves. A file of its own so that node's runner runs it beside the others.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { appendFileSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { request, Sandbox, SANDBOX_API_KEY } from "./helpers/sandbox";

import { accessLog, check, COMPLETION, idleRecord, isoOf, lastLogLine, logAt, MIN } from "./helpers/watchdog";

describe("the watchdog on a sandboxed cloud machine (vLLM, 10-minute window)", () => {
  let sb: Sandbox;
  let template = "";
  let t0 = 0;

  before(async () => {
    sb = await Sandbox.create({
      request: { model: "qwen3:8b", engine: "vllm" },
      idle: { minutes: 10, ttlHours: null, countSsh: false, action: "poweroff" },
    });
    const r = await sb.install();
    assert.equal(r.code, 0, r.stdout + r.stderr);
    // One authenticated completion: its line in nginx's own format is the template the tests
    // below stamp with simulated times, and its time is their origin t0.
    const ok = await request(`http://127.0.0.1:${sb.proxyPort}/v1/chat/completions`, {
      method: "POST",
      body: COMPLETION,
      headers: { Authorization: `Bearer ${SANDBOX_API_KEY}`, "Content-Type": "application/json" },
    });
    assert.equal(ok.status, 200);
    template = await lastLogLine(sb, /^\S+ 200 POST \/v1\/chat\/completions /);
    t0 = Date.parse(template.split(" ")[0] ?? "") / 1000;
  });
  after(() => sb?.destroy());

  it("the bootstrap installs the watchdog's service and minute timer, and enables it", () => {
    const timer = readFileSync(sb.p("etc/systemd/system/qwen3-serve-idle.timer"), "utf8");
    assert.match(timer, /^OnBootSec=1min$/m);
    assert.match(timer, /^OnUnitActiveSec=1min$/m);
    assert.match(timer, /^WantedBy=timers\.target$/m, "enabled for every boot");
    assert.match(
      readFileSync(sb.p("etc/systemd/system/qwen3-serve-idle.service"), "utf8"),
      /^ExecStart=.*\/usr\/local\/lib\/qwen3-serve\/idle\.sh$/m,
    );
    assert.ok(
      sb.calls().some((c) => c.cmd === "systemctl" && c.args.join(" ") === "enable --now qwen3-serve-idle.timer"),
    );
    assert.match(readFileSync(sb.p("etc/qwen3-serve/bootstrap.env"), "utf8"), /^IDLE_MINUTES='10'$/m);
    // The log it reads is rotated in place, so it neither fills the disk nor loses nginx's handle.
    const rotate = readFileSync(sb.p("etc/logrotate.d/qwen3-serve"), "utf8");
    assert.ok(rotate.startsWith(`${sb.p("var/log/qwen3-serve/access.log")} {`));
    assert.match(rotate, /^\s+copytruncate$/m);
  });

  it("reads real nginx log lines: an authenticated completion counts, a 401 does not", async () => {
    assert.match(template, /^\S+ 200 POST \/v1\/chat\/completions /);
    // A scanner without the key, 8 minutes later: must not keep the machine up.
    const denied = await request(`http://127.0.0.1:${sb.proxyPort}/v1/chat/completions`, {
      method: "POST",
      body: COMPLETION,
    });
    assert.equal(denied.status, 401);
    const deniedLine = await lastLogLine(sb, / 401 POST /);
    assert.match(deniedLine, / 401 POST /);
    const stamp = new Date((t0 + 8 * MIN) * 1000).toISOString().replace(/\.\d{3}Z$/, "+00:00");
    appendFileSync(accessLog(sb), `${stamp}${deniedLine.slice(deniedLine.indexOf(" "))}\n`);

    // The first check (two minutes before the request) counts itself as activity; only the log
    // can move the last activity to the request's own time.
    assert.equal(check(sb, t0 - 120, { QS_BOOT_AT: String(t0 - 3600) }).code, 0);
    const c = check(sb, t0 + 60, { QS_BOOT_AT: String(t0 - 3600) });
    assert.equal(c.code, 0, c.out);
    assert.equal(idleRecord(sb).lastActivityAt, isoOf(Math.floor(t0)));
    assert.equal(idleRecord(sb).action, "none");
  });

  it("never stops while requests flow, then stops at the first check past the window: within idleMinutes + 1 minute", () => {
    const boot = { QS_BOOT_AT: String(t0 - 3600) };
    // 40 minutes of traffic, a request every 3 minutes (each inside the 10-minute window).
    let last = t0;
    for (let m = 2; m <= 40; m++) {
      if (m % 3 === 0) {
        last = t0 + m * MIN - 20;
        logAt(sb, template, last);
      }
      const c = check(sb, t0 + m * MIN, boot);
      assert.equal(c.code, 0, c.out);
      assert.equal(sb.count("poweroff"), 0, `stopped at minute ${m} while requests flowed`);
    }
    // Traffic ends at `last`; the timer keeps checking every minute.
    const outputs: string[] = [];
    let stoppedAt = 0;
    for (let m = 41; m <= 60 && stoppedAt === 0; m++) {
      const now = t0 + m * MIN;
      outputs.push(check(sb, now, boot).out);
      if (sb.count("poweroff") > 0) stoppedAt = now;
    }
    assert.ok(stoppedAt > 0, "it stopped");
    assert.equal(sb.count("poweroff"), 1);
    assert.ok(stoppedAt - last >= 10 * MIN, "not before the window closed");
    assert.ok(
      stoppedAt - last <= 11 * MIN,
      `within idleMinutes + 1 minute of the last request (took ${stoppedAt - last} s)`,
    );
    assert.match(
      outputs.join(""),
      /WARNING: idle for \d+ min; stopping in \d+ min unless a request arrives/,
      "warned in the journal first",
    );
    assert.match(
      outputs.at(-1) ?? "",
      /stopping \(poweroff\): no inference request for 1[01] min \(idle window 10 min\)/,
    );
    const rec = idleRecord(sb);
    assert.deepEqual([rec.action, rec.lastActivityAt, rec.idleMinutes], ["stop", isoOf(Math.floor(last)), 10]);
  });

  it("a log rotated in place (copytruncate) is read again from its start", () => {
    const start = t0 + 80 * MIN;
    const boot = { QS_BOOT_AT: String(t0 - 3600) };
    check(sb, start, boot);
    writeFileSync(accessLog(sb), ""); // what logrotate's copytruncate does
    logAt(sb, template, start + 30);
    assert.equal(check(sb, start + MIN, boot).code, 0);
    assert.equal(idleRecord(sb).lastActivityAt, isoOf(Math.floor(start + 30)));
  });

  it("the engine's own metrics keep it up without new log lines: running, then tokens advancing; flat tokens let it stop", () => {
    const start = t0 + 100 * MIN;
    const boot = { QS_BOOT_AT: String(t0 - 3600) };
    logAt(sb, template, start);
    const before = sb.count("poweroff");
    writeFileSync(path.join(sb.state, "metrics.json"), JSON.stringify({ running: 1, tokens: 500 }));
    for (let m = 1; m <= 15; m++) assert.equal(check(sb, start + m * MIN, boot).code, 0);
    writeFileSync(path.join(sb.state, "metrics.json"), JSON.stringify({ running: 0, tokens: 500 }));
    for (let m = 16; m <= 20; m++) {
      writeFileSync(path.join(sb.state, "metrics.json"), JSON.stringify({ running: 0, tokens: 500 + m * 10 }));
      check(sb, start + m * MIN, boot);
    }
    assert.equal(sb.count("poweroff"), before, "busy all along");
    // Last sign of work: the token counter moved at minute 20.
    let stopped = 0;
    for (let m = 21; m <= 40 && stopped === 0; m++) {
      check(sb, start + m * MIN, boot);
      if (sb.count("poweroff") > before) stopped = m;
    }
    assert.equal(stopped, 30, "ten minutes after the counter last moved");
  });

  it("metrics down: warns each check and decides on the proxy log alone", () => {
    const start = t0 + 200 * MIN;
    const boot = { QS_BOOT_AT: String(t0 - 3600) };
    logAt(sb, template, start);
    writeFileSync(path.join(sb.state, "metrics.json"), JSON.stringify({ down: true }));
    const before = sb.count("poweroff");
    const c = check(sb, start + 5 * MIN, boot);
    assert.match(c.out, /WARNING: engine metrics unreachable for 0 min; deciding on the proxy log alone/);
    assert.equal(sb.count("poweroff"), before);
    const later = check(sb, start + 10 * MIN, boot);
    assert.match(later.out, /WARNING: engine metrics unreachable for 5 min/);
    assert.equal(sb.count("poweroff"), before + 1);
    rmSync(path.join(sb.state, "metrics.json"));
  });

  it("the env file carries the loading limit: the readiness timeout of `pulumi up` for this plan", () => {
    // 600 s boot + 752 s for the 35 GiB vLLM image at 50 MB/s + 328 s for 16.38 GB of weights at
    // 50 MB/s + the load timeout of 600 + 82 s; no driver to install.
    assert.match(readFileSync(sb.p("etc/qwen3-serve/bootstrap.env"), "utf8"), /^IDLE_LOADING_MAX_SECONDS='2362'$/m);
  });

  it("while the bootstrap runs (a download) it is never idle up to the loading limit; past it the idle rule applies, warned; a TTL stops it regardless", () => {
    const status = sb.p("usr/local/lib/qwen3-serve/status.py");
    const start = t0 + 300 * MIN;
    const boot = { QS_BOOT_AT: String(t0 - 3600) };
    spawnSync("python3", [status, sb.p("var/lib/qwen3-serve/status.json"), "init"], {
      env: { ...process.env, QS_NOW: String(start) },
    });
    const r = spawnSync("python3", [status, sb.p("var/lib/qwen3-serve/status.json"), "phase-start", "weights"], {
      env: { ...process.env, QS_NOW: String(start) },
      encoding: "utf8",
    });
    assert.equal(r.status, 0, r.stderr);
    const before = sb.count("poweroff");
    const ttl = check(sb, start, { QS_BOOT_AT: String(start - 12 * 3600), TTL_HOURS: "12" }, "idle.py");
    assert.match(ttl.out, /stopping \(poweroff\): up 12 h 0 min, past its TTL of 12 h/);
    assert.equal(sb.count("poweroff"), before + 1);
    // The env file's limit is 2362 s (39 min 22 s): a check a minute, no request, never idle till then.
    for (let m = 1; m <= 39; m++) check(sb, start + m * MIN, boot);
    assert.equal(sb.count("poweroff"), before + 1, "loading within the limit is never idle");
    assert.equal(idleRecord(sb).reason, "bootstrap still loading: never idle");
    // Wedged: still "running" past the limit. The window counts from the last check within it.
    const past = check(sb, start + 40 * MIN, boot);
    assert.match(past.out, /WARNING: bootstrap loading for 40 min, past its limit of 39 min; the idle rule applies/);
    let stopped = 0;
    for (let m = 41; m <= 60 && stopped === 0; m++) {
      check(sb, start + m * MIN, boot);
      if (sb.count("poweroff") > before + 1) stopped = m;
    }
    assert.equal(stopped, 49, "ten minutes after the last check within the limit");
  });
});

describe("the watchdog on a sandboxed Ollama machine: streams in flight, unreadable files, a full disk", () => {
  let sb: Sandbox;
  let base = 0;
  const boot = (): Record<string, string> => ({ QS_BOOT_AT: String(base - 10 * 3600) });
  const statusFile = (): string => sb.p("var/lib/qwen3-serve/status.json");
  const stateFile = (): string => sb.p("var/lib/qwen3-serve/idle-state.json");

  before(async () => {
    sb = await Sandbox.create({
      request: { model: "qwen3:0.6b", engine: "ollama" },
      idle: { minutes: 10, ttlHours: null, countSsh: false, action: "poweroff" },
    });
    const r = await sb.install();
    assert.equal(r.code, 0, r.stdout + r.stderr);
    base = Math.ceil(Date.now() / 1000) + 60; // after the install's own requests and its readyAt
  });
  after(() => sb?.destroy());

  it("a stream held open through nginx past the window keeps the machine up; after it ends, the window stops it", async () => {
    rmSync(path.join(sb.state, "release-stream"), { force: true });
    assert.equal(check(sb, base, boot()).code, 0);
    const res = await fetch(`http://127.0.0.1:${sb.proxyPort}/v1/chat/completions`, {
      method: "POST",
      headers: { Authorization: `Bearer ${SANDBOX_API_KEY}`, "Content-Type": "application/json" },
      body: JSON.stringify({
        model: sb.plan.serve.servedModelName,
        stream: true,
        messages: [{ role: "user", content: "hi" }],
      }),
    });
    assert.equal(res.status, 200);
    assert.ok(res.body);
    const reader = res.body.getReader();
    assert.match(new TextDecoder().decode((await reader.read()).value), /"content":"Hel"/);
    // Eleven minutes since the last activity, no log line yet: only the request in flight shows use.
    const during = check(sb, base + 11 * MIN, boot());
    assert.equal(during.code, 0, during.out);
    assert.equal(sb.count("poweroff"), 0, `stopped a machine in the middle of a stream: ${during.out}`);
    assert.deepEqual([idleRecord(sb).action, idleRecord(sb).lastActivityAt], ["none", isoOf(base + 11 * MIN)]);
    writeFileSync(path.join(sb.state, "release-stream"), "1");
    for (let r = await reader.read(); !r.done; r = await reader.read());
    rmSync(path.join(sb.state, "release-stream"));
    assert.equal(check(sb, base + 20 * MIN, boot()).code, 0);
    assert.equal(sb.count("poweroff"), 0);
    const last = check(sb, base + 21 * MIN, boot());
    assert.match(last.out, /stopping \(poweroff\): no inference request for 10 min \(idle window 10 min\)/);
    assert.equal(sb.count("poweroff"), 1);
  });

  it("a truncated, a non-UTF-8 and a wrong-shaped status.json: each check warns, applies the idle rule, and powers off", () => {
    const good = readFileSync(statusFile());
    const cases: [content: Buffer | string, warning: RegExp][] = [
      [
        '{"state": "rea',
        /WARNING: bootstrap status .*status\.json unreadable \(JSONDecodeError: .*\); the idle rule applies/,
      ],
      [
        Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
        /WARNING: bootstrap status .*status\.json unreadable \(UnicodeDecodeError: .*\); the idle rule applies/,
      ],
      ["[1, 2]", /WARNING: bootstrap status .*status\.json holds a JSON list, not an object; the idle rule applies/],
      [
        '{"state": 5, "readyAt": 12, "startedAt": []}',
        /WARNING: bootstrap status .*status\.json has state 5; the idle rule applies/,
      ],
    ];
    let n = sb.count("poweroff");
    for (const [i, [content, warning]] of cases.entries()) {
      writeFileSync(statusFile(), content);
      // Ten minutes and more since the last check saw any use.
      const c = check(sb, base + (40 + i) * MIN, boot());
      assert.equal(c.code, 0, c.out);
      assert.match(c.out, warning);
      assert.match(c.out, /stopping \(poweroff\): no inference request for \d+ min \(idle window 10 min\)/);
      assert.equal(sb.count("poweroff"), ++n, `case ${i}: ${c.out}`);
    }
    writeFileSync(statusFile(), good);
  });

  it("a wrong-shaped idle state file: the bad fields are dropped with a warning, and the window runs afresh", () => {
    writeFileSync(
      stateFile(),
      JSON.stringify({ bootId: "sandbox-boot", lastActivityAt: "2027-01-15T08:00:00Z", log: "?", tokens: null }),
    );
    const n = sb.count("poweroff");
    const first = check(sb, base + 60 * MIN, boot());
    assert.equal(first.code, 0, first.out);
    assert.match(first.out, /WARNING: idle state .*idle-state\.json: ignored malformed lastActivityAt, log, tokens/);
    assert.equal(sb.count("poweroff"), n, "the first check of a fresh record counts as activity");
    writeFileSync(stateFile(), Buffer.from([0xff, 0x00, 0x7b]));
    const garbled = check(sb, base + 61 * MIN, boot());
    assert.match(
      garbled.out,
      /WARNING: idle state .*idle-state\.json unreadable \(UnicodeDecodeError: .*\); starting its record afresh/,
    );
    check(sb, base + 70 * MIN, boot());
    assert.equal(sb.count("poweroff"), n);
    check(sb, base + 71 * MIN, boot());
    assert.equal(sb.count("poweroff"), n + 1);
  });

  it("a full disk (ENOSPC) while recording: it powers off first, warns, and keeps its state on /run", () => {
    const n = sb.count("poweroff");
    // Writing the state's temp file hits /dev/full: "No space left on device", as on a full disk.
    symlinkSync("/dev/full", `${stateFile()}.tmp`);
    try {
      const c = check(sb, base + 90 * MIN, boot());
      assert.equal(c.code, 0, c.out);
      assert.equal(sb.count("poweroff"), n + 1, c.out);
      assert.match(
        c.out,
        /WARNING: cannot record idle state in .*idle-state\.json \(\[Errno 28\] No space left on device\); kept in .*run\/qwen3-serve-idle-state\.json/,
      );
      const kept = JSON.parse(readFileSync(sb.p("run/qwen3-serve-idle-state.json"), "utf8")) as { checkedAt: number };
      assert.equal(kept.checkedAt, base + 90 * MIN);
    } finally {
      rmSync(`${stateFile()}.tmp`, { force: true });
    }
  });

  it("a status file it cannot lock (a directory where the lock file goes): it still powers off, and warns", () => {
    const lock = `${statusFile()}.lock`;
    rmSync(lock, { force: true });
    mkdirSync(lock);
    try {
      const n = sb.count("poweroff");
      const c = check(sb, base + 120 * MIN, boot());
      assert.equal(sb.count("poweroff"), n + 1, c.out);
      assert.match(
        c.out,
        /WARNING: cannot record the decision in .*status\.json \(\[Errno 21\] Is a directory: .*status\.json\.lock'\)/,
      );
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
  });
});
