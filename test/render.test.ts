/**
 * Rendering the machine side: the env file quotes values for bash, the engine files carry the plan's
 * argv and env verbatim, the cloud-init user data passes `cloud-init schema` and fits EC2's 16 KiB
 * limit once gzipped, the SSH installer passes shellcheck, and no form carries a secret.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import { parse } from "yaml";
import {
  bootstrapEnv,
  machineEnv,
  renderCloudInit,
  renderInstallScript,
  renderMachineConfig,
  renderTemplate,
  shippedScript,
  type MachineSettings,
} from "../components/machine/render";
import { shellQuote } from "../components/engines/shell";
import { buildPlan, type Plan } from "../components/sizing/plan";
import { parsePlanRequest } from "../components/sizing/request";
import { MODELS } from "../components/catalog/models";
import { idleScriptSsm, machineFiles, scriptNames } from "../components/machine/assets";
import { requireTool } from "./helpers/tools";
import { compileCacheKey, type WeightsMirror } from "../components/mirror/keys";

const dir = mkdtempSync(path.join(os.tmpdir(), "qs-render-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const SSM: MachineSettings = {
  secrets: {
    source: "ssm",
    region: "eu-west-1",
    apiKeyParameter: "/qwen3-serve/prod/api-key",
    hfTokenParameter: "/qwen3-serve/prod/hf-token",
  },
  proxyPort: 8080,
  driver: "require",
};
/** The user data as the AWS target renders it: idle.py comes from SSM, so the file is not in it. */
const idleProd = idleScriptSsm("/qwen3-serve/prod");
const AWS_SSM: MachineSettings = { ...SSM, idleFromSsm: { parameters: idleProd.parameters, sha256: idleProd.sha256 } };
/** EC2's user data limit, in raw form (here: gzipped) before base64 (EC2 User Guide, "Work with instance user data"). */
const EC2_USER_DATA_LIMIT = 16384;
const plan = (model: string, engine: "vllm" | "sglang" | "ollama", context?: number): Plan =>
  buildPlan(parsePlanRequest(context === undefined ? { model, engine } : { model, engine, context }));

