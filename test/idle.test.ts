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
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { decodeConfigValues, parseStackConfig } from "../components/config/schema";
import { machineEnv } from "../components/machine/render";
import { planForStack } from "../components/program/deploy";
import { watchdogEnv } from "../components/targets/docker";
import { stackFileConfig } from "./helpers/stacks";
import { requireTool } from "./helpers/tools";

import { IDLE_PY, idleRecordAt, isoOf, MIN, T } from "./helpers/watchdog";

/** The docker example stack's plan (Ollama), whose sidecar environment the Docker-API checks use. */
const DOCKER_PLAN = planForStack(parseStackConfig(decodeConfigValues(stackFileConfig("docker"))));

interface Decision {
  action: "none" | "warn" | "stop";
  reason: string;
  warnings: string[];
  lastActivityAt: string | null;
  stopAt: string | null;
  state: Record<string, unknown>;
}

/** One input of `idle.py decide`. */
interface DecideInput {
  now: number;
  sample: Record<string, unknown>;
  state: Record<string, unknown>;
  settings: Record<string, unknown>;
}

/** Decide many cases in one Python process: `idle.py decide` answers a JSON list with a list. */
function decideAll(inputs: readonly DecideInput[]): Decision[] {
  const r = spawnSync("python3", [IDLE_PY, "decide"], { input: JSON.stringify(inputs), encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as Decision[];
  assert.equal(out.length, inputs.length, r.stdout);
  return out;
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
  // Every row in one Python process; each test reads its own decision.
  let decided: Decision[] = [];
  before(() => {
    requireTool("python3");
    decided = decideAll(
      rows.map(([, sample, state, settings]) => ({
        now: T,
        sample: { ...SAMPLE, ...sample },
        state,
        settings: { ...SETTINGS, ...settings },
      })),
    );
  });
  for (const [i, [name, , , , want]] of rows.entries()) {
    it(name, () => {
      const d = decided[i];
      assert.ok(d !== undefined);
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
            // The sidecar's environment exactly as the Docker target declares it for the docker
            // example stack (Ollama, 30-minute window), with only the addresses moved to loopback.
            ...watchdogEnv(
              "dk",
              DOCKER_PLAN,
              { minutes: 30, ttlHours: null, countSsh: false, action: "stop-engine" },
              8079,
            ),
            PATH: process.env.PATH ?? "",
            QS_ROOT: dir,
            QS_NOW: String(now),
            QS_BOOT_ID: "host-boot",
            QS_BOOT_AT: String(now - 86400),
            ENGINE_HOST: "127.0.0.1",
            ENGINE_PORT: String(enginePort),
            IDLE_ACCESS_LOG: path.join(dir, "access.log"),
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
            // The machine facts (paths, grace period), as machine.env gives them on an instance.
            ...machineEnv(),
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
