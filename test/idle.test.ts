/**
 * The idle watchdog (components/machine/idle.py).
 *
 * 1. Its rule as a pure function, called through `idle.py decide` (JSON in, JSON out): busy, idle
 *    below the window, warning, idle past the window, metrics that show work, grace after boot,
 *    download in progress, TTL, SSH on and off, metrics down (warned, never "busy forever"), a new
 *    boot, an engine we stopped and one restarted by hand, a failed bootstrap.
 * 2. The real script in the bootstrap sandbox, after a real install: the bootstrap installs and
 *    enables the timer; real nginx writes the access log the watchdog reads; the fake engine serves
 *    /metrics; the clock is injected (QS_NOW) and the shutdown is the systemctl stub. It shows the
 *    machine stops at the first check after idleMinutes from the last request (so within
 *    idleMinutes + 1 minute), never while requests flow or the engine reports work, and that a
 *    401 does not count as use.
 * 3. The workstation action (stop the engine unit, then leave it until someone restarts it) and
 *    the Docker action (stop engine and proxy through a fake Docker Engine API on a unix socket).
 * 4. What must never leave it stuck or wrong, on a sandboxed Ollama machine: a stream held open
 *    through real nginx (counted by stub_status, as Ollama has no metrics and logs a request when
 *    it ends), corrupted status and state files, a full disk and an unlockable status file (it acts
 *    first, then records), and a bootstrap wedged in "loading" past its limit.
 */
import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { request, Sandbox, SANDBOX_API_KEY } from "./helpers/sandbox";

