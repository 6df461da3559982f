/**
 * The readiness waiter against a loopback server that walks through bootstrap phases: it reports
 * each phase and download progress, succeeds only after a real chat completion, fails with the
 * machine's own reason, refuses a wrong key at once, and times out naming the last phase.
 * The wait-ready script is run as `pulumi up` runs it: a child process, key in the environment.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { shellQuote } from "../components/engines/shell";
import { nodeScriptCommand, nodeScriptPath } from "../components/machine/nodeScript";
import { NotReadyError, parseRetryAfter, waitForReady } from "../components/machine/readiness";
import { startFakeOpenAI, type FakeServer, type FakeSettings } from "./helpers/fakeOpenAI";

const KEY = "sk-readiness-test-0123456789";

/** A proxy stand-in: serves the given status documents in turn, then keeps the last. */
function machine(
  statuses: (object | null)[],
  opts: { key?: string; completionStatus?: number } = {},
): Promise<{ url: string; close: () => void; completions: () => number }> {
  let i = 0;
  let completions = 0;
  const server = http.createServer((req, res) => {
    if (req.headers.authorization !== `Bearer ${opts.key ?? KEY}`) {
      res.writeHead(401).end();
      return;
    }
    if (req.url === "/qwen3-serve/status") {
      const doc = statuses[Math.min(i, statuses.length - 1)];
      i += 1;
      if (doc === null) {
        res.writeHead(502).end();
        return;
      }
      res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(doc));
      return;
    }
    if (req.url === "/v1/chat/completions" && req.method === "POST") {
      completions += 1;
      const code = opts.completionStatus ?? 200;
      res
        .writeHead(code, { "Content-Type": "application/json" })
        .end(code === 200 ? JSON.stringify({ choices: [{ message: { content: "OK" } }] }) : "{}");
      return;
    }
    res.writeHead(404).end();
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as AddressInfo).port;
      resolve({ url: `http://127.0.0.1:${port}`, close: () => server.close(), completions: () => completions });
    }),
  );
}

const servers: { close: () => void }[] = [];
after(() => {
  for (const s of servers) s.close();
});

const PHASES = [
  null, // proxy not up yet
  { state: "running", phase: "driver" },
  { state: "rebooting", phase: "driver" },
  { state: "running", phase: "weights", progress: { percent: 43, detail: "12.1/28.0GB" } },
  { state: "running", phase: "weights", progress: { percent: 87, detail: "24.4/28.0GB" } },
  { state: "running", phase: "load" },
  {
    state: "ready",
    coldStart: { phases: { driver: { seconds: 300 }, weights: { seconds: 412 }, load: { seconds: 95 } } },
  },
];