describe("env file", () => {
  it("quotes values for bash, so sourcing it gives back exactly what was written", () => {
    const tricky = ["plain", "with space", "it's", "$(rm -rf /)", "`x`", 'a"b', "\\n"];
    const script = tricky.map((v, i) => `V${i}=${shellQuote(v)}; printf '%s\\0' "$V${i}"`).join("\n");
    const r = spawnSync("bash", ["-c", script], { encoding: "utf8" });
    assert.deepEqual(r.stdout.split("\0").slice(0, -1), tricky);
  });

  it("holds the settings the scripts read, and secret locations rather than secrets", () => {
    const p = plan("qwen3:8b", "vllm");
    const env = bootstrapEnv(p, SSM);
    assert.equal(env.ENGINE_IMAGE, "vllm/vllm-openai:v0.31.0");
    assert.equal(env.MODEL_REF, "Qwen/Qwen3-8B");
    assert.equal(env.SSM_API_KEY_PARAM, "/qwen3-serve/prod/api-key");
    assert.equal(env.EXPECT_GPU_COUNT, "1");
    assert.equal(env.EXPECT_GPU_MEMORY_MIB, String(Math.floor(p.memory.perGpuGiB * 1024)));
    assert.equal(env.DRIVER_BRANCH, "580");
    // The watchdog is off unless the stack asks; it powers a cloud machine off.
    assert.deepEqual([env.IDLE_MINUTES, env.TTL_HOURS, env.IDLE_ACTION, env.IDLE_COUNT_SSH], ["", "", "poweroff", "0"]);
    const on = bootstrapEnv(p, { ...SSM, idle: { minutes: 30, ttlHours: 12, countSsh: true, action: "stop-engine" } });
    assert.deepEqual(
      [on.IDLE_MINUTES, on.TTL_HOURS, on.IDLE_ACTION, on.IDLE_COUNT_SSH],
      ["30", "12", "stop-engine", "1"],
    );
    // Every variable the scripts read from the env file is set (none comes from a stale machine).
    const scripts = scriptNames()
      .map(
        (n) => spawnSync("cat", [path.join(__dirname, "..", "components", "machine", n)], { encoding: "utf8" }).stdout,
      )
      .join("\n");
    // Shell reads $KEY; the idle watchdog (Python) reads env("KEY"), num("KEY") or fact("KEY").
    const read = new Set(
      [...scripts.matchAll(/(?:\$\{?|env\("|num\("|fact\(")([A-Z][A-Z0-9_]+)/g)].map((m) => m[1] ?? ""),
    );
    for (const key of [...Object.keys(env), ...Object.keys(machineEnv())])
      assert.ok(read.has(key), `${key} is written but no script reads it`);
  });

  it(
    "a fleet replica's env file is the single machine's plus six FLEET_* lines at its end, every script reads " +
      "them, and malformed fleet values or a queue metric Ollama cannot give are refused",
    () => {
      const fleet = {
        region: "us-east-1",
        autoScalingGroupName: "qwen3-serve-team-prod-fleet",
        metricNamespace: "qwen3-serve",
        queueMetric: "QueueDepth",
        publishQueueMetric: true,
        readyPath: "/qwen3-serve/ready",
      };
      const p = plan("qwen3:8b", "vllm");
      const single = renderMachineConfig(p, AWS_SSM);
      const replica = renderMachineConfig(p, { ...AWS_SSM, fleet });
      const envOf = (files: typeof single): string =>
        files.find((f) => f.path.endsWith("/bootstrap.env"))?.content ?? "";
      assert.doesNotMatch(envOf(single), /FLEET_/);
      assert.equal(
        envOf(replica),
        `${envOf(single)}FLEET_ASG_NAME='qwen3-serve-team-prod-fleet'\nFLEET_REGION='us-east-1'\n` +
          "FLEET_METRIC_NAMESPACE='qwen3-serve'\nFLEET_QUEUE_METRIC='QueueDepth'\nFLEET_PUBLISH_QUEUE='1'\n" +
          "FLEET_READY_PATH='/qwen3-serve/ready'\n",
      );
      assert.deepEqual(
        replica.filter((f) => !f.path.endsWith("/bootstrap.env")),
        single.filter((f) => !f.path.endsWith("/bootstrap.env")),
      );
      const scripts = scriptNames()
        .map((n) => readFileSync(path.join(__dirname, "..", "components", "machine", n), "utf8"))
        .join("\n");
      for (const key of Object.keys(bootstrapEnv(p, { ...AWS_SSM, fleet })).filter((k) => k.startsWith("FLEET_")))
        assert.match(scripts, new RegExp(`(\\$\\{?|env\\(")${key}\\b`), `${key} is written but no script reads it`);
      const bad: [Partial<typeof fleet>, RegExp][] = [
        [{ region: "us-east-1; rm" }, /^Error: fleet\.region "us-east-1; rm" does not match/],
        [{ autoScalingGroupName: "a'b" }, /^Error: fleet\.autoScalingGroupName "a'b" does not match/],
        [{ readyPath: "ready" }, /^Error: fleet\.readyPath "ready" does not match/],
        [{ queueMetric: "" }, /^Error: fleet\.queueMetric "" does not match/],
      ];
      for (const [patch, message] of bad)
        assert.throws(() => bootstrapEnv(p, { ...AWS_SSM, fleet: { ...fleet, ...patch } }), message);
      assert.throws(
        () => bootstrapEnv(plan("qwen3:0.6b", "ollama"), { ...AWS_SSM, fleet }),
        /^Error: fleet\.publishQueueMetric: ollama has no queue metrics to publish$/,
      );
      assert.equal(
        bootstrapEnv(plan("qwen3:0.6b", "ollama"), { ...AWS_SSM, fleet: { ...fleet, publishQueueMetric: false } })
          .FLEET_PUBLISH_QUEUE,
        "0",
      );
    },
  );

  it("carries each engine image's minimum driver branch: 580 for vLLM and SGLang (CUDA 13 images), 550 for Ollama", () => {
    const need = (engine: "vllm" | "sglang" | "ollama"): [string | undefined, string | undefined] => {
      const env = bootstrapEnv(plan("qwen3:8b", engine), SSM);
      return [env.MIN_DRIVER_BRANCH, env.MIN_DRIVER_REASON];
    };
    assert.deepEqual(need("vllm"), ["580", "the image is built on CUDA 13"]);
    assert.deepEqual(need("sglang"), ["580", "the image is built on CUDA 13"]);
    assert.deepEqual(need("ollama"), ["550", "Ollama's bundled CUDA runners"]);
  });

  it("tells the bootstrap which instances need the fabric manager (p4d, p4de, p5.48xlarge, p5en) and the NVLink subnet manager too (p6-b200)", () => {
    const on = (type: string): string | undefined =>
      bootstrapEnv(buildPlan(parsePlanRequest({ model: "Qwen3-32B", engine: "vllm", instanceTypes: [type] })), SSM)
        .FABRIC_MANAGER;
    assert.equal(on("p4de.24xlarge"), "fabricmanager");
    assert.equal(on("p5.48xlarge"), "fabricmanager");
    assert.equal(on("p5en.48xlarge"), "fabricmanager");
    assert.equal(on("p6-b200.48xlarge"), "fabricmanager+nvlsm");
    assert.equal(on("g6e.48xlarge"), "");
  });

  it("writes the engine argv one per line and the engine env in docker's env-file format", () => {
    const p = plan("qwen3:8b", "vllm", 131072);
    const files = renderMachineConfig(p, SSM);
    const argv = files.find((f) => f.path.endsWith("engine.argv"));
    const env = files.find((f) => f.path.endsWith("engine.env"));
    assert.deepEqual(argv?.content.split("\n").slice(0, -1), p.serve.argv);
    assert.equal(env?.content, "HF_HUB_OFFLINE=1\nVLLM_NO_USAGE_STATS=1\nDO_NOT_TRACK=1\n");
    assert.deepEqual(
      files.map((f) => [f.path, f.mode]),
      [
        ["/usr/local/lib/qwen3-serve/machine.env", "0644"],
        ["/etc/qwen3-serve/bootstrap.env", "0600"],
        ["/etc/qwen3-serve/engine.argv", "0644"],
        ["/etc/qwen3-serve/engine.env", "0644"],
      ],
    );
  });
});

describe("cloud-init user data", () => {
  before(() => requireTool("cloud-init"));
  for (const [model, engine] of [
    ["qwen3:8b", "ollama"],
    ["Qwen3-30B-A3B", "vllm"],
    ["Qwen3-32B", "sglang"],
  ] as const) {
    it(`${model} on ${engine}, AWS form (idle.py from SSM): valid under cloud-init schema, under 16 KiB gzipped, no secrets`, () => {
      const userData = renderCloudInit(machineFiles(plan(model, engine), AWS_SSM));
      const file = path.join(dir, `${engine}.yaml`);
      writeFileSync(file, userData);
      const r = spawnSync("cloud-init", ["schema", "--config-file", file], { encoding: "utf8" });
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /Valid (schema|cloud-config)/);
      const gz = gzipSync(userData, { level: 9 }).length;
      assert.ok(gz < EC2_USER_DATA_LIMIT, `gzipped user data is ${gz} bytes; EC2 takes at most ${EC2_USER_DATA_LIMIT}`);
      const doc = parse(userData) as {
        write_files: { path: string; permissions: string; content: string }[];
        runcmd: string[][];
      };
      // Secret-sounding settings only say where a secret lives, never what it is.
      const env = doc.write_files.find((f) => f.path === "/etc/qwen3-serve/bootstrap.env")?.content ?? "";
      const secretish = env.split("\n").filter((l) => /^[A-Z_]*(KEY|TOKEN|SECRET|PASSWORD)[A-Z_]*=/.test(l));
      assert.deepEqual(secretish, [
        "SECRETS_SOURCE='ssm'",
        "SSM_API_KEY_PARAM='/qwen3-serve/prod/api-key'",
        "SSM_HF_TOKEN_PARAM='/qwen3-serve/prod/hf-token'",
        "SECRETS_FILE=''",
      ]);
      assert.deepEqual(doc.runcmd, [["bash", "/usr/local/lib/qwen3-serve/bootstrap.sh", "--background"]]);
      assert.equal(doc.write_files.find((f) => f.path === "/etc/qwen3-serve/bootstrap.env")?.permissions, "0600");
      assert.equal(
        doc.write_files.find((f) => f.path === "/usr/local/lib/qwen3-serve/bootstrap.sh")?.permissions,
        "0755",
      );
    });
  }

  it(
    "every model and engine, at 32K and 128K, with every optional setting at its " +
      "longest, stays under 16 KiB gzipped in the AWS form (idle.py from SSM)",
    () => {
      const idle = idleScriptSsm(`/qwen3-serve/${"s".repeat(40)}`);
      const worst: MachineSettings = {
        secrets: {
          source: "ssm",
          region: "ap-southeast-2",
          apiKeyParameter: `/qwen3-serve/${"s".repeat(40)}/api-key`,
          hfTokenParameter: `/qwen3-serve/${"s".repeat(40)}/hf-token`,
        },
        idleFromSsm: { parameters: idle.parameters, sha256: idle.sha256 },
        proxyPort: 8443,
        driver: "install",
        tls: { domain: "qwen3-endpoint.research.example.com", email: "ml-platform-team@example.com" },
        engineImageDigest: `sha256:${"a".repeat(64)}`,
        idle: { minutes: null, ttlHours: null, countSsh: false, action: "poweroff", fromInstanceTags: true },
      };
      let largest = 0;
      for (const m of MODELS) {
        for (const engine of ["vllm", "sglang", "ollama"] as const) {
          for (const context of [32768, 131072]) {
            let p: Plan;
            try {
              p = plan(m.id, engine, context);
            } catch {
              continue; // no instance holds it at this context: nothing to render
            }
            largest = Math.max(largest, gzipSync(renderCloudInit(machineFiles(p, worst)), { level: 9 }).length);
          }
        }
      }
      assert.ok(
        largest < EC2_USER_DATA_LIMIT,
        `largest gzipped user data is ${largest} bytes; EC2 takes at most ${EC2_USER_DATA_LIMIT}`,
      );
    },
  );

  it(
    "the AWS form leaves idle.py out, names its chunk parameters and the shipped text's " +
      "SHA-256 in the env file, and refuses a hash that is not the shipped idle.py's",
    () => {
      const files = machineFiles(plan("qwen3:8b", "vllm"), AWS_SSM);
      assert.deepEqual(
        files.filter((f) => f.path.includes("idle")).map((f) => f.path),
        ["/usr/local/lib/qwen3-serve/idle.sh"],
      );
      const env = files.find((f) => f.path.endsWith("/bootstrap.env"))?.content ?? "";
      assert.match(
        env,
        /^SSM_IDLE_PY_PARAMS='\/qwen3-serve\/prod\/machine\/idle\.py\/0 \/qwen3-serve\/prod\/machine\/idle\.py\/1 \/qwen3-serve\/prod\/machine\/idle\.py\/2'$/m,
      );
      const shipped = shippedScript(
        readFileSync(path.join(__dirname, "..", "components", "machine", "idle.py"), "utf8"),
      );
      const sha = spawnSync("sha256sum", { input: shipped, encoding: "utf8" }).stdout.split(" ")[0];
      assert.match(env, new RegExp(`^IDLE_PY_SHA256='${sha}'$`, "m"));
      // Other targets ship it in place and leave both keys empty.
      const ssh = machineFiles(plan("qwen3:8b", "vllm"), SSM);
      assert.equal(ssh.find((f) => f.path.endsWith("/idle.py"))?.content, shipped);
      assert.match(
        ssh.find((f) => f.path.endsWith("/bootstrap.env"))?.content ?? "",
        /^SSM_IDLE_PY_PARAMS=''\nIDLE_PY_SHA256=''$/m,
      );
      assert.throws(
        () =>
          machineFiles(plan("qwen3:8b", "vllm"), {
            ...AWS_SSM,
            idleFromSsm: { parameters: idleProd.parameters, sha256: "0".repeat(64) },
          }),
        /idleFromSsm\.sha256 0{64} is not the shipped idle\.py's/,
      );
      assert.throws(
        () =>
          machineFiles(plan("qwen3:8b", "vllm"), {
            ...AWS_SSM,
            secrets: { source: "file", path: "/etc/qwen3-serve/secrets.env" },
          }),
        /idle\.py can come from SSM only on a machine that reads its secrets from SSM/,
      );
    },
  );
});

describe("shipped scripts", () => {
  before(() => requireTool("python3"));
  it("drop only full-line comments, keep shebangs and shellcheck directives, and still parse", () => {
    assert.equal(
      shippedScript(
        "#!/usr/bin/env bash\n# why\n  # indented why\nx=1 # trailing stays\n# shellcheck disable=SC2034\ny='#not a comment'\n",
      ),
      "#!/usr/bin/env bash\nx=1 # trailing stays\n# shellcheck disable=SC2034\ny='#not a comment'\n",
    );
    for (const f of machineFiles(plan("qwen3:8b", "vllm"), SSM).filter((x) => /\.(sh|py)$/.test(x.path))) {
      const file = path.join(dir, path.basename(f.path));
      writeFileSync(file, f.content);
      const r = f.path.endsWith(".py")
        ? spawnSync("python3", ["-c", "import ast,sys; ast.parse(open(sys.argv[1]).read())", file], {
            encoding: "utf8",
          })
        : spawnSync("bash", ["-n", file], { encoding: "utf8" });
      assert.equal(r.status, 0, `${f.path}: ${r.stderr}`);
      assert.doesNotMatch(f.content.split("\n").slice(1).join("\n"), /^\s*#(?! shellcheck )/m, f.path);
    }
  });
});

describe("SSH installer", () => {
  before(() => requireTool("shellcheck"));
  it("passes shellcheck and embeds every file", () => {
    const files = machineFiles(plan("qwen3:8b", "ollama"), {
      ...SSM,
      secrets: { source: "file", path: "/etc/qwen3-serve/secrets.env" },
    });
    const script = renderInstallScript(files);
    const file = path.join(dir, "install.sh");
    writeFileSync(file, script);
    const r = spawnSync("shellcheck", ["-S", "warning", file], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stdout);
    assert.equal((script.match(/^put '/gm) ?? []).length, files.length);
    assert.doesNotMatch(script, /API_KEY=|HF_TOKEN=/);
  });

  it("refuses engine arguments that a line-per-argument file cannot carry", () => {
    const p = plan("qwen3:8b", "vllm");
    const bad = { ...p, serve: { ...p.serve, argv: [...p.serve.argv, "two\nlines"] } };
    assert.throws(() => renderMachineConfig(bad, SSM), /holds a newline/);
  });
});

describe("machine facts: defined once in render.ts, read by the scripts from machine.env", () => {
  before(() => requireTool("python3"));
  const MACHINE = path.join(__dirname, "..", "components", "machine");
  /** The facts as a machine gets them: render.ts's values, pinned here so a change is deliberate. */
  const FACTS = {
    QS_CONF_DIR: "/etc/qwen3-serve",
    QS_BOOTSTRAP_ENV: "/etc/qwen3-serve/bootstrap.env",
    QS_ENGINE_ARGV: "/etc/qwen3-serve/engine.argv",
    QS_ENGINE_ENV: "/etc/qwen3-serve/engine.env",
    QS_STATE_DIR: "/var/lib/qwen3-serve",
    QS_STATUS_FILE: "/var/lib/qwen3-serve/status.json",
    QS_LOG_DIR: "/var/log/qwen3-serve",
    QS_ACCESS_LOG: "/var/log/qwen3-serve/access.log",
    QS_STATUS_URL_PATH: "/qwen3-serve/status",
    QS_ACTIVITY_URL_PATH: "/qwen3-serve/activity",
    QS_ACTIVITY_SOCKET: "/run/qwen3-serve-activity.sock",
    QS_HF_CACHE: "/var/lib/qwen3-serve/hf",
    QS_HF_CACHE_MOUNT: "/root/.cache/huggingface",
    QS_OLLAMA_CACHE: "/var/lib/qwen3-serve/ollama",
    QS_OLLAMA_CACHE_MOUNT: "/root/.ollama",
    QS_ENGINE_CACHE: "/var/lib/qwen3-serve/engine-cache",
    QS_ENGINE_CACHE_MOUNT: "/var/cache/qwen3-serve",
    QS_ENGINE_CACHE_ENV:
      "VLLM_CACHE_ROOT=/var/cache/qwen3-serve/vllm TRITON_CACHE_DIR=/var/cache/qwen3-serve/triton " +
      "TORCHINDUCTOR_CACHE_DIR=/var/cache/qwen3-serve/inductor SGLANG_CACHE_DIR=/var/cache/qwen3-serve/sglang " +
      "SGLANG_DG_CACHE_DIR=/var/cache/qwen3-serve/deep_gemm",
    ENGINE_ULIMITS: "memlock=-1 stack=67108864",
    ENGINE_LOG_MAX_SIZE: "100m",
    ENGINE_LOG_MAX_FILES: "3",
    IDLE_GRACE_MINUTES: "10",
  };
  const machineEnvFile = (): string =>
    renderMachineConfig(plan("qwen3:8b", "vllm"), SSM).find((f) => f.path.endsWith("/machine.env"))?.content ?? "";

  /** A folder holding the given machine scripts and a machine.env with `content`. */
  function libDir(names: readonly string[], content: string): string {
    const lib = mkdtempSync(path.join(dir, "lib-"));
    for (const n of names) copyFileSync(path.join(MACHINE, n), path.join(lib, n));
    writeFileSync(path.join(lib, "machine.env"), content);
    return lib;
  }

  it("machine.env (0644, beside the scripts) holds every fact, quoted for bash, with the values pinned here", () => {
    assert.deepEqual(machineEnv(), FACTS);
    const file = renderMachineConfig(plan("qwen3:8b", "vllm"), SSM).find((f) => f.path.endsWith("/machine.env"));
    assert.deepEqual([file?.path, file?.mode], ["/usr/local/lib/qwen3-serve/machine.env", "0644"]);
    const names = Object.keys(FACTS);
    const envFile = path.join(dir, "machine.env");
    writeFileSync(envFile, file?.content ?? "");
    const r = spawnSync(
      "bash",
      [
        "--norc",
        "-c",
        `set -eu; . "$1"; for n in ${names.join(" ")}; do printf '%s\\0' "\${!n}"; done`,
        "bash",
        envFile,
      ],
      { encoding: "utf8" },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.split("\0").slice(0, -1), Object.values(FACTS));
  });

  it("no file under components/machine/ but render.ts spells a fact's path, URL path or ulimit, or gives a fact a default", () => {
    const files = (d: string): string[] =>
      readdirSync(d).flatMap((n) =>
        statSync(path.join(d, n)).isDirectory() ? files(path.join(d, n)) : [path.join(d, n)],
      );
    const literals = [
      ...Object.values(FACTS)
        .filter((v) => v.startsWith("/"))
        .flatMap((v) => [v, v.slice(1)]),
      "memlock=-1",
      "67108864",
    ];
    const found: string[] = [];
    for (const f of files(MACHINE).filter((f) => path.basename(f) !== "render.ts")) {
      const text = readFileSync(f, "utf8");
      const rel = path.relative(MACHINE, f);
      for (const lit of literals) if (text.includes(lit)) found.push(`${rel}: ${lit}`);
      for (const name of Object.keys(FACTS)) {
        // ${NAME:-x} in shell, env("NAME", x) or .get("NAME", x) in Python: a second source.
        const fallback = new RegExp(`\\$\\{${name}:-|(?:env|get)\\("${name}",`);
        if (fallback.test(text)) found.push(`${rel}: a default for ${name}`);
      }
    }
    assert.deepEqual(found, []);
  });

  it("lib.sh takes the facts from machine.env beside it and roots each path at QS_ROOT", () => {
    const lib = libDir(["lib.sh"], machineEnvFile());
    const vars = [
      ...["CONF_DIR", "SECRETS_DIR", "ENGINE_ARGV_FILE", "STATE_DIR", "STATUS_FILE", "ACCESS_LOG", "HF_CACHE"],
      "ENGINE_CACHE",
    ];
    const r = spawnSync(
      "bash",
      ["--norc", "-c", `set -eu; . "$QS_LIB/lib.sh"; for n in ${vars.join(" ")} QS_ENV_FILE; do echo "\${!n}"; done`],
      { env: { PATH: process.env.PATH ?? "", QS_LIB: lib, QS_ROOT: "/sandbox" }, encoding: "utf8" },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split("\n"), [
      "/sandbox/etc/qwen3-serve",
      "/sandbox/run/qwen3-serve/secrets",
      "/sandbox/etc/qwen3-serve/engine.argv",
      "/sandbox/var/lib/qwen3-serve",
      "/sandbox/var/lib/qwen3-serve/status.json",
      "/sandbox/var/log/qwen3-serve/access.log",
      "/sandbox/var/lib/qwen3-serve/hf",
      "/sandbox/var/lib/qwen3-serve/engine-cache",
      "/sandbox/etc/qwen3-serve/bootstrap.env",
    ]);
  });

  it("lib.sh stops with status 2, naming what is missing: a fact absent from machine.env, or machine.env itself", () => {
    const without = machineEnvFile()
      .split("\n")
      .filter((l) => !l.startsWith("QS_STATE_DIR="))
      .join("\n");
    const source = (lib: string): ReturnType<typeof spawnSync> =>
      spawnSync("bash", ["--norc", "-c", '. "$QS_LIB/lib.sh"; echo reached'], {
        env: { PATH: process.env.PATH ?? "", QS_LIB: lib },
        encoding: "utf8",
      });
    const lib = libDir(["lib.sh"], without);
    const missingFact = source(lib);
    assert.deepEqual([missingFact.status, missingFact.stdout], [2, ""]);
    assert.equal(missingFact.stderr, `qwen3-serve: QS_STATE_DIR is missing from ${lib}/machine.env\n`);
    rmSync(path.join(lib, "machine.env"));
    const noFile = source(lib);
    assert.deepEqual([noFile.status, noFile.stdout], [2, ""]);
    assert.equal(noFile.stderr, `qwen3-serve: missing ${lib}/machine.env\n`);
  });

  it("idle.py takes a fact from its environment first, else from machine.env beside it, and stops naming one in neither", () => {
    const lib = libDir(["idle.py", "status.py"], machineEnvFile());
    const fact = (name: string, extra: Record<string, string> = {}): ReturnType<typeof spawnSync> =>
      spawnSync("python3", ["-c", "import sys, idle; print(idle.fact(sys.argv[1]))", name], {
        cwd: lib,
        env: { PATH: process.env.PATH ?? "", PYTHONDONTWRITEBYTECODE: "1", ...extra },
        encoding: "utf8",
      });
    assert.equal(fact("QS_STATUS_FILE").stdout, "/var/lib/qwen3-serve/status.json\n");
    assert.equal(fact("IDLE_GRACE_MINUTES").stdout, "10\n");
    assert.equal(fact("QS_STATUS_FILE", { QS_STATUS_FILE: "/srv/status.json" }).stdout, "/srv/status.json\n");
    const missing = fact("QS_NOT_A_FACT");
    assert.equal(missing.status, 1);
    assert.equal(
      missing.stderr,
      `idle.py: QS_NOT_A_FACT is neither in the environment nor in ${path.join(lib, "machine.env")}\n`,
    );
  });

  it("the proxy template's activity location is the fact's URL path, whoever renders it", () => {
    const conf = renderTemplate(readFileSync(path.join(MACHINE, "proxy.conf"), "utf8"), {
      AUTH_INCLUDE: "/x/auth.conf",
      LISTEN: "listen 8080;",
      ACCESS_LOG: "/x/access.log",
      UPSTREAM_SETUP: "",
      UPSTREAM: "http://127.0.0.1:8000",
      STATUS_LOCATION: "",
      ACTIVITY_LISTEN: "8079",
    });
    assert.match(conf, /^ {4}location = \/qwen3-serve\/activity \{ stub_status; \}$/m);
  });
});

describe("the S3 weights mirror in the rendered files (aws.weightsCache: s3)", () => {
  const REV = "0123456789abcdef0123456789abcdef01234567";
  const DIGEST = "a".repeat(64);
  const BUCKET = "qwen3-serve-weights-0123456789ab";
  const pinned = (model: string, engine: "vllm" | "sglang" | "ollama"): Plan =>
    buildPlan(parsePlanRequest({ model, engine, modelRevision: engine === "ollama" ? DIGEST : REV }));
  const mirror = (prefix: string, stream: boolean): WeightsMirror => ({
    bucket: BUCKET,
    region: "eu-west-1",
    prefix,
    stream,
    ...(stream ? { readRoleArn: "arn:aws:iam::123456789012:role/prod-weights-read" } : {}),
    usedKey: "v1/used/qwen3-serve.prod/0123456789abcdef.json",
  });
  const fileOf = (files: readonly { path: string; content: string }[], name: string): string =>
    files.find((f) => f.path.endsWith(name))?.content ?? assert.fail(`${name} not rendered`);

  it("mirror off: machine.env, bootstrap.env, engine.argv and engine.env are byte-identical to commit 0f77d1f's (vLLM, SGLang, Ollama)", () => {
    // SHA-256 of each file as the code at commit 0f77d1f (before the mirror) rendered these plans with SSM.
    const before: Record<string, string[]> = {
      vllm: [
        "4e8307e7877d56958b2905561b93040d0edab16fcaff565c2cbc2171d51a01b7",
        "ee4afe3bc9ef9279b5763dab47bbea7dfb92f8ab5e3f522329bd0aca2f12671e",
        "7f1f2703502a87247e96fa15ecf3fe7cdbb55b96e5014b36024734728f28dc2d",
        "c63afaa4fa8eb2fba19ee1c6645597a66d526bb907f712c9ae115de97372e3c2",
      ],
      sglang: [
        "4e8307e7877d56958b2905561b93040d0edab16fcaff565c2cbc2171d51a01b7",
        "f50143456ae8d47c9d515717a50b1a28f8d4b749a9797371c5982a37f775098a",
        "af736eb9d1cb6dd5bdee7cf1bd3d1a428f096b89dfb2d20f71bcaa29c629e728",
        "43cc9ff7237dd38984da27b930badd56a6e07600a298be683c4b7703977fee32",
      ],
      ollama: [
        "4e8307e7877d56958b2905561b93040d0edab16fcaff565c2cbc2171d51a01b7",
        "26492ebd74e43311f67888a1f5a3737f2345e3059c5a286db5156e8510035453",
        "02e2daaec5fcd11be4d86aa1377887261ebea8182ec37b4345e535cc4be5607b",
        "4284d7516e9f36f18975697f77470648083f478159c9b6cd5c9ec92df0926aae",
      ],
    };
    const models = { vllm: "Qwen3-8B", sglang: "Qwen3-14B", ollama: "qwen3:8b" } as const;
    for (const engine of ["vllm", "sglang", "ollama"] as const) {
      const files = renderMachineConfig(pinned(models[engine], engine), SSM);
      assert.deepEqual(
        files.map((f) => createHash("sha256").update(f.content).digest("hex")),
        before[engine],
        engine,
      );
      assert.ok(!fileOf(files, "bootstrap.env").includes("WEIGHTS_MIRROR"), engine);
    }
  });

  it("vLLM streaming: engine.argv loads s3://<bucket>/<prefix>/ with --load-format runai_streamer right after it, no --revision, served name Qwen3-8B", () => {
    const p = pinned("Qwen3-8B", "vllm");
    const files = renderMachineConfig(p, { ...SSM, weightsMirror: mirror(`v1/hf/Qwen/Qwen3-8B/${REV}`, true) });
    assert.deepEqual(fileOf(files, "engine.argv").split("\n").slice(0, -1), [
      "vllm",
      "serve",
      `s3://${BUCKET}/v1/hf/Qwen/Qwen3-8B/${REV}/`,
      "--load-format",
      "runai_streamer",
      "--host",
      "0.0.0.0",
      "--port",
      "8000",
      "--served-model-name",
      "Qwen3-8B",
      "--tensor-parallel-size",
      "1",
      "--max-model-len",
      "32768",
      "--gpu-memory-utilization",
      "0.9",
      "--reasoning-parser",
      "qwen3",
      "--enable-auto-tool-choice",
      "--tool-call-parser",
      "hermes",
    ]);
    assert.equal(fileOf(files, "engine.env"), "HF_HUB_OFFLINE=1\nVLLM_NO_USAGE_STATS=1\nDO_NOT_TRACK=1\n");
  });

  it("SGLang streaming: engine.argv has --model-path s3://<bucket>/<prefix>/ --load-format runai_streamer, no --revision, served name Qwen3-14B", () => {
    const p = pinned("Qwen3-14B", "sglang");
    const files = renderMachineConfig(p, { ...SSM, weightsMirror: mirror(`v1/hf/Qwen/Qwen3-14B/${REV}`, true) });
    assert.deepEqual(fileOf(files, "engine.argv").split("\n").slice(0, -1), [
      "python3",
      "-m",
      "sglang.launch_server",
      "--model-path",
      `s3://${BUCKET}/v1/hf/Qwen/Qwen3-14B/${REV}/`,
      "--load-format",
      "runai_streamer",
      "--host",
      "0.0.0.0",
      "--port",
      "30000",
      "--served-model-name",
      "Qwen3-14B",
      "--tp-size",
      "1",
      "--context-length",
      "32768",
      "--mem-fraction-static",
      "0.85",
      "--enable-metrics",
      "--reasoning-parser",
      "qwen3",
      "--tool-call-parser",
      "qwen25",
    ]);
  });

  it("Ollama with the mirror (blobs copied, not streamed): engine.argv is `ollama serve`, exactly as without the mirror", () => {
    const p = pinned("qwen3:8b", "ollama");
    const files = renderMachineConfig(p, {
      ...SSM,
      weightsMirror: mirror(`v1/ollama/qwen3/8b-q4_K_M/${DIGEST}`, false),
    });
    assert.equal(fileOf(files, "engine.argv"), "ollama\nserve\n");
    assert.equal(fileOf(files, "engine.argv"), fileOf(renderMachineConfig(p, SSM), "engine.argv"));
  });

  it("a mirror that is not streamed leaves vLLM's engine.argv as planned, Hub repo and --revision included", () => {
    const p = pinned("Qwen3-8B", "vllm");
    const files = renderMachineConfig(p, { ...SSM, weightsMirror: mirror(`v1/hf/Qwen/Qwen3-8B/${REV}`, false) });
    assert.equal(fileOf(files, "engine.argv"), fileOf(renderMachineConfig(p, SSM), "engine.argv"));
    assert.deepEqual(fileOf(files, "engine.argv").split("\n").slice(-3), ["--revision", REV, ""]);
  });

  it("bootstrap.env carries WEIGHTS_MIRROR=s3 with bucket, region, prefix, STREAM=1, the read role and the used-marker key", () => {
    const env = bootstrapEnv(pinned("Qwen3-8B", "vllm"), {
      ...SSM,
      weightsMirror: mirror(`v1/hf/Qwen/Qwen3-8B/${REV}`, true),
    });
    assert.deepEqual(
      Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith("WEIGHTS_MIRROR") || k === "MODEL_REVISION")),
      {
        MODEL_REVISION: REV,
        WEIGHTS_MIRROR: "s3",
        WEIGHTS_MIRROR_BUCKET: BUCKET,
        WEIGHTS_MIRROR_REGION: "eu-west-1",
        WEIGHTS_MIRROR_PREFIX: `v1/hf/Qwen/Qwen3-8B/${REV}`,
        WEIGHTS_MIRROR_STREAM: "1",
        WEIGHTS_MIRROR_READ_ROLE_ARN: "arn:aws:iam::123456789012:role/prod-weights-read",
        WEIGHTS_MIRROR_USED_KEY: "v1/used/qwen3-serve.prod/0123456789abcdef.json",
        WEIGHTS_MIRROR_CACHE_KEY: "",
      },
    );
  });

  it("bootstrap.env for Ollama's mirror: STREAM and READ_ROLE_ARN empty, the prefix keyed by tag and manifest digest", () => {
    const p = pinned("qwen3:8b", "ollama");
    const prefix = `v1/ollama/qwen3/8b-q4_K_M/${DIGEST}`;
    const text = fileOf(renderMachineConfig(p, { ...SSM, weightsMirror: mirror(prefix, false) }), "bootstrap.env");
    assert.deepEqual(
      text.split("\n").filter((l) => l.startsWith("WEIGHTS_MIRROR")),
      [
        "WEIGHTS_MIRROR='s3'",
        `WEIGHTS_MIRROR_BUCKET='${BUCKET}'`,
        "WEIGHTS_MIRROR_REGION='eu-west-1'",
        `WEIGHTS_MIRROR_PREFIX='${prefix}'`,
        "WEIGHTS_MIRROR_STREAM=''",
        "WEIGHTS_MIRROR_READ_ROLE_ARN=''",
        "WEIGHTS_MIRROR_USED_KEY='v1/used/qwen3-serve.prod/0123456789abcdef.json'",
        "WEIGHTS_MIRROR_CACHE_KEY=''",
      ],
    );
  });

  it("stream set for Ollama, which cannot stream, throws a plain Error (a programming mistake, not a UserError) naming the engine", () => {
    const p = pinned("qwen3:8b", "ollama");
    const withStream = { ...mirror(`v1/ollama/qwen3/8b-q4_K_M/${DIGEST}`, true) };
    assert.throws(
      () => renderMachineConfig(p, { ...SSM, weightsMirror: withStream }),
      (e: unknown) =>
        e instanceof Error &&
        e.name === "Error" &&
        e.message === "weightsMirror.stream: ollama cannot load weights from S3; its weights are copied to disk",
    );
  });

  it(
    "a fleet replica (compileCache set) carries WEIGHTS_MIRROR_CACHE_KEY: the stack's cache prefix and the SHA-256 of " +
      "image, digest, argv, env and GPUs, pinned; a pinned digest, or any other input, makes another key",
    () => {
      const p = pinned("Qwen3-8B", "vllm");
      const fleet = { ...mirror(`v1/hf/Qwen/Qwen3-8B/${REV}`, true), compileCache: "v1/cache/qwen3-serve.prod" };
      const key = (settings: MachineSettings): string | undefined =>
        bootstrapEnv(p, { ...settings, weightsMirror: fleet }).WEIGHTS_MIRROR_CACHE_KEY;
      // Read from a render, 2026-11-30 (vllm/vllm-openai:v0.31.0, the streaming argv, one L40S).
      assert.equal(
        key(SSM),
        "v1/cache/qwen3-serve.prod/40b52d5dc73396b3a0529cab72ded3015d26fcc6fb2a6090923c0c7bccd98e8a.tar.gz",
      );
      assert.equal(
        key({ ...SSM, engineImageDigest: `sha256:${"b".repeat(64)}` }),
        "v1/cache/qwen3-serve.prod/ee6795d23b24948b829ea037ece0b3f84c82ff0026bd1735769c84199488b091.tar.gz",
      );
      const base = {
        image: "vllm/vllm-openai:v0.31.0",
        imageDigest: null,
        argv: ["vllm", "serve"],
        env: { A: "1" },
        gpu: "L40S",
        gpuCount: 1,
      };
      const keys = [
        base,
        { ...base, image: "vllm/vllm-openai:v0.31.1" },
        { ...base, imageDigest: `sha256:${"c".repeat(64)}` },
        { ...base, argv: ["vllm", "serve", "--max-model-len", "8192"] },
        { ...base, env: { A: "2" } },
        { ...base, gpu: "L4" },
        { ...base, gpuCount: 2 },
      ].map((inputs) => compileCacheKey("v1/cache/p.s", inputs));
      assert.equal(new Set(keys).size, keys.length, keys.join("\n"));
      for (const k of keys) assert.match(k, /^v1\/cache\/p\.s\/[0-9a-f]{64}\.tar\.gz$/);
      assert.equal(
        compileCacheKey("v1/cache/p.s", { ...base, env: { B: "2", A: "1" } }),
        compileCacheKey("v1/cache/p.s", { ...base, env: { A: "1", B: "2" } }),
      );
    },
  );

  it("compileCache on Ollama (no compile cache) or outside v1/cache/ throws a plain Error; without it the key is empty", () => {
    const ollama = pinned("qwen3:8b", "ollama");
    const prefix = `v1/ollama/qwen3/8b-q4_K_M/${DIGEST}`;
    assert.throws(
      () =>
        bootstrapEnv(ollama, { ...SSM, weightsMirror: { ...mirror(prefix, false), compileCache: "v1/cache/q.prod" } }),
      { message: "weightsMirror.compileCache: ollama keeps no compile cache" },
    );
    const vllm = pinned("Qwen3-8B", "vllm");
    const hf = mirror(`v1/hf/Qwen/Qwen3-8B/${REV}`, false);
    assert.throws(() => bootstrapEnv(vllm, { ...SSM, weightsMirror: { ...hf, compileCache: "v1/hf/q.prod" } }), {
      message: 'weightsMirror.compileCache "v1/hf/q.prod" is not a stack\'s cache prefix',
    });
    assert.equal(bootstrapEnv(vllm, { ...SSM, weightsMirror: hf }).WEIGHTS_MIRROR_CACHE_KEY, "");
  });

  it("refuses a mirror prefix that is not the plan's model revision, a bad bucket name, and streaming without a read role", () => {
    const p = pinned("Qwen3-8B", "vllm");
    const good = mirror(`v1/hf/Qwen/Qwen3-8B/${REV}`, true);
    const render = (m: WeightsMirror) => () => renderMachineConfig(p, { ...SSM, weightsMirror: m });
    assert.throws(render({ ...good, prefix: `v1/hf/Qwen/Qwen3-14B/${REV}` }), {
      message: `weightsMirror.prefix "v1/hf/Qwen/Qwen3-14B/${REV}" is not the plan's model, v1/hf/Qwen/Qwen3-8B/${REV}`,
    });
    assert.throws(
      render({ ...good, bucket: "Bad_Bucket" }),
      /^Error: weightsMirror\.bucket "Bad_Bucket" does not match/,
    );
    const { readRoleArn: _dropped, ...noRole } = good;
    assert.throws(render(noRole), {
      message: "weightsMirror.stream needs readRoleArn: the engine reads S3 with that role's credentials",
    });
    const unpinned = buildPlan(parsePlanRequest({ model: "Qwen3-8B", engine: "vllm" }));
    assert.throws(() => bootstrapEnv(unpinned, { ...SSM, weightsMirror: good }), {
      message: "the weights mirror keys models by revision: the plan must pin modelRevision",
    });
  });
});