const IDLE_PY = path.resolve(__dirname, "..", "components", "machine", "idle.py");
const T = 1_800_000_000; // 2027-01-15T08:00:00Z: a fixed "now" for the table
const MIN = 60;
const isoOf = (t: number): string => new Date(t * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");

interface Decision {
  action: "none" | "warn" | "stop";
  reason: string;
  warnings: string[];
  lastActivityAt: string | null;
  stopAt: string | null;
  state: Record<string, unknown>;
}

function decide(
  now: number,
  sample: Record<string, unknown>,
  state: Record<string, unknown>,
  settings: Record<string, unknown>,
): Decision {
  const r = spawnSync("python3", [IDLE_PY, "decide"], {
    input: JSON.stringify({ now, sample, state, settings }),
    encoding: "utf8",
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Decision;
}

const SETTINGS = {
  idleMinutes: 30,
  ttlHours: null,
  countSsh: false,
  graceMinutes: 10,
  warnMinutes: 5,
  action: "poweroff",
};
const SAMPLE = {
  bootId: "b1",
  bootAt: T - 3600,
  phase: "ready",
  readyAt: T - 3000,
  lastRequestAt: null,
  engine: { ok: true, running: 0, waiting: 0, tokens: 100 },
  sessions: 0,
  engineActive: true,
};
const STATE = (lastAgoMin: number, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  bootId: "b1",
  lastActivityAt: T - lastAgoMin * MIN,
  tokens: 100,
  ...extra,
});

describe("the watchdog's rule (pure)", () => {
  type Row = [
    name: string,
    sample: Record<string, unknown>,
    state: Record<string, unknown>,
    settings: Record<string, unknown>,
    want: Partial<Decision>,
  ];
  const rows: Row[] = [
    [
      "a request 2 minutes ago: busy",
      { lastRequestAt: T - 2 * MIN },
      STATE(50),
      {},
      {
        action: "none",
        reason: `idle for 2 min; stop due at ${isoOf(T + 28 * MIN)}`,
        lastActivityAt: isoOf(T - 2 * MIN),
      },
    ],
    [
      "idle 20 minutes of 30",
      {},
      STATE(20),
      {},
      { action: "none", reason: `idle for 20 min; stop due at ${isoOf(T + 10 * MIN)}` },
    ],
    [
      "idle 26 minutes: warns before acting",
      {},
      STATE(26),
      {},
      { action: "warn", reason: "idle for 26 min; stopping in 4 min unless a request arrives" },
    ],
    [
      "idle 30 minutes: stops",
      {},
      STATE(30),
      {},
      { action: "stop", reason: "no inference request for 30 min (idle window 30 min)", stopAt: isoOf(T) },
    ],
    [
      "no request for an hour but one still running: busy",
      { engine: { ok: true, running: 1, waiting: 0, tokens: 100 } },
      STATE(60),
      {},
      { action: "none", lastActivityAt: isoOf(T) },
    ],
    [
      "requests waiting in the queue: busy",
      { engine: { ok: true, running: 0, waiting: 2, tokens: 100 } },
      STATE(60),
      {},
      { action: "none", lastActivityAt: isoOf(T) },
    ],
    [
      "generated tokens advanced since the last check: busy",
      { engine: { ok: true, running: 0, waiting: 0, tokens: 180 } },
      STATE(60),
      {},
      { action: "none", lastActivityAt: isoOf(T) },
    ],
    // Ready 50 minutes ago: the window counts from then, not from older activity.
    [
      "tokens unchanged, nothing running: stops",
      {},
      STATE(60),
      {},
      { action: "stop", reason: "no inference request for 50 min (idle window 30 min)" },
    ],
    [
      "just booted, nothing yet: the grace period holds",
      { bootAt: T - 5 * MIN, readyAt: null },
      { bootId: "b1" },
      {},
      { action: "none", reason: `idle for 0 min; stop due at ${isoOf(T + 35 * MIN)}` },
    ],
    [
      "weights still downloading, for hours: never idle",
      { phase: "running", readyAt: null, engine: null },
      STATE(600),
      {},
      { action: "none", reason: "bootstrap still loading: never idle", lastActivityAt: isoOf(T) },
    ],
    [
      "after a driver reboot, still loading: never idle",
      { phase: "rebooting", readyAt: null, engine: null },
      STATE(600),
      {},
      { action: "none", reason: "bootstrap still loading: never idle" },
    ],
    [
      "TTL reached while busy: stops regardless",
      { bootAt: T - 2 * 3600, lastRequestAt: T },
      STATE(0),
      { ttlHours: 2 },
      { action: "stop", reason: "up 2 h 0 min, past its TTL of 2 h" },
    ],
    [
      "TTL reached during a download: stops regardless",
      { bootAt: T - 3 * 3600, phase: "running", engine: null },
      STATE(0),
      { ttlHours: 2.5 },
      { action: "stop", reason: "up 3 h 0 min, past its TTL of 2.5 h" },
    ],
    [
      "TTL 3 minutes away: warns",
      { bootAt: T - 117 * MIN, lastRequestAt: T },
      STATE(0),
      { ttlHours: 2 },
      { action: "warn", reason: "TTL of 2 h; stopping in 3 min unless a request arrives" },
    ],
    [
      "an SSH session counts when asked",
      { sessions: 1 },
      STATE(60),
      { countSsh: true },
      { action: "none", lastActivityAt: isoOf(T) },
    ],
    ["an SSH session does not count by default", { sessions: 1 }, STATE(60), {}, { action: "stop" }],
    [
      "metrics down: warned, and the proxy log alone decides (busy here)",
      { engine: { ok: false }, lastRequestAt: T - 10 * MIN },
      STATE(60, { metricsDownSince: T - 20 * MIN }),
      {},
      {
        action: "none",
        warnings: ["engine metrics unreachable for 20 min; deciding on the proxy log alone"],
        lastActivityAt: isoOf(T - 10 * MIN),
      },
    ],
    [
      "metrics down is never busy forever: the window still closes",
      { engine: { ok: false } },
      STATE(31),
      {},
      { action: "stop", warnings: ["engine metrics unreachable for 0 min; deciding on the proxy log alone"] },
    ],
    [
      "idle stop off and no TTL: never acts",
      {},
      STATE(6000),
      { idleMinutes: null },
      { action: "none", reason: "idle stop is off and no TTL is set", stopAt: null },
    ],
    [
      "a failed bootstrap is idle from its failure on",
      { phase: "failed", readyAt: null, engine: null },
      STATE(31),
      {},
      { action: "stop" },
    ],
    // Ollama has no metrics and logs a request when it ends: the proxy's in-flight count is what shows a long stream.
    [
      "a request in flight at the proxy, no log line for an hour: busy",
      { engine: null, inFlight: 1 },
      STATE(60),
      {},
      { action: "none", lastActivityAt: isoOf(T) },
    ],
    [
      "in-flight count unreadable: warned, and the rest decides",
      { engine: null, inFlight: null },
      STATE(31),
      {},
      {
        action: "stop",
        warnings: ["proxy's count of requests in flight unreadable; a stream longer than the window may be cut"],
      },
    ],
    [
      "loading within its limit (the readiness timeout): never idle",
      { phase: "running", readyAt: null, engine: null, loadingSince: T - 119 * MIN },
      STATE(600),
      { loadingMaxSeconds: 7200 },
      { action: "none", reason: "bootstrap still loading: never idle", lastActivityAt: isoOf(T) },
    ],
    [
      "loading past its limit (a wedged bootstrap): warned, and the idle rule applies",
      { phase: "running", readyAt: null, engine: null, loadingSince: T - 150 * MIN },
      STATE(30),
      { loadingMaxSeconds: 7200 },
      {
        action: "stop",
        reason: "no inference request for 30 min (idle window 30 min)",
        warnings: ["bootstrap loading for 2 h 30 min, past its limit of 2 h 0 min; the idle rule applies"],
      },
    ],
    [
      "loading with no start time: its age counts from the first check that saw it",
      { phase: "rebooting", readyAt: null, engine: null },
      STATE(600, { loadingSince: T - 121 * MIN }),
      { loadingMaxSeconds: 7200 },
      {
        action: "stop",
        reason: "no inference request for 50 min (idle window 30 min)",
        warnings: ["bootstrap loading for 2 h 1 min, past its limit of 2 h 0 min; the idle rule applies"],
      },
    ],
    [
      "an unreadable bootstrap status is not loading: the idle rule applies",
      { phase: "unknown", readyAt: null },
      STATE(31),
      {},
      { action: "stop", reason: "no inference request for 31 min (idle window 30 min)" },
    ],
  ];
  for (const [name, sample, state, settings, want] of rows) {
    it(name, () => {
      const d = decide(T, { ...SAMPLE, ...sample }, state, { ...SETTINGS, ...settings });
      const got = Object.fromEntries(Object.keys(want).map((k) => [k, d[k as keyof Decision]]));
      assert.deepEqual(got, want);
      if (!("warnings" in want)) assert.deepEqual(d.warnings, []);
    });
  }

  it("a new boot forgets the last boot's activity and stop, and starts its grace", () => {
    const d = decide(
      T,
      { ...SAMPLE, bootId: "b2", bootAt: T - 60, readyAt: null },
      STATE(600, { bootId: "b1", stoppedAt: T - 3600 }),
      SETTINGS,
    );
    assert.equal(d.action, "none");
    assert.equal(d.state.bootId, "b2");
    assert.equal(d.state.stoppedAt, undefined);
    assert.equal(d.state.lastActivityAt, T, "the first check of a boot counts as activity");
    assert.equal(d.stopAt, isoOf(T - 60 + 10 * MIN + 30 * MIN), "the window starts when the grace ends");
  });

  it("poweroff keeps no stop marker, so a machine that did not go down is stopped again next minute", () => {
    const first = decide(T, SAMPLE, STATE(31), SETTINGS);
    assert.equal(first.action, "stop");
    assert.equal(first.state.stoppedAt, undefined);
    assert.equal(decide(T + 60, SAMPLE, first.state, SETTINGS).action, "stop");
  });

  it("stop-engine: stops once, then waits while the engine is down, and restarts its clock when someone starts it", () => {
    const s = { ...SETTINGS, action: "stop-engine", ttlHours: 1 };
    const first = decide(T, SAMPLE, STATE(31, { upSince: T - 40 * MIN }), s);
    assert.deepEqual([first.action, first.state.stoppedAt], ["stop", T]);
    const down = decide(T + 3600, { ...SAMPLE, engineActive: false, engine: { ok: false } }, first.state, s);
    assert.deepEqual(
      [down.action, down.reason, down.warnings],
      ["none", `stopped at ${isoOf(T)}; start the engine to serve again`, []],
    );
    const back = decide(T + 7200, SAMPLE, down.state, s);
    assert.equal(back.action, "none", "a restarted engine gets a fresh window and a fresh TTL");
    assert.deepEqual(
      [back.state.stoppedAt, back.state.lastActivityAt, back.state.upSince],
      [undefined, T + 7200, T + 7200],
    );
  });
});

// ---- the real script in the sandbox ----------------------------------------------------------------

/** Run one watchdog check at a simulated time, as the timer would. */
function check(
  sb: Sandbox,
  now: number,
  extraEnv: Record<string, string> = {},
  via: "idle.sh" | "idle.py" = "idle.sh",
): { code: number; out: string } {
  const lib = sb.p("usr/local/lib/qwen3-serve");
  const argv =
    via === "idle.sh" ? ["bash", path.join(lib, "idle.sh")] : ["python3", path.join(lib, "idle.py"), "check"];
  const r = spawnSync(argv[0] ?? "bash", argv.slice(1), {
    env: { ...sandboxEnv(sb), QS_NOW: String(now), QS_BOOT_ID: "sandbox-boot", ...extraEnv },
    encoding: "utf8",
    timeout: 30_000,
  });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

/** The sandbox's environment, as the bootstrap's units see it. */
function sandboxEnv(sb: Sandbox): Record<string, string> {
  return Object.fromEntries(
    sb
      .envWords()
      .match(/(\w+)='((?:[^']|'\\'')*)'/g)
      ?.map((w) => {
        const i = w.indexOf("=");
        return [w.slice(0, i), w.slice(i + 2, -1).replace(/'\\''/g, "'")];
      }) ?? [],
  );
}

const accessLog = (sb: Sandbox): string => sb.p("var/log/qwen3-serve/access.log");
/** The watchdog's record in the status file under a machine root. */
const idleRecordAt = (root: string): Record<string, unknown> =>
  (
    JSON.parse(readFileSync(path.join(root, "var/lib/qwen3-serve/status.json"), "utf8")) as {
      idle: Record<string, unknown>;
    }
  ).idle;
const idleRecord = (sb: Sandbox): Record<string, unknown> => idleRecordAt(sb.root);

/** A log line in the proxy's own format: a real line from nginx with only its time changed. */
function logAt(sb: Sandbox, template: string, t: number): void {
  const stamp = new Date(t * 1000).toISOString().replace(/\.\d{3}Z$/, "+00:00");
  appendFileSync(accessLog(sb), `${stamp}${template.slice(template.indexOf(" "))}\n`);
}

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
    const base = `http://127.0.0.1:${sb.proxyPort}`;
    const body = JSON.stringify({ model: "Qwen3-8B", messages: [{ role: "user", content: "hi" }], max_tokens: 4 });
    const ok = await request(`${base}/v1/chat/completions`, {
      method: "POST",
      body,
      headers: { Authorization: `Bearer ${SANDBOX_API_KEY}`, "Content-Type": "application/json" },
    });
    assert.equal(ok.status, 200);
    const lines = readFileSync(accessLog(sb), "utf8").trim().split("\n");
    template = lines.at(-1) ?? "";
    assert.match(template, /^\S+ 200 POST \/v1\/chat\/completions /);
    t0 = Date.parse(template.split(" ")[0] ?? "") / 1000;
    // A scanner without the key, 8 minutes later: must not keep the machine up.
    const denied = await request(`${base}/v1/chat/completions`, { method: "POST", body });
    assert.equal(denied.status, 401);
    const deniedLine = readFileSync(accessLog(sb), "utf8").trim().split("\n").at(-1) ?? "";
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

describe("the watchdog as the Docker target's sidecar: stops engine and proxy through the Docker API", () => {
  let dir = "";
  let api: http.Server;
  let engine: http.Server;
  const calls: string[] = [];
  let running = true;
  let enginePort = 0;
  /** stub_status "Writing": requests the proxy serves, its own probe included. */
  let writing = 1;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "qs-idle-docker-"));
    api = http.createServer((req, res) => {
      calls.push(`${req.method ?? ""} ${req.url ?? ""}`);
      if (req.method === "GET" && /^\/containers\/[\w-]+\/json$/.test(req.url ?? "")) {
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify({ State: { Running: running } }));
      } else if (req.method === "POST" && /^\/containers\/[\w-]+\/stop\?t=30$/.test(req.url ?? "")) {
        res.statusCode = 204;
        res.end();
      } else {
        res.statusCode = 404;
        res.end('{"message":"no such route"}');
      }
    });
    await new Promise<void>((r) => api.listen(path.join(dir, "docker.sock"), r));
    // The engine, and (on the same loopback server here) the proxy's stub_status in nginx's format.
    engine = http.createServer((req, res) => {
      if (req.url === "/qwen3-serve/activity") {
        res.end(
          `Active connections: ${writing + 1} \nserver accepts handled requests\n 40 40 97 \nReading: 0 Writing: ${writing} Waiting: 1 \n`,
        );
        return;
      }
      res.statusCode = req.url === "/api/version" ? 200 : 404;
      res.end(req.url === "/api/version" ? '{"version":"0.33.3"}' : "");
    });
    await new Promise<void>((r) => engine.listen(0, "127.0.0.1", r));
    enginePort = (engine.address() as { port: number }).port;
    writeFileSync(path.join(dir, "access.log"), "");
  });
  after(() => {
    api?.close();
    engine?.close();
    if (dir !== "") rmSync(dir, { recursive: true, force: true });
  });

  // Asynchronous: the fake Docker API and engine live in this process and must answer meanwhile.
  const dockerCheck = (now: number): Promise<{ code: number; out: string }> =>
    new Promise((resolve) => {
      execFile(
        "python3",
        [IDLE_PY, "check"],
        {
          env: {
            PATH: process.env.PATH ?? "",
            QS_ROOT: dir,
            QS_NOW: String(now),
            QS_BOOT_ID: "host-boot",
            QS_BOOT_AT: String(now - 86400),
            ENGINE: "ollama",
            ENGINE_HOST: "127.0.0.1",
            ENGINE_PORT: String(enginePort),
            ENGINE_HEALTH_PATH: "/api/version",
            IDLE_PHASE: "health",
            IDLE_ACCESS_LOG: path.join(dir, "access.log"),
            IDLE_MINUTES: "30",
            IDLE_GRACE_MINUTES: "10",
            IDLE_ACTION: "docker",
            IDLE_CONTAINERS: "dk-qwen3-serve-engine,dk-qwen3-serve-proxy",
            DOCKER_SOCKET: path.join(dir, "docker.sock"),
            IDLE_ACTIVITY: `http://127.0.0.1:${enginePort}`,
          },
          encoding: "utf8",
          timeout: 30_000,
        },
        (err, stdout, stderr) =>
          resolve({ code: err === null ? 0 : typeof err.code === "number" ? err.code : -1, out: `${stdout}${stderr}` }),
      );
    });

  it("stops the engine, then the proxy, once; a stopped engine is left alone", async () => {
    const t = T;
    assert.equal((await dockerCheck(t)).code, 0);
    assert.ok(!calls.some((c) => c.startsWith("POST")));
    const c = await dockerCheck(t + 30 * MIN);
    assert.equal(c.code, 0, c.out);
    assert.match(c.out, /stopping \(docker\): no inference request for 30 min/);
    assert.deepEqual(
      calls.filter((x) => x.startsWith("POST")),
      ["POST /containers/dk-qwen3-serve-engine/stop?t=30", "POST /containers/dk-qwen3-serve-proxy/stop?t=30"],
    );
    running = false;
    assert.equal((await dockerCheck(t + 90 * MIN)).code, 0);
    assert.equal(calls.filter((x) => x.startsWith("POST")).length, 2);
    assert.ok(existsSync(path.join(dir, "var/lib/qwen3-serve/status.json")));
  });

  it("a request in flight at the proxy (its stub_status, over the private network) keeps it up past the window", async () => {
    running = true; // someone started the containers again: a fresh window from this check
    const t = T + 200 * MIN;
    const posts = (): number => calls.filter((x) => x.startsWith("POST")).length;
    assert.equal((await dockerCheck(t)).code, 0);
    const before = posts();
    writing = 2; // one stream, and the probe itself
    const mid = await dockerCheck(t + 45 * MIN);
    assert.equal(posts(), before, mid.out);
    writing = 1;
    assert.equal(posts(), before);
    const done = await dockerCheck(t + 75 * MIN);
    assert.match(done.out, /stopping \(docker\): no inference request for 30 min/);
    assert.equal(posts(), before + 2);
  });
});