describe("waitForReady", () => {
  it("walks the phases, logs each once, and succeeds after a real completion", async () => {
    const m = await machine(PHASES);
    servers.push(m);
    const lines: string[] = [];
    const r = await waitForReady({
      baseUrl: m.url,
      apiKey: KEY,
      model: "Qwen3-8B",
      timeoutMs: 30_000,
      pollMs: 1,
      log: (l) => lines.push(l),
    });
    assert.deepEqual(lines.slice(0, -1), [
      "waiting for the machine: no answer from the proxy yet (booting or installing)",
      "bootstrap: driver",
      "bootstrap: rebooting to load the NVIDIA driver",
      "bootstrap: weights 43% (12.1/28.0GB)",
      "bootstrap: weights 87% (24.4/28.0GB)",
      "bootstrap: load",
    ]);
    assert.match(lines.at(-1) ?? "", /^ready: Qwen3-8B answered a chat completion after \d+s of waiting$/);
    assert.deepEqual(r.coldStart, { driver: 300, weights: 412, load: 95 });
    assert.equal(m.completions(), 1);
  });

  it("fails with the phase and reason the machine reports", async () => {
    const m = await machine([
      { state: "running", phase: "weights" },
      {
        state: "failed",
        error: { phase: "weights", reason: "hf download of Qwen/Qwen3-8B failed after 5 attempts: 401 Unauthorized" },
      },
    ]);
    servers.push(m);
    await assert.rejects(
      waitForReady({
        baseUrl: m.url,
        apiKey: KEY,
        model: "Qwen3-8B",
        timeoutMs: 30_000,
        pollMs: 1,
        log: () => undefined,
      }),
      new NotReadyError(
        "the bootstrap failed in phase weights: hf download of Qwen/Qwen3-8B failed after 5 attempts: 401 Unauthorized",
      ),
    );
  });

  it("a crash-looping engine: stops at the first failed status, without waiting for the timeout, and quotes the engine's log lines indented", async () => {
    const reason =
      "the engine exited 3 times while loading Qwen3-8B (systemd restarts it each time); its last log lines:\n" +
      "INFO starting vllm for Qwen3-8B\nERROR torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB\n";
    const m = await machine([
      { state: "running", phase: "load" },
      { state: "failed", error: { phase: "load", reason } },
    ]);
    servers.push(m);
    let t = 0;
    let polls = 0;
    await assert.rejects(
      waitForReady({
        baseUrl: m.url,
        apiKey: KEY,
        model: "Qwen3-8B",
        timeoutMs: 30 * 60_000,
        pollMs: 10_000,
        log: () => undefined,
        now: () => t,
        sleep: async (ms) => {
          polls += 1;
          t += ms;
        },
      }),
      new NotReadyError(
        "the bootstrap failed in phase load: the engine exited 3 times while loading Qwen3-8B (systemd restarts it each time); its last log lines:\n" +
          "    INFO starting vllm for Qwen3-8B\n    ERROR torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB",
      ),
    );
    assert.equal(polls, 1, "one wait between the loading status and the failed one, then none");
  });

  it("stops at once when the machine refuses the key", async () => {
    const m = await machine(PHASES, { key: "another-key-0123456789" });
    servers.push(m);
    await assert.rejects(
      waitForReady({
        baseUrl: m.url,
        apiKey: KEY,
        model: "Qwen3-8B",
        timeoutMs: 30_000,
        pollMs: 1,
        log: () => undefined,
      }),
      /refused this stack's API key \(401\)/,
    );
  });

  it("does not call it ready until a completion succeeds", async () => {
    const m = await machine([{ state: "ready" }], { completionStatus: 503 });
    servers.push(m);
    let t = 0;
    const lines: string[] = [];
    await assert.rejects(
      waitForReady({
        baseUrl: m.url,
        apiKey: KEY,
        model: "Qwen3-8B",
        timeoutMs: 60_000,
        pollMs: 10_000,
        log: (l) => lines.push(l),
        now: () => t,
        sleep: async (ms) => {
          t += ms;
        },
      }),
      /not ready after 1 min/,
    );
    assert.deepEqual(lines, ["the machine reports ready; waiting for a chat completion to succeed (last HTTP 503)"]);
    assert.ok(m.completions() >= 5);
  });

  it("times out with the last phase it saw, on its own clock", async () => {
    const m = await machine([{ state: "running", phase: "weights", progress: { percent: 12, detail: "3.4/28.0GB" } }]);
    servers.push(m);
    let t = 0;
    await assert.rejects(
      waitForReady({
        baseUrl: m.url,
        apiKey: KEY,
        model: "Qwen3-8B",
        timeoutMs: 40 * 60_000,
        pollMs: 10_000,
        log: () => undefined,
        now: () => t,
        sleep: async (ms) => {
          t += ms;
        },
      }),
      new NotReadyError("not ready after 40 min; last seen: weights 12% (3.4/28.0GB)"),
    );
  });
});

describe("scripts/wait-ready.ts, as `pulumi up` runs it", () => {
  const run = (env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      execFile(
        process.execPath,
        ["--import", "tsx", "scripts/wait-ready.ts"],
        { cwd: path.resolve(__dirname, ".."), env: { ...process.env, ...env }, timeout: 30_000 },
        (err, stdout, stderr) =>
          resolve({ code: err === null ? 0 : typeof err.code === "number" ? err.code : -1, stdout, stderr }),
      );
    });

  it("prints progress and exits 0 when ready", async () => {
    const m = await machine(PHASES);
    servers.push(m);
    const r = await run({
      QS_BASE_URL: m.url,
      QS_API_KEY: KEY,
      QS_MODEL: "Qwen3-8B",
      QS_TIMEOUT_SECONDS: "30",
      QS_POLL_SECONDS: "0.01",
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /bootstrap: weights 43% \(12\.1\/28\.0GB\)\n/);
    assert.ok(!r.stdout.includes(KEY));
  });

  it("exits 1 with the machine's reason on stderr", async () => {
    const m = await machine([{ state: "failed", error: { phase: "driver", reason: "no working NVIDIA driver" } }]);
    servers.push(m);
    const r = await run({
      QS_BASE_URL: m.url,
      QS_API_KEY: KEY,
      QS_MODEL: "Qwen3-8B",
      QS_TIMEOUT_SECONDS: "30",
      QS_POLL_SECONDS: "0.01",
    });
    assert.equal(r.code, 1);
    assert.equal(r.stderr, "error: the bootstrap failed in phase driver: no working NVIDIA driver\n");
  });
});

