/**
 * The machine bootstrap, run for real in a sandbox (test/helpers/sandbox.ts): the rendered SSH
 * installer places the real scripts under a temp root and runs them against stub system commands,
 * a fake engine on loopback and the distribution's real nginx. Each test states what it proves.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { shippedScript } from "../components/machine/render";
import { request, Sandbox, SANDBOX_API_KEY } from "./helpers/sandbox";

const sandboxes: Sandbox[] = [];
after(() => {
  for (const s of sandboxes) s.destroy();
});

async function sandbox(opts: Parameters<typeof Sandbox.create>[0]): Promise<Sandbox> {
  const s = await Sandbox.create(opts);
  sandboxes.push(s);
  return s;
}

const auth = { Authorization: `Bearer ${SANDBOX_API_KEY}` };
const mode = (p: string): string => (statSync(p).mode & 0o777).toString(8);
/** The apt-get subcommand, past `-o Name=Value` options. */
const aptVerb = (args: string[]): string | undefined => args.find((a, i) => !a.startsWith("-") && args[i - 1] !== "-o");
const PINNED_DIGEST = `sha256:${"ab".repeat(32)}`;
const phaseStates = (s: Sandbox): Record<string, string> =>
  Object.fromEntries(Object.entries(s.status().phases).map(([k, v]) => [k, v.state]));