describe("the watchdog on AWS reads its window and TTL from the instance's tags (IMDSv2)", () => {
  let dir = "";
  let imds: http.Server;
  let up = true;
  const tags: Record<string, string> = { "qwen3-serve:idle-minutes": "30" };
  const TOKEN = "imds-token-123";

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "qs-idle-imds-"));
    // A ready machine with an empty proxy log, and systemctl stubbed so poweroff is only recorded.
    spawnSync("mkdir", [
      "-p",
      path.join(dir, "var/lib/qwen3-serve"),
      path.join(dir, "var/log/qwen3-serve"),
      path.join(dir, "bin"),
    ]);
    writeFileSync(
      path.join(dir, "var/lib/qwen3-serve/status.json"),
      JSON.stringify({ state: "ready", readyAt: isoOf(T - 3600) }),
    );
    writeFileSync(path.join(dir, "var/log/qwen3-serve/access.log"), "");
    writeFileSync(path.join(dir, "bin/systemctl"), `#!/bin/sh\necho "$*" >> '${dir}/systemctl.log'\n`, { mode: 0o755 });
    imds = http.createServer((req, res) => {
      if (!up) {
        res.statusCode = 503;
        res.end();
      } else if (
        req.method === "PUT" &&
        req.url === "/latest/api/token" &&
        req.headers["x-aws-ec2-metadata-token-ttl-seconds"] === "60"
      ) {
        res.end(TOKEN);
      } else if (req.headers["x-aws-ec2-metadata-token"] !== TOKEN) {
        res.statusCode = 401; // IMDSv2 only: no token, no answer
        res.end();
      } else {
        const key = decodeURIComponent((req.url ?? "").replace("/latest/meta-data/tags/instance/", ""));
        res.statusCode = key in tags ? 200 : 404;
        res.end(tags[key] ?? "");
      }
    });
    await new Promise<void>((r) => imds.listen(0, "127.0.0.1", r));
  });
  after(() => {
    imds?.close();
    if (dir !== "") rmSync(dir, { recursive: true, force: true });
  });

  const awsCheck = (now: number): Promise<{ out: string; poweroffs: number }> =>
    new Promise((resolve) => {
      const port = (imds.address() as { port: number }).port;
      execFile(
        "python3",
        [IDLE_PY, "check"],
        {
          env: {
            PATH: `${path.join(dir, "bin")}:${process.env.PATH ?? ""}`,
            QS_ROOT: dir,
            QS_NOW: String(now),
            QS_BOOT_ID: "aws-boot",
            QS_BOOT_AT: String(T - 7200),
            ENGINE: "ollama",
            ENGINE_PORT: "1",
            IDLE_SETTINGS: "imds-tags",
            IMDS_URL: `http://127.0.0.1:${port}`,
            IDLE_GRACE_MINUTES: "10",
            IDLE_ACTION: "poweroff",
          },
          encoding: "utf8",
          timeout: 30_000,
        },
        (_err, stdout, stderr) => {
          const log = path.join(dir, "systemctl.log");
          resolve({
            out: `${stdout}${stderr}`,
            poweroffs: existsSync(log)
              ? readFileSync(log, "utf8")
                  .split("\n")
                  .filter((l) => l === "poweroff").length
              : 0,
          });
        },
      );
    });

  it("follows a tag changed on the running instance, keeps the last settings while IMDS is down, and honours a TTL tag", async () => {
    assert.equal((await awsCheck(T)).poweroffs, 0);
    tags["qwen3-serve:idle-minutes"] = "60"; // pulumi config set idleMinutes 60 && pulumi up: a tag update, no new instance
    const longer = await awsCheck(T + 31 * MIN);
    assert.equal(longer.poweroffs, 0, longer.out);
    assert.equal(idleRecordAt(dir).idleMinutes, 60);
    up = false;
    const blind = await awsCheck(T + 40 * MIN);
    assert.match(blind.out, /WARNING: instance tags unreadable \(.*\); keeping the last known settings/);
    assert.equal(blind.poweroffs, 0, "still the 60-minute window");
    const stop = await awsCheck(T + 60 * MIN);
    assert.equal(stop.poweroffs, 1, stop.out);
    up = true;
    tags["qwen3-serve:idle-minutes"] = "off";
    tags["qwen3-serve:ttl-hours"] = "2.5";
    const ttl = await awsCheck(T + 61 * MIN);
    assert.match(ttl.out, /stopping \(poweroff\): up 3 h 1 min, past its TTL of 2\.5 h/);
    assert.equal(ttl.poweroffs, 2);
  });
});