describe("nodeScriptCommand('wait-ready'), the command the readiness step runs", () => {
  it("works from a working folder outside the repository, with no Node options inherited: progress, then exit 0 when ready", async () => {
    const m = await machine(PHASES);
    servers.push(m);
    const elsewhere = mkdtempSync(path.join(os.tmpdir(), "qwen3-serve-cwd-"));
    const env = {
      PATH: process.env.PATH ?? "",
      QS_BASE_URL: m.url,
      QS_API_KEY: KEY,
      QS_MODEL: "Qwen3-8B",
      QS_TIMEOUT_SECONDS: "30",
      QS_POLL_SECONDS: "0.01",
    };
    try {
      // command.local.Command runs its command line with /bin/sh -c, in the program's working folder.
      const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
        execFile(
          "/bin/sh",
          ["-c", nodeScriptCommand("wait-ready")],
          { cwd: elsewhere, env, timeout: 30_000 },
          (err, stdout, stderr) =>
            resolve({ code: err === null ? 0 : typeof err.code === "number" ? err.code : -1, stdout, stderr }),
        ),
      );
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /bootstrap: weights 43% \(12\.1\/28\.0GB\)\n/);
      assert.match(r.stdout, /^ready: Qwen3-8B answered a chat completion/m);
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });

  it("from the compiled package, names the compiled script beside components/ (dist/scripts/*.js)", () => {
    const compiled = path.join(
      path.sep,
      "p",
      "node_modules",
      "qwen3-serve",
      "dist",
      "components",
      "machine",
      "nodeScript.js",
    );
    assert.equal(
      nodeScriptPath("wait-ready", compiled),
      path.join(path.sep, "p", "node_modules", "qwen3-serve", "dist", "scripts", "wait-ready.js"),
    );
  });

  it("quotes a path with spaces, a single quote, $ and backquotes as one shell word", async () => {
    const word = "/opt/it's my $HOME/`id`/a b";
    const out = await new Promise<string>((resolve, reject) =>
      execFile("/bin/sh", ["-c", `printf %s ${shellQuote(word)}`], (err, stdout) =>
        err === null ? resolve(stdout) : reject(err),
      ),
    );
    assert.equal(out, word);
  });
});

describe("waitForReady in front of a fleet waking from zero (503 from the load balancer)", () => {
  const fakes: FakeServer[] = [];
  after(async () => {
    await Promise.all(fakes.map((f) => f.close()));
  });
  /** A fleet endpoint (no status document through the ALB here: /v1/models stands in) and a clock only sleeps move. */
  const wait = async (settings: Partial<FakeSettings>, timeoutMs = 600_000) => {
    const f = await startFakeOpenAI({ key: KEY, ...settings });
    fakes.push(f);
    let t = 0;
    const sleeps: number[] = [];
    const lines: string[] = [];
    const run = waitForReady({
      baseUrl: f.root,
      apiKey: KEY,
      model: "Qwen3-8B",
      hasStatus: false,
      timeoutMs,
      pollMs: 10_000,
      log: (l) => lines.push(l),
      now: () => t,
      sleep: async (ms) => {
        sleeps.push(ms);
        t += ms;
      },
    });
    return { run, lines, sleeps, f };
  };

  it("shows the ALB's 503 page as waking with the phase text, polls every 10 s, then succeeds", async () => {
    const w = await wait({ wakingRequests: 2 });
    assert.equal((await w.run).waitedSeconds, 20);
    assert.deepEqual(w.lines, [
      "waking: the load balancer has no ready replica yet (503), 0 s so far; retrying in 10 s",
      "waking: the load balancer has no ready replica yet (503), 10 s so far; retrying in 10 s",
      "ready: Qwen3-8B answered a chat completion after 20s of waiting",
    ]);
    assert.deepEqual(w.sleeps, [10_000, 10_000]);
  });

  it("honours Retry-After on a JSON 503 instead of its own interval", async () => {
    const w = await wait({ wakingRequests: 2, wakingStyle: "json", wakingRetryAfter: 3 });
    assert.equal((await w.run).waitedSeconds, 6);
    assert.deepEqual(w.sleeps, [3000, 3000]);
    assert.equal(
      w.lines[1],
      "waking: the load balancer has no ready replica yet (503), 3 s so far; retrying in 3 s (Retry-After)",
    );
  });

  it("times out still waking: the last sleep cut to the deadline, the last phase named", async () => {
    const w = await wait({ wakingRequests: 1000 }, 25_000);
    await assert.rejects(
      w.run,
      new NotReadyError("not ready after 0 min; last seen: waking (the load balancer had no ready replica, 503)"),
    );
    assert.deepEqual(w.sleeps, [10_000, 10_000, 5000]);
    assert.equal(w.f.chats(), 0);
  });

  it("reads Retry-After as seconds or an HTTP date, never under 1 s, and ignores what it cannot read", () => {
    const now = Date.parse("2026-11-30T10:00:00Z");
    assert.equal(parseRetryAfter("120", now), 120_000);
    assert.equal(parseRetryAfter("0", now), 1000);
    assert.equal(parseRetryAfter("Mon, 30 Nov 2026 10:00:30 GMT", now), 30_000);
    assert.equal(parseRetryAfter("soon", now), null);
    assert.equal(parseRetryAfter(null, now), null);
  });
});