describe("vLLM on a Deep Learning AMI-like host (driver and Docker present)", () => {
  let sb: Sandbox;
  let r: Awaited<ReturnType<Sandbox["install"]>>;
  // The fresh run every test here starts from; the first test checks it.
  before(async () => {
    sb = await sandbox({ request: { model: "qwen3:8b", engine: "vllm" } });
    r = await sb.install();
  });

  it("a fresh run reaches ready: every phase ran, the endpoint demands the key, the engine got the planned argv", async () => {
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const st = sb.status();
    assert.equal(st.state, "ready");
    assert.deepEqual(st.order, ["driver", "runtime", "secrets", "engine", "proxy", "weights", "load", "first-token"]);
    assert.deepEqual(phaseStates(sb), {
      driver: "skipped",
      runtime: "skipped",
      secrets: "done",
      engine: "done",
      proxy: "done",
      weights: "done",
      load: "done",
      "first-token": "done",
    });
    // One log line per phase start and end.
    for (const phase of st.order) assert.match(r.stdout, new RegExp(`^qwen3-serve\\[${phase}\\]: started$`, "m"));
    // The engine container ran the plan's exact command, from the pinned image, on Docker's bridge
    // network (no --network host, so no path to the instance role), listening on 0.0.0.0 inside
    // its container with the port published on the host's loopback only, its json-file log capped.
    const run = JSON.parse(readFileSync(sb.p("fake/docker-run.json"), "utf8")) as {
      image: string;
      entrypoint: string;
      cmd: string[];
      opts: string[];
    };
    assert.equal(run.image, "vllm/vllm-openai:v0.31.0");
    assert.deepEqual([run.entrypoint, ...run.cmd], sb.plan.serve.argv);
    assert.deepEqual(sb.plan.serve.argv.slice(3, 5), ["--host", "0.0.0.0"]);
    assert.equal(run.opts.includes("--network"), false, run.opts.join(" "));
    assert.equal(run.opts[run.opts.indexOf("-p") + 1], `127.0.0.1:${sb.enginePort}:${sb.enginePort}`);
    assert.deepEqual(
      run.opts.filter((_o, i) => ["--log-driver", "--log-opt"].includes(run.opts[i - 1] ?? "")),
      ["json-file", "max-size=100m", "max-file=3"],
    );
    // The download container has no host network either: it needs the Hub, never the metadata service.
    const download = sb.calls().find((c) => c.cmd === "docker" && c.args[0] === "run" && c.args.includes("hf"));
    assert.ok(download !== undefined);
    assert.equal(download.args.includes("--network"), false, download.args.join(" "));
    // Through the proxy: 401 without the key, 200 with it, for the API and the status document.
    const base = `http://127.0.0.1:${sb.proxyPort}`;
    assert.equal((await request(`${base}/v1/models`)).status, 401);
    assert.equal(
      (await request(`${base}/v1/models`, { headers: { Authorization: "Bearer wrong-key-0123456789" } })).status,
      401,
    );
    assert.equal((await request(`${base}/v1/models`, { headers: auth })).status, 200);
    assert.equal((await request(`${base}/qwen3-serve/status`)).status, 401);
    const status = await request(`${base}/qwen3-serve/status`, { headers: auth });
    assert.equal(status.status, 200);
    assert.equal((JSON.parse(status.body) as { state: string }).state, "ready");
    // Records what it serves, for rebuilds.
    assert.equal(st.versions?.engineImage, "vllm/vllm-openai:v0.31.0");
    assert.equal(st.versions?.modelRevision, "0123456789abcdef0123456789abcdef01234567");
    assert.equal(st.machine?.gpus, "1 x NVIDIA L40S (46068 MiB)");
  });

  it(
    "the engine container mounts the host's compile cache (<root>/var/lib/qwen3-serve/engine-cache at " +
      "/var/cache/qwen3-serve) beside the weights, with vLLM's, Triton's, Inductor's and SGLang's cache folders below it",
    () => {
      const run = JSON.parse(readFileSync(sb.p("fake/docker-run.json"), "utf8")) as { opts: string[] };
      const valuesOf = (flag: string): string[] => run.opts.filter((_o, i) => run.opts[i - 1] === flag);
      assert.deepEqual(valuesOf("-v"), [
        `${sb.root}/var/lib/qwen3-serve/hf:/root/.cache/huggingface`,
        `${sb.root}/var/lib/qwen3-serve/engine-cache:/var/cache/qwen3-serve`,
      ]);
      assert.deepEqual(valuesOf("-e"), [
        "VLLM_CACHE_ROOT=/var/cache/qwen3-serve/vllm",
        "TRITON_CACHE_DIR=/var/cache/qwen3-serve/triton",
        "TORCHINDUCTOR_CACHE_DIR=/var/cache/qwen3-serve/inductor",
        "SGLANG_CACHE_DIR=/var/cache/qwen3-serve/sglang",
        "SGLANG_DG_CACHE_DIR=/var/cache/qwen3-serve/deep_gemm",
      ]);
      assert.ok(statSync(sb.p("var/lib/qwen3-serve/engine-cache")).isDirectory());
    },
  );

  it("streams through the proxy unbuffered: the first chunk arrives while the engine still holds the rest", async () => {
    const res = await fetch(`http://127.0.0.1:${sb.proxyPort}/v1/chat/completions`, {
      method: "POST",
      headers: { ...auth, "Content-Type": "application/json" },
      body: JSON.stringify({ model: "Qwen3-8B", stream: true, messages: [{ role: "user", content: "hi" }] }),
    });
    assert.equal(res.status, 200);
    assert.ok(res.body);
    const reader = res.body.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    assert.match(first, /"content":"Hel"/);
    assert.doesNotMatch(first, /\[DONE\]/, "the proxy held the stream back");
    writeFileSync(sb.p("fake/release-stream"), "1");
    let rest = "";
    for (let r = await reader.read(); !r.done; r = await reader.read()) rest += new TextDecoder().decode(r.value);
    assert.match(rest, /data: \[DONE\]\n\n$/);
  });

  it("keeps secrets root-only and out of every script, config file, log and the status file", () => {
    assert.equal(mode(sb.p("etc/qwen3-serve/bootstrap.env")), "600");
    assert.equal(mode(sb.p("run/qwen3-serve/secrets")), "700");
    for (const f of ["auth-header", "proxy-auth.conf", "hf.env"])
      assert.equal(mode(sb.p(`run/qwen3-serve/secrets/${f}`)), "600", f);
    assert.equal(readFileSync(sb.p("run/qwen3-serve/secrets/hf.env"), "utf8"), "HF_TOKEN=hf_sandboxTokenValue\n");
    const public_ = [
      "install.sh",
      "etc/qwen3-serve/bootstrap.env",
      "etc/qwen3-serve/engine.argv",
      "etc/qwen3-serve/engine.env",
      "etc/nginx/conf.d/qwen3-serve.conf",
      "var/lib/qwen3-serve/status.json",
      "var/log/qwen3-serve/access.log",
      "fake/calls.log",
      "fake/engine.out",
    ];
    for (const f of public_) {
      const text = readFileSync(sb.p(f), "utf8");
      assert.ok(!text.includes(SANDBOX_API_KEY), `${f} holds the API key`);
      assert.ok(!text.includes("hf_sandboxTokenValue"), `${f} holds the HF token`);
    }
  });

  it("a second run changes nothing and downloads nothing", async () => {
    const callsBefore = sb.calls().length;
    const hfBefore = sb.count("hf");
    const mtimes = [
      "etc/nginx/conf.d/qwen3-serve.conf",
      "etc/systemd/system/qwen3-serve-engine.service",
      "run/qwen3-serve/secrets/proxy-auth.conf",
    ].map((f) => statSync(sb.p(f)).mtimeMs);
    const r = await sb.bootstrap();
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(sb.status().state, "ready");
    assert.deepEqual(phaseStates(sb), {
      driver: "skipped",
      runtime: "skipped",
      secrets: "skipped",
      engine: "skipped",
      proxy: "skipped",
      weights: "skipped",
      load: "skipped",
      "first-token": "done",
    });
    assert.equal(sb.count("hf"), hfBefore, "no new download");
    const newCalls = sb.calls().slice(callsBefore);
    const mutating = newCalls.filter(
      (c) =>
        (c.cmd === "docker" && ["pull", "run"].includes(c.args[0] ?? "")) ||
        c.cmd === "apt-get" ||
        (c.cmd === "systemctl" && /start|restart|reload/.test(c.args[0] ?? "")),
    );
    assert.deepEqual(mutating, [], "no pulls, installs or (re)starts");
    assert.deepEqual(
      [
        "etc/nginx/conf.d/qwen3-serve.conf",
        "etc/systemd/system/qwen3-serve-engine.service",
        "run/qwen3-serve/secrets/proxy-auth.conf",
      ].map((f) => statSync(sb.p(f)).mtimeMs),
      mtimes,
    );
    // The cold start measured by the first run survives re-checks.
    assert.equal(sb.status().coldStart?.phases.weights?.state, "done");
  });

  it("after a reboot the enabled units bring the endpoint back on their own", async () => {
    sb.reboot();
    const base = `http://127.0.0.1:${sb.proxyPort}`;
    await assert.rejects(request(`${base}/v1/models`, { headers: auth }), "down after the reboot");
    await sb.boot();
    let status = 0;
    for (let i = 0; i < 50 && status !== 200; i++) {
      status = await request(`${base}/v1/models`, { headers: auth }).then(
        (r) => r.status,
        () => 0,
      );
      if (status !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(status, 200);
    assert.ok(readFileSync(sb.p("etc/systemd/system/qwen3-serve-engine.service"), "utf8").includes("Restart=always"));
    assert.ok(
      readFileSync(sb.p("etc/systemd/system/nginx.service.d/qwen3-serve.conf"), "utf8").includes("Restart=always"),
    );
  });
});

describe("the AWS form: idle.py comes from SSM Parameter Store, not the user data", () => {
  let sb: Sandbox;
  const lib = (f: string): string => `usr/local/lib/qwen3-serve/${f}`;
  const SHIPPED_IDLE_PY = shippedScript(
    readFileSync(path.join(__dirname, "..", "components", "machine", "idle.py"), "utf8"),
  );
  const CHUNKS = [0, 1, 2].map((i) => `/qwen3-serve/sandbox/machine/idle.py/${i}`);

  let r: Awaited<ReturnType<Sandbox["install"]>>;
  // The fresh run every test here starts from; the first test checks it.
  before(async () => {
    sb = await sandbox({ request: { model: "qwen3:8b", engine: "vllm" }, idleFromSsm: true });
    r = await sb.install();
  });

  it("a fresh run's secrets phase reads the three chunk parameters in order and installs idle.py byte-identical to the shipped text, mode 0755", () => {
    assert.ok(!sb.installer.includes("/idle.py'"), "the installer does not carry idle.py");
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(phaseStates(sb).secrets, "done");
    assert.equal(readFileSync(sb.p(lib("idle.py")), "utf8"), SHIPPED_IDLE_PY);
    assert.equal(mode(sb.p(lib("idle.py"))), "755");
    const reads = sb
      .calls()
      .filter((c) => c.cmd === "aws")
      .map((c) => c.args[c.args.indexOf("--name") + 1]);
    assert.deepEqual(reads, ["/qwen3-serve/sandbox/api-key", "/qwen3-serve/sandbox/hf-token", ...CHUNKS]);
  });

  it("a second run changes nothing (secrets skipped, idle.py untouched); a changed idle.py on the machine is put back (secrets done)", async () => {
    const before = statSync(sb.p(lib("idle.py"))).mtimeMs;
    const again = await sb.bootstrap();
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.equal(phaseStates(sb).secrets, "skipped");
    assert.equal(statSync(sb.p(lib("idle.py"))).mtimeMs, before);
    writeFileSync(sb.p(lib("idle.py")), "print('edited by hand')\n");
    const repair = await sb.bootstrap();
    assert.equal(repair.code, 0, repair.stdout + repair.stderr);
    assert.equal(phaseStates(sb).secrets, "done");
    assert.equal(readFileSync(sb.p(lib("idle.py")), "utf8"), SHIPPED_IDLE_PY);
  });

  it("a tampered chunk fails the secrets phase with a hash mismatch naming the parameters and IDLE_PY_SHA256, and installs nothing", async () => {
    const t = await sandbox({ request: { model: "qwen3:0.6b", engine: "ollama" }, idleFromSsm: true });
    const f = t.p(`fake/ssm/${encodeURIComponent(CHUNKS[1] ?? "")}`);
    const value = readFileSync(f, "utf8");
    writeFileSync(f, `${value.slice(0, 2000)}${value[2000] === "A" ? "B" : "A"}${value.slice(2001)}`);
    const r = await t.install();
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.equal(t.status().error?.phase, "secrets");
    assert.match(
      t.status().error?.reason ?? "",
      new RegExp(
        `^idle\\.py assembled from SSM parameters ${CHUNKS.join(" ")} has sha256 [0-9a-f]{64}, not ` +
          `IDLE_PY_SHA256 ${t.idleSsm?.sha256 ?? "?"}: they do not hold the watchdog this machine was ` +
          `launched with; run pulumi up again$`,
      ),
    );
    assert.equal(existsSync(t.p(lib("idle.py"))), false);
  });

  it("a missing chunk fails the secrets phase naming it (ParameterNotFound); idle.sh then exits 0 with one line, watchdog not installed yet", async () => {
    const t = await sandbox({ request: { model: "qwen3:0.6b", engine: "ollama" }, idleFromSsm: true });
    rmSync(t.p(`fake/ssm/${encodeURIComponent(CHUNKS[2] ?? "")}`));
    const r = await t.install();
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.equal(
      t.status().error?.reason,
      `could not read SSM parameter ${CHUNKS[2] ?? ""} (check the instance role and region us-east-1)`,
    );
    assert.match(r.stderr, /An error occurred \(ParameterNotFound\) when calling the GetParameter operation: /);
    // The minute timer runs from boot, before the secrets phase: no idle.py yet is not a failure.
    const check = await t.run(["bash", t.p(lib("idle.sh"))]);
    assert.deepEqual(
      [check.code, check.stdout, check.stderr],
      [0, "qwen3-serve[idle]: watchdog not installed yet (the secrets phase installs idle.py)\n", ""],
    );
  });
});

describe("downloads", { concurrency: true }, () => {
  it("a transient failure is retried until the weights arrive", async () => {
    const sb = await sandbox({ request: { model: "Qwen3-4B", engine: "vllm" } });
    sb.setEnv({ FAKE_HF_FAIL_TIMES: "2" });
    const r = await sb.install();
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(sb.count("hf"), 3, "two failures, then success");
    assert.equal(sb.status().state, "ready");
    assert.match(r.stdout, /attempt 1\/3 failed; retrying/);
    assert.match(r.stdout, /attempt 2\/3 failed; retrying/);
  });

  it("a permanent failure leaves status failed, with the phase and the reason", async () => {
    const sb = await sandbox({ request: { model: "Qwen3-4B", engine: "vllm" } });
    sb.setEnv({
      FAKE_HF_FAIL_ALWAYS:
        "huggingface_hub.errors.RepositoryNotFoundError: 404 Client Error. Repository Not Found for url: https://huggingface.co/api/models/Qwen/Qwen3-4B",
    });
    const r = await sb.install();
    assert.equal(r.code, 1);
    const st = sb.status();
    assert.equal(st.state, "failed");
    assert.equal(st.error?.phase, "weights");
    assert.equal(
      st.error?.reason,
      "hf download of Qwen/Qwen3-4B failed after 3 attempts: " +
        "huggingface_hub.errors.RepositoryNotFoundError: 404 Client Error. Repository Not Found for url: " +
        "https://huggingface.co/api/models/Qwen/Qwen3-4B",
    );
    assert.equal(st.phases.weights?.state, "failed");
    assert.equal(st.phases.load, undefined, "stops at the failed phase");
    assert.match(r.stdout, /qwen3-serve\[weights\]: FAILED after \d+s: hf download of Qwen\/Qwen3-4B failed/);
  });
});

describe("progress and TLS", { concurrency: true }, () => {
  it("reports download progress in the status file while the weights arrive", async () => {
    // 4,096 expected bytes; the stub writes 2,048 and holds the rest until the test releases it.
    const sb = await sandbox({
      request: { model: "Qwen3-4B", engine: "vllm" },
      envFile: { WEIGHTS_EXPECTED_BYTES: "4096" },
    });
    sb.setEnv({ FAKE_HF_HOLD: "1" });
    let finished = false;
    const run = sb.install().finally(() => (finished = true));
    let seen: { phase?: string | null; percent: number; detail: string } | null = null;
    // Poll for as long as the run lasts: how soon the weights phase starts depends on machine load.
    while (!finished && seen === null) {
      await new Promise((r) => setTimeout(r, 50));
      try {
        const p = sb.status().progress;
        if (p !== null && p.percent > 0 && p.percent < 100) seen = p;
      } catch {
        // status.json not written yet
      }
    }
    writeFileSync(sb.p("fake/release-download"), "1");
    const r = await run;
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(seen, { phase: "weights", percent: 50, detail: "0.0/0.0GB" });
  });

  it("with a domain: gets a certificate, serves HTTPS, and first-token checks over TLS", async () => {
    const sb = await sandbox({ request: { model: "qwen3:0.6b", engine: "ollama" }, tlsDomain: "qwen.example.test" });
    const cert = sb.p("etc/letsencrypt/live/qwen.example.test/fullchain.pem");
    sb.setEnv({ CURL_CA_BUNDLE: cert });
    const r = await sb.install();
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const certbotCall = sb.calls().find((c) => c.cmd === "certbot");
    assert.deepEqual(certbotCall?.args.slice(0, 5), [
      "certonly",
      "--non-interactive",
      "--agree-tos",
      "--webroot",
      "-w",
    ]);
    const curl = (extra: string[]): string =>
      spawnSync(
        "curl",
        [
          "-s",
          "-o",
          "/dev/null",
          "-w",
          "%{http_code}",
          "--cacert",
          cert,
          "--resolve",
          `qwen.example.test:${sb.proxyPort}:127.0.0.1`,
          ...extra,
          `https://qwen.example.test:${sb.proxyPort}/v1/models`,
        ],
        { encoding: "utf8" },
      ).stdout;
    assert.equal(curl([]), "401");
    assert.equal(curl(["-H", `Authorization: Bearer ${SANDBOX_API_KEY}`]), "200");
    assert.match(readFileSync(sb.p("etc/nginx/conf.d/qwen3-serve.conf"), "utf8"), /listen \d+ ssl;/);
  });
});

describe("the driver", { concurrency: true }, () => {
  it("missing on plain Ubuntu: installs the open server driver, reboots, resumes and gets ready", async () => {
    const sb = await sandbox({
      request: { model: "qwen3:8b", engine: "vllm" },
      driverPresent: false,
      driverPolicy: "install",
    });
    const first = await sb.install();
    assert.equal(first.code, 0, first.stdout + first.stderr);
    assert.equal(sb.status().state, "rebooting");
    const apt = sb.calls().filter((c) => c.cmd === "apt-get" && aptVerb(c.args) === "install");
    assert.ok(
      apt.some((c) => c.args.includes("nvidia-headless-580-server-open") && c.args.includes("nvidia-utils-580-server")),
      JSON.stringify(apt),
    );
    assert.ok(sb.calls().some((c) => c.cmd === "systemctl" && c.args[0] === "reboot"));
    sb.reboot();
    // The boot unit runs the bootstrap again after the reboot.
    const second = await sb.bootstrap();
    assert.equal(second.code, 0, second.stdout + second.stderr);
    const st = sb.status();
    assert.equal(st.state, "ready");
    assert.equal(st.run, 2);
    assert.equal(st.phases.driver?.state, "done", "the resumed run records the driver phase");
    assert.deepEqual(Object.keys(st.coldStart?.phases ?? {}).sort(), [
      "driver",
      "engine",
      "first-token",
      "load",
      "proxy",
      "runtime",
      "secrets",
      "weights",
    ]);
  });

  it("missing where installing is not allowed: fails at once with the reason", async () => {
    const sb = await sandbox({
      request: { model: "qwen3:8b", engine: "vllm" },
      driverPresent: false,
      driverPolicy: "require",
    });
    const r = await sb.install();
    assert.equal(r.code, 1);
    assert.equal(sb.status().error?.phase, "driver");
    assert.match(sb.status().error?.reason ?? "", /^no working NVIDIA driver \(nvidia-smi: NVIDIA-SMI has failed/);
  });

  it("GPUs smaller than the plan needs: fails naming both sizes", async () => {
    const sb = await sandbox({
      request: { model: "qwen3:8b", engine: "vllm" },
      gpus: { name: "NVIDIA L4", mib: 23034, cc: "8.9", count: 1 },
    });
    const r = await sb.install();
    assert.equal(r.code, 1);
    assert.match(
      sb.status().error?.reason ?? "",
      /^the plan needs \d+ MiB per GPU; the smallest GPU here has 23034 MiB \(NVIDIA L4\)$/,
    );
  });
});

describe("other engines and secret sources", { concurrency: true }, () => {
  it("Ollama: pulls through the server's API, records the digest, loads with keep_alive, serves the tag", async () => {
    const sb = await sandbox({
      request: { model: "qwen3:8b", engine: "ollama" },
      gpus: { name: "Tesla T4", mib: 15360, cc: "7.5", count: 1 },
      secrets: "file",
    });
    sb.setEnv({ FAKE_PULL_FAIL_TIMES: "1" });
    const r = await sb.install();
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(sb.status().state, "ready");
    assert.equal(sb.count("pull"), 2, "one failed pull, retried");
    // The fake reports the sha256 of the manifest file it wrote, as Ollama does (test/fixtures/fake-engine.js).
    assert.equal(
      sb.status().versions?.modelRevision,
      "ccb04ee48b7e7205832e81eb642d12aff481bef79fa78c99d1e54690e8505323",
    );
    const started = JSON.parse(readFileSync(sb.p("fake/engine-starts.log"), "utf8").trim().split("\n")[0] ?? "{}") as {
      argv: string[];
      env: Record<string, string>;
    };
    assert.deepEqual(started.argv, ["ollama", "serve"]);
    // Ollama compiles nothing: its models folder is its only mount, and no cache variable is set.
    const run = JSON.parse(readFileSync(sb.p("fake/docker-run.json"), "utf8")) as { opts: string[] };
    assert.deepEqual(
      run.opts.filter((_o, i) => run.opts[i - 1] === "-v"),
      [`${sb.root}/var/lib/qwen3-serve/ollama:/root/.ollama`],
    );
    assert.equal(run.opts.includes("-e"), false, run.opts.join(" "));
    assert.equal(existsSync(sb.p("var/lib/qwen3-serve/engine-cache")), false);
    assert.equal(started.env.OLLAMA_CONTEXT_LENGTH, "32768");
    assert.equal(started.env.OLLAMA_KEEP_ALIVE, "-1");
    const chat = await request(`http://127.0.0.1:${sb.proxyPort}/v1/chat/completions`, {
      method: "POST",
      headers: { ...auth, "Content-Type": "application/json" },
      body: JSON.stringify({ model: "qwen3:8b-q4_K_M", messages: [{ role: "user", content: "hi" }], max_tokens: 1 }),
    });
    assert.equal(chat.status, 200);
  });

  it("SGLang: the same path with its own argv", async () => {
    const sb = await sandbox({ request: { model: "Qwen3-4B", engine: "sglang" } });
    const r = await sb.install();
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const run = JSON.parse(readFileSync(sb.p("fake/docker-run.json"), "utf8")) as {
      image: string;
      entrypoint: string;
      cmd: string[];
      opts: string[];
    };
    assert.equal(run.image, "lmsysorg/sglang:v0.5.21");
    assert.deepEqual([run.entrypoint, ...run.cmd], sb.plan.serve.argv);
    // The same host compile cache as vLLM's; SGLang reads its own two variables below it.
    assert.ok(run.opts.includes(`${sb.root}/var/lib/qwen3-serve/engine-cache:/var/cache/qwen3-serve`));
    assert.ok(run.opts.includes("SGLANG_CACHE_DIR=/var/cache/qwen3-serve/sglang"));
    assert.ok(run.opts.includes("SGLANG_DG_CACHE_DIR=/var/cache/qwen3-serve/deep_gemm"));
  });

  it("a secrets file readable by others is refused", async () => {
    const sb = await sandbox({
      request: { model: "qwen3:0.6b", engine: "ollama" },
      secrets: "file",
      secretsFileMode: 0o644,
    });
    const r = await sb.install();
    assert.equal(r.code, 1);
    assert.equal(
      sb.status().error?.reason,
      "secrets file /etc/qwen3-serve/secrets.env has mode 644; it must be 0600".replace("/etc", `${sb.root}/etc`),
    );
  });
});

describe("real-engine behaviour the sandbox reproduces (issue 10)", { concurrency: true }, () => {
  it("Ollama: a load longer than one HTTP timeout still ends loaded, because the load call waits out the whole load budget", async () => {
    // HTTP_TIMEOUT_SECONDS scales the old 10 s cap to 1 s; the fake Ollama takes 2.5 s to load and,
    // like the real one, aborts the load when its client hangs up first.
    // A 30 s load budget (in the env file, which the scripts read): calls cut at 1 s would abort
    // every load and fail the phase at 30 s.
    const sb = await sandbox({
      request: { model: "qwen3:0.6b", engine: "ollama" },
      secrets: "file",
      envFile: { LOAD_TIMEOUT_SECONDS: "30" },
    });
    sb.setEnv({ HTTP_TIMEOUT_SECONDS: "1", FAKE_OLLAMA_LOAD_MS: "2500" });
    const r = await sb.install();
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(sb.status().state, "ready");
    assert.equal(sb.count("ollama-load-aborted"), 0, "no load was cut short by the client");
  });

  it("a crash-looping engine fails the load phase after 3 restarts, before the load timeout, with its last log lines as the reason", async () => {
    // 40 s of load budget: a run that waited for the timeout would fail with "did not load within 40s".
    const sb = await sandbox({
      request: { model: "Qwen3-4B", engine: "vllm" },
      envFile: { LOAD_TIMEOUT_SECONDS: "40" },
    });
    sb.setEnv({ FAKE_ENGINE_CRASH: "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB" });
    const r = await sb.install();
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const st = sb.status();
    assert.equal(st.state, "failed");
    assert.equal(st.error?.phase, "load");
    const reason = st.error?.reason ?? "";
    assert.match(
      reason,
      /^the engine exited [34] times while loading Qwen3-4B \(systemd restarts it each time\); its last log lines:\n/,
    );
    assert.match(reason, /^ERROR torch\.OutOfMemoryError: CUDA out of memory\. Tried to allocate 2\.00 GiB$/m);
    assert.match(reason, /^INFO starting vllm for Qwen3-4B$/m);
  });

  it("a driver older than the image's branch fails the driver phase, naming the driver, the image and the branch it needs", async () => {
    const sb = await sandbox({ request: { model: "qwen3:8b", engine: "vllm" }, driverVersion: "550.127.05" });
    const r = await sb.install();
    assert.equal(r.code, 1);
    assert.equal(sb.status().error?.phase, "driver");
    assert.equal(
      sb.status().error?.reason,
      "NVIDIA driver 550.127.05 is too old for vllm/vllm-openai:v0.31.0: it needs branch 580 or later " +
        "(the image is built on CUDA 13). Upgrade the driver or use the Deep Learning AMI",
    );
    assert.equal(
      sb.calls().some((c) => c.cmd === "docker" && c.args[0] === "pull"),
      false,
      "stops before pulling the image",
    );
  });

  it("Ollama runs on driver 550 (its image needs no CUDA 13)", async () => {
    const sb = await sandbox({
      request: { model: "qwen3:0.6b", engine: "ollama" },
      driverVersion: "550.127.05",
      secrets: "file",
    });
    const r = await sb.install();
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });

  it("plain Ubuntu after an interrupted dpkg: runs dpkg --configure -a before any apt-get, and every apt-get waits for the dpkg lock", async () => {
    const sb = await sandbox({
      request: { model: "qwen3:8b", engine: "vllm" },
      driverPresent: false,
      driverPolicy: "install",
    });
    mkdirSync(sb.p("var/lib/dpkg/updates"), { recursive: true });
    writeFileSync(sb.p("var/lib/dpkg/updates/0007"), "interrupted\n");
    const r = await sb.install();
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(sb.status().state, "rebooting");
    const calls = sb.calls().filter((c) => c.cmd === "apt-get" || c.cmd === "dpkg");
    assert.deepEqual(calls[0], { cmd: "dpkg", args: ["--force-confdef", "--force-confold", "--configure", "-a"] });
    const apt = calls.filter((c) => c.cmd === "apt-get");
    assert.deepEqual(
      apt.map((c) => aptVerb(c.args)),
      ["update", "install"],
    );
    for (const c of apt) assert.deepEqual(c.args.slice(0, 2), ["-o", "DPkg::Lock::Timeout=900"], JSON.stringify(c));
  });

  it("plain Ubuntu on an NVSwitch machine: installs the fabric manager of the driver's branch, enables it, and gets ready after the reboot", async () => {
    const sb = await sandbox({
      request: { model: "qwen3:8b", engine: "vllm" },
      driverPresent: false,
      driverPolicy: "install",
      envFile: { FABRIC_MANAGER: "fabricmanager" },
    });
    const first = await sb.install();
    assert.equal(first.code, 0, first.stdout + first.stderr);
    const install = sb.calls().find((c) => c.cmd === "apt-get" && aptVerb(c.args) === "install");
    assert.ok(install?.args.includes("nvidia-fabricmanager-580"), JSON.stringify(install));
    assert.ok(
      sb
        .calls()
        .some((c) => c.cmd === "systemctl" && c.args[0] === "enable" && c.args[1] === "nvidia-fabricmanager.service"),
    );
    sb.reboot();
    const second = await sb.bootstrap();
    assert.equal(second.code, 0, second.stdout + second.stderr);
    assert.equal(sb.status().state, "ready");
  });

  it("plain Ubuntu on a B200 (NVLink subnet manager needed) is refused in the driver phase, before any install", async () => {
    const sb = await sandbox({
      request: { model: "qwen3:8b", engine: "vllm" },
      driverPresent: false,
      driverPolicy: "install",
      envFile: { FABRIC_MANAGER: "fabricmanager+nvlsm" },
    });
    const r = await sb.install();
    assert.equal(r.code, 1);
    assert.equal(sb.status().error?.phase, "driver");
    assert.match(
      sb.status().error?.reason ?? "",
      /^this instance type needs NVIDIA's NVLink subnet manager \(nvlsm\), which the bootstrap cannot install on plain Ubuntu; use the Deep Learning AMI$/,
    );
    assert.equal(
      sb.calls().some((c) => c.cmd === "apt-get"),
      false,
    );
  });

  it("an NVSwitch machine with a driver but no fabric manager fails the driver phase saying so", async () => {
    const sb = await sandbox({
      request: { model: "qwen3:8b", engine: "vllm" },
      envFile: { FABRIC_MANAGER: "fabricmanager" },
    });
    const r = await sb.install();
    assert.equal(r.code, 1);
    assert.equal(sb.status().error?.phase, "driver");
    assert.match(
      sb.status().error?.reason ?? "",
      /^this NVSwitch machine needs nvidia-fabricmanager-580 running \(driver 580\.105\.08\), and it did not start; install it or use the Deep Learning AMI$/,
    );
  });
});

// One install serves both: each setting reaches its own part of the engine's `docker run`.
describe("a vLLM install with GPU_DEVICES and a pinned image digest", () => {
  let sb: Sandbox;
  const ref = `vllm/vllm-openai:v0.31.0@${PINNED_DIGEST}`;
  before(async () => {
    sb = await sandbox({
      request: { model: "Qwen3-4B", engine: "vllm" },
      envFile: { GPU_DEVICES: "device=0,1", ENGINE_IMAGE_DIGEST: PINNED_DIGEST },
    });
    const r = await sb.install();
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });

  it("GPU_DEVICES device=0,1 reaches docker run as --gpus with its inner quotes, which Docker's CSV parser needs", () => {
    const run = JSON.parse(readFileSync(sb.p("fake/docker-run.json"), "utf8")) as { opts: string[] };
    assert.equal(run.opts[run.opts.indexOf("--gpus") + 1], '"device=0,1"');
  });

  it("a pinned image digest is pulled and run by digest, for the engine and the download container", () => {
    assert.deepEqual(
      sb
        .calls()
        .filter((c) => c.cmd === "docker" && c.args[0] === "pull")
        .map((c) => c.args[1]),
      [ref],
    );
    assert.equal((JSON.parse(readFileSync(sb.p("fake/docker-run.json"), "utf8")) as { image: string }).image, ref);
    const download = sb.calls().find((c) => c.cmd === "docker" && c.args[0] === "run" && c.args.includes("hf"));
    assert.ok(download?.args.includes(ref), JSON.stringify(download));
    assert.equal(sb.status().versions?.engineImageDigest, `vllm/vllm-openai@${PINNED_DIGEST}`);
  });
});
