/**
 * The Docker target under Pulumi mocks: the exact resources and their inputs for the example
 * stack (Ollama) and a vLLM variant. Proves the engine container publishes no port and is
 * reachable only on the private network; every image is pinned (no `latest`), with an optional
 * digest; weights land in a volume before the engine starts (hf download, or an Ollama pull after
 * it); the HF token and API key travel only as secret-marked file uploads, never in env, argv or
 * labels; the outputs. Then the proxy config the component uploads, run for real: the
 * distribution's nginx with that config in front of a loopback stand-in engine answers 401 without
 * the key and passes the request with it.
 *
 * The scripts the containers run, run for real: download.sh with a stand-in `hf` (the token file
 * is gone before the download starts, the token reaches hf only in its environment), and logcap.sh
 * in front of the real nginx (the access log stays under its cap and keeps logging).
 *
 * What this does not prove: that a Docker daemon accepts these inputs (no Docker engine here).
 */
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { PROXY_IMAGE, WATCHDOG_IMAGE } from "../components/catalog/images";
import { decodeConfigValues, parseStackConfig } from "../components/config/schema";
import { UserError } from "../components/errors/userError";
import { nodeScriptCommand } from "../components/machine/nodeScript";
import { KNOWN_GPUS } from "../components/catalog/workstationGpus";
import { planForMachine } from "../components/sizing/machinePlan";
import { buildPlan } from "../components/sizing/plan";
import { parsePlanRequest } from "../components/sizing/request";
import { DockerServer } from "../components/targets/docker";
import { targetOutputsOf } from "../components/targets/outputs";
import { deployStack, type StackContext, type StackOutputs } from "../components/program/deploy";
import {
  MOCK_API_KEY,
  MOCK_IMAGE_ID,
  MOCK_REPO_DIGEST,
  ofType,
  recorded,
  resolveAll,
  secretValue,
  settle,
  useMocks,
  outputValue,
  type Recorded,
} from "./helpers/pulumiMocks";
import { freePort, request } from "./helpers/sandbox";
import { stackFileConfig } from "./helpers/stacks";
import { requireTool } from "./helpers/tools";

const ctx = (stack: string, warnings: string[] = []): StackContext => ({
  project: "qwen3-serve",
  stack,
  defaultOwner: "tester",
  myIp: async () => "198.51.100.77",
  isSecret: () => true,
  warn: (m) => warnings.push(m),
});
const HF_TOKEN = "hf_secretTokenValue123";
/** Where the Docker target's container scripts live. */
const COMPONENT_DIR = path.resolve(__dirname, "..", "components", "targets", "docker");
const VLLM = { "qwen3-serve:model": "Qwen/Qwen3-30B-A3B-FP8", "qwen3-serve:engine": "vllm" };

/**
 * Poll `check` every 100 ms until it returns a value, failing with `what` after `seconds`: a bound
 * generous enough for a loaded machine, since each step waits on another process (nginx, logcap.sh).
 */
async function eventually<T>(
  what: string,
  seconds: number,
  check: () => T | undefined | Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) assert.fail(`${what}: not within ${seconds} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Pulumi's secret marker, as resolved inputs carry it. */
const SIG_KEY = "4dabf18193072939515e22adb298388d";
/** The inputs with every secret-marked value blanked: what a log or a plain diff could show. */
function publicPart(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(publicPart);
  if (v !== null && typeof v === "object") {
    if (SIG_KEY in v) return "[secret]";
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, publicPart(x)]));
  }
  return v;
}

interface Upload {
  file: string;
  content: unknown;
  permissions?: string;
}
interface ContainerInputs {
  name: string;
  image: string;
  entrypoints: string[];
  command: string[];
  envs?: string[];
  ports?: unknown;
  /** Secret-marked as a whole when any upload is secret. */
  uploads?: unknown;
  volumes?: { volumeName: string; containerPath: string }[];
  networksAdvanced?: { name: string; aliases?: string[] }[];
  labels?: { label: string; value: string }[];
  gpus?: string;
  deviceRequests?: unknown;
  logDriver?: string;
  logOpts?: Record<string, string>;
  restart?: string;
  healthcheck?: { tests: string[] };
  wait?: boolean;
  attach?: boolean;
  mustRun?: boolean;
}

async function declare(over: Record<string, string>, stack: string): Promise<StackOutputs> {
  await useMocks();
  const out = await deployStack(
    parseStackConfig(decodeConfigValues({ ...stackFileConfig("docker"), ...over })),
    ctx(stack),
  );
  await resolveAll(out);
  return out;
}
const container = (suffix: string): ContainerInputs => {
  const c = ofType("docker:index/container:Container").find((r) => r.name.endsWith(suffix));
  assert.ok(c, `no container ${suffix}`);
  return c.inputs as unknown as ContainerInputs;
};
const images = (): string[] => ofType("docker:index/remoteImage:RemoteImage").map((r) => String(r.inputs.name));

describe("docker target under mocks: the example stack (Ollama)", () => {
  let out: StackOutputs;
  let snapshot: Recorded[];
  before(async () => {
    out = await declare({}, "dk");
    snapshot = [...recorded];
  });

  it("declares exactly: provider, network, two volumes, three images, engine, pull, proxy, idle watchdog, key, readiness wait", () => {
    assert.deepEqual(snapshot.map((r) => `${r.type} ${r.name}`).sort(), [
      "command:local:Command dk-ready",
      "docker:index/container:Container dk-engine",
      "docker:index/container:Container dk-idle",
      "docker:index/container:Container dk-proxy",
      "docker:index/container:Container dk-weights-pull",
      "docker:index/network:Network dk-net",
      "docker:index/remoteImage:RemoteImage dk-engine-image",
      "docker:index/remoteImage:RemoteImage dk-idle-image",
      "docker:index/remoteImage:RemoteImage dk-proxy-image",
      "docker:index/volume:Volume dk-logs",
      "docker:index/volume:Volume dk-weights",
      "pulumi:providers:docker dk-docker",
      "qwen3-serve:docker:Server dk",
      "random:index/randomPassword:RandomPassword dk-api-key",
    ]);
    const provider = snapshot.find((r) => r.type === "pulumi:providers:docker");
    assert.equal(provider?.inputs.host, "ssh://deploy@192.0.2.20");
  });

  it("pins every image to an exact tag, never latest", () => {
    assert.deepEqual(images(), ["ollama/ollama:0.33.3", PROXY_IMAGE, WATCHDOG_IMAGE]);
    assert.equal(PROXY_IMAGE, "nginx:1.28.0-alpine");
    assert.equal(WATCHDOG_IMAGE, "python:3.13.2-alpine3.20");
    for (const r of ofType("docker:index/remoteImage:RemoteImage"))
      assert.equal(r.inputs.keepLocally, true, "destroy leaves shared images on the host");
  });

  it("runs the engine with the plan's argv and env on the GPUs, on the private network only, no published port", () => {
    const e = container("-engine");
    assert.equal(e.name, "dk-qwen3-serve-engine");
    assert.equal(e.image, MOCK_IMAGE_ID);
    assert.deepEqual([...e.entrypoints, ...e.command], ["ollama", "serve"]);
    assert.deepEqual(e.envs, [
      "OLLAMA_HOST=0.0.0.0:11434",
      "OLLAMA_CONTEXT_LENGTH=32768",
      "OLLAMA_NUM_PARALLEL=1",
      "OLLAMA_KEEP_ALIVE=-1",
      "OLLAMA_MAX_LOADED_MODELS=1",
      "OLLAMA_FLASH_ATTENTION=1",
      "OLLAMA_KV_CACHE_TYPE=f16",
      "OLLAMA_LOAD_TIMEOUT=30m",
      "DO_NOT_TRACK=1",
    ]);
    assert.equal(e.ports, undefined, "the engine port is never published");
    assert.deepEqual(e.networksAdvanced, [{ name: "dk-qwen3-serve", aliases: ["engine"] }]);
    // Docker's DeviceRequest as `docker run --gpus all` builds it (count -1: every GPU), not the CSV text.
    assert.equal(e.gpus, undefined);
    assert.deepEqual(e.deviceRequests, [{ driver: "nvidia", capabilities: ["gpu"], count: -1 }]);
    assert.equal(e.restart, "unless-stopped");
    assert.deepEqual(e.healthcheck?.tests, ["CMD", "ollama", "list"]);
    assert.equal(e.wait, true);
    assert.deepEqual(e.volumes, [{ volumeName: "dk-qwen3-serve-weights", containerPath: "/root/.ollama" }]);
  });

  it("pulls the pinned tag through the running engine, once", () => {
    const p = container("-weights-pull");
    assert.deepEqual([...p.entrypoints, ...p.command], ["ollama", "pull", "qwen3:32b-q4_K_M"]);
    assert.deepEqual(p.envs, ["OLLAMA_HOST=http://engine:11434"]);
    assert.deepEqual([p.attach, p.mustRun, p.restart], [true, false, "no"]);
    assert.equal(p.ports, undefined);
  });

  it("publishes only the proxy port; the key reaches nginx as a root-only, secret-marked upload", () => {
    const published = ofType("docker:index/container:Container").filter((r) => r.inputs.ports !== undefined);
    assert.deepEqual(
      published.map((r) => [r.name, r.inputs.ports]),
      [["dk-proxy", [{ internal: 8080, external: 8080, ip: "192.0.2.20" }]]],
    );
    const proxy = container("-proxy");
    assert.equal(proxy.image, MOCK_IMAGE_ID);
    const [logcap, conf, auth] = secretValue(proxy.uploads) as Upload[];
    assert.deepEqual(logcap, {
      file: "/opt/qwen3-serve/logcap.sh",
      content: readFileSync(path.join(COMPONENT_DIR, "logcap.sh"), "utf8"),
      executable: true,
    });
    assert.equal(conf?.file, "/etc/nginx/conf.d/default.conf");
    assert.match(String(conf?.content), /set \$qwen3_serve_upstream http:\/\/engine:11434;/);
    assert.ok(!String(conf?.content).includes(MOCK_API_KEY));
    assert.equal(auth?.file, "/etc/nginx/qwen3-serve-auth.conf");
    assert.equal(auth?.permissions, "0600");
    // One secret upload makes the whole list secret in state, which is what keeps it out of diffs.
    // A case-sensitive regex (a plain map string would ignore letter case); the key is letters and digits.
    assert.ok(String(auth?.content).includes(`"~^(?i:bearer) ${MOCK_API_KEY}$" 1;`), String(auth?.content));
    assert.deepEqual(proxy.volumes, [{ volumeName: "dk-qwen3-serve-logs", containerPath: "/var/log/qwen3-serve" }]);
  });

  it("runs the machines' idle watchdog as a sidecar: reads the proxy log, stops engine and proxy through the socket", () => {
    const w = container("-idle");
    assert.deepEqual(w.command, ["python3", "/opt/qwen3-serve/idle.py", "loop"]);
    assert.deepEqual(w.envs, [
      // The machine facts idle.py reads (paths, grace period): without them it stops at its first check.
      "QS_CONF_DIR=/etc/qwen3-serve",
      "QS_BOOTSTRAP_ENV=/etc/qwen3-serve/bootstrap.env",
      "QS_ENGINE_ARGV=/etc/qwen3-serve/engine.argv",
      "QS_ENGINE_ENV=/etc/qwen3-serve/engine.env",
      "QS_STATE_DIR=/var/lib/qwen3-serve",
      "QS_STATUS_FILE=/var/lib/qwen3-serve/status.json",
      "QS_LOG_DIR=/var/log/qwen3-serve",
      "QS_ACCESS_LOG=/var/log/qwen3-serve/access.log",
      "QS_STATUS_URL_PATH=/qwen3-serve/status",
      "QS_ACTIVITY_URL_PATH=/qwen3-serve/activity",
      "QS_ACTIVITY_SOCKET=/run/qwen3-serve-activity.sock",
      "QS_HF_CACHE=/var/lib/qwen3-serve/hf",
      "QS_HF_CACHE_MOUNT=/root/.cache/huggingface",
      "QS_OLLAMA_CACHE=/var/lib/qwen3-serve/ollama",
      "QS_OLLAMA_CACHE_MOUNT=/root/.ollama",
      "QS_ENGINE_CACHE=/var/lib/qwen3-serve/engine-cache",
      "QS_ENGINE_CACHE_MOUNT=/var/cache/qwen3-serve",
      "QS_ENGINE_CACHE_ENV=VLLM_CACHE_ROOT=/var/cache/qwen3-serve/vllm TRITON_CACHE_DIR=/var/cache/qwen3-serve/triton " +
        "TORCHINDUCTOR_CACHE_DIR=/var/cache/qwen3-serve/inductor SGLANG_CACHE_DIR=/var/cache/qwen3-serve/sglang " +
        "SGLANG_DG_CACHE_DIR=/var/cache/qwen3-serve/deep_gemm",
      "ENGINE_ULIMITS=memlock=-1 stack=67108864",
      "ENGINE_LOG_MAX_SIZE=100m",
      "ENGINE_LOG_MAX_FILES=3",
      "IDLE_GRACE_MINUTES=10",
      "ENGINE=ollama",
      "ENGINE_HOST=engine",
      "ENGINE_PORT=11434",
      "ENGINE_HEALTH_PATH=/api/version",
      "IDLE_PHASE=health",
      "IDLE_ACCESS_LOG=/var/log/qwen3-serve/access.log",
      "IDLE_MINUTES=30",
      "TTL_HOURS=",
      "IDLE_ACTION=docker",
      "IDLE_CONTAINERS=dk-qwen3-serve-engine,dk-qwen3-serve-proxy",
      "IDLE_CHECK_SECONDS=60",
      "IDLE_ACTIVITY=http://dk-qwen3-serve-proxy:8079",
      "IDLE_LOADING_MAX_SECONDS=1872",
    ]);
    assert.deepEqual(w.volumes, [
      { volumeName: "dk-qwen3-serve-logs", containerPath: "/var/log/qwen3-serve", readOnly: true },
      { hostPath: "/var/run/docker.sock", containerPath: "/var/run/docker.sock" },
    ]);
    const uploads = w.uploads as Upload[];
    assert.deepEqual(
      uploads.map((u) => u.file),
      ["/opt/qwen3-serve/idle.py", "/opt/qwen3-serve/status.py"],
    );
    assert.match(String(uploads[0]?.content), /^def decide\(now, sample, state, settings\):$/m);
    assert.equal(w.ports, undefined);
    assert.equal(w.restart, "unless-stopped", "survives a daemon or host restart");
  });

  it("no input outside a secret marker holds the key; the readiness wait runs the package's waiter by absolute path", () => {
    for (const r of snapshot)
      assert.ok(!JSON.stringify(publicPart(r.inputs)).includes(MOCK_API_KEY), `${r.name} leaks the key`);
    const wait = ofType("command:local:Command")[0]?.inputs ?? {};
    assert.equal(wait.create, nodeScriptCommand("wait-ready"));
    assert.ok(String(wait.create).includes(`'${path.resolve(__dirname, "..", "scripts", "wait-ready.ts")}'`));
    assert.deepEqual(secretValue(wait.environment), {
      QS_BASE_URL: "http://192.0.2.20:8080",
      QS_API_KEY: MOCK_API_KEY,
      QS_MODEL: "qwen3:32b-q4_K_M",
      QS_HAS_STATUS: "false",
      QS_TIMEOUT_SECONDS: "1872",
      QS_POLL_SECONDS: "10",
    });
  });

  it("labels every container, volume and network with the stack's fixed tags, never the changeable idle settings", () => {
    for (const r of snapshot.filter((x) => /docker:index\/(container|volume|network):/.test(x.type))) {
      const labels = r.inputs.labels as { label: string; value: string }[];
      const get = (k: string): string | undefined => labels.find((l) => l.label === k)?.value;
      assert.deepEqual(
        [get("qwen3-serve:stack"), get("qwen3-serve:engine"), get("qwen3-serve:model"), get("qwen3-serve:owner")],
        ["dk", "ollama", "Qwen3-32B", "tester"],
        r.name,
      );
      // A changed label would replace the weights volume and every container.
      assert.deepEqual(
        labels.filter((l) => /idle|ttl|expires/.test(l.label)),
        [],
        r.name,
      );
    }
  });

  it("exports the endpoint on the Docker host, the key as a secret, and SSH commands", async () => {
    assert.equal(await outputValue(out.endpoint), "http://192.0.2.20:8080/v1");
    assert.equal(await outputValue(out.modelName), "qwen3:32b-q4_K_M");
    assert.equal(await pulumi.isSecret(out.apiKey), true);
    assert.equal(await outputValue(out.instanceType), "docker: 1 x RTX-6000-Ada");
    assert.equal(await outputValue(out.pricePerHour), 0);
    assert.equal(await outputValue(out.amiId), `ollama/ollama@${MOCK_REPO_DIGEST}`, "records the image digest in use");
    assert.equal(await outputValue(out.connectCommand), "ssh deploy@192.0.2.20");
    assert.equal(
      await outputValue(out.portForwardCommand),
      "ssh -N -L 8080:192.0.2.20:8080 deploy@192.0.2.20",
      "forwards to where the port is published",
    );
    assert.ok(!(await outputValue(out.curlExample)).includes(MOCK_API_KEY));
  });
});

describe("docker target under mocks: variants", () => {
  it("a new idle window replaces only the watchdog sidecar: the engine, proxy, volumes and network keep their inputs", async () => {
    const inputsOf = (): Map<string, string> =>
      new Map(recorded.filter((r) => r.type.startsWith("docker:")).map((r) => [r.name, JSON.stringify(r.inputs)]));
    await declare({}, "dk2");
    const a = inputsOf();
    await declare({ "qwen3-serve:idleMinutes": "90", "qwen3-serve:ttlHours": "6" }, "dk2");
    const b = inputsOf();
    const changed = [...a.keys()].filter((k) => a.get(k) !== b.get(k));
    assert.deepEqual(changed, ["dk2-idle"]);
  });

  it("vLLM: downloads the weights into the volume first through download.sh; the token only as a secret file upload, no HF_TOKEN in env or argv", async () => {
    await declare({ ...VLLM, "qwen3-serve:hfToken": HF_TOKEN }, "dkv");
    const dl = container("-weights-download");
    assert.deepEqual(
      [...dl.entrypoints, ...dl.command],
      ["/bin/sh", "/opt/qwen3-serve/download.sh", "download", "Qwen/Qwen3-30B-A3B-FP8"],
    );
    assert.deepEqual(dl.envs, ["HF_XET_HIGH_PERFORMANCE=1", "QS_HF_TOKEN_FILE=/run/qwen3-serve/hf_token"]);
    assert.deepEqual(secretValue(dl.uploads), [
      {
        file: "/opt/qwen3-serve/download.sh",
        content: readFileSync(path.join(COMPONENT_DIR, "download.sh"), "utf8"),
        executable: true,
      },
      { file: "/run/qwen3-serve/hf_token", content: HF_TOKEN, permissions: "0400" },
    ]);
    assert.deepEqual([dl.attach, dl.mustRun, dl.restart], [true, false, "no"]);
    assert.deepEqual(dl.volumes, [
      { volumeName: "dkv-qwen3-serve-weights", containerPath: "/root/.cache/huggingface" },
    ]);
    for (const r of recorded)
      assert.ok(!JSON.stringify(publicPart(r.inputs)).includes(HF_TOKEN), `${r.name} leaks the token`);
    const e = container("-engine");
    assert.equal(
      e.command[e.command.indexOf("--host") + 1],
      "0.0.0.0",
      "listens on the container network for the proxy",
    );
    assert.ok(e.envs?.includes("HF_HUB_OFFLINE=1"), "serves from the filled cache");
    assert.deepEqual(e.healthcheck?.tests, [
      "CMD",
      "python3",
      "-c",
      "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=5)",
    ]);
    assert.equal(
      ofType("docker:index/container:Container").some((r) => r.name.endsWith("-weights-pull")),
      false,
    );
  });

  it("pins the engine image digest when asked, and a model revision", async () => {
    const digest = `sha256:${"ab".repeat(32)}`;
    const rev = "0123456789abcdef0123456789abcdef01234567";
    await declare(
      {
        ...VLLM,
        "qwen3-serve:modelRevision": rev,
        "qwen3-serve:docker": JSON.stringify({
          host: "ssh://deploy@192.0.2.20",
          bindAddress: "192.0.2.20",
          gpus: { model: "RTX-6000-Ada", count: 1 },
          engineImageDigest: digest,
        }),
      },
      "dkd",
    );
    assert.equal(images()[0], `vllm/vllm-openai:v0.31.0@${digest}`);
    assert.deepEqual(container("-weights-download").command, ["download", "Qwen/Qwen3-30B-A3B-FP8", "--revision", rev]);
  });

  it(
    "a local socket: no host on the provider, published on 127.0.0.1 by default and the " +
      "URL says so, docker exec to connect, no readiness wait when off",
    async () => {
      const out = await declare(
        {
          "qwen3-serve:docker": JSON.stringify({
            gpus: { model: "RTX-4090", count: 2 },
            proxyPort: 9443,
            waitForReady: false,
          }),
          "qwen3-serve:model": "qwen3:8b",
          "qwen3-serve:idleMinutes": "off",
        },
        "dkl",
      );
      const provider = recorded.find((r) => r.type === "pulumi:providers:docker");
      assert.equal(provider?.inputs.host, undefined);
      assert.deepEqual(container("-proxy").ports, [{ internal: 9443, external: 9443, ip: "127.0.0.1" }]);
      assert.equal(ofType("command:local:Command").length, 0);
      assert.equal(
        ofType("docker:index/container:Container").some((r) => r.name.endsWith("-idle")),
        false,
        "no idle window, no TTL: no sidecar and no socket mount",
      );
      assert.equal(await outputValue(out.endpoint), "http://127.0.0.1:9443/v1");
      assert.equal(await outputValue(out.connectCommand), "docker exec -it dkl-qwen3-serve-engine sh");
    },
  );

  it("gpuDevices device=0,1 reaches Docker as one DeviceRequest for GPUs 0 and 1 (driver nvidia, no count), never as CSV text", async () => {
    await declare(
      {
        "qwen3-serve:docker": JSON.stringify({
          gpus: { model: "RTX-4090", count: 2 },
          gpuDevices: "device=0,1",
          waitForReady: false,
        }),
        "qwen3-serve:model": "qwen3:8b",
      },
      "dkg",
    );
    const e = container("-engine");
    assert.equal(e.gpus, undefined);
    assert.deepEqual(e.deviceRequests, [{ driver: "nvidia", capabilities: ["gpu"], deviceIds: ["0", "1"] }]);
  });

  it("bindAddress 0.0.0.0 publishes on every interface and names the daemon's host in the URL; an IPv6 address is bracketed", async () => {
    const remote = { host: "ssh://deploy@192.0.2.20", gpus: { model: "RTX-6000-Ada", count: 1 } };
    const all = await declare({ "qwen3-serve:docker": JSON.stringify({ ...remote, bindAddress: "0.0.0.0" }) }, "dkb");
    assert.deepEqual(container("-proxy").ports, [{ internal: 8080, external: 8080, ip: "0.0.0.0" }]);
    assert.equal(await outputValue(all.endpoint), "http://192.0.2.20:8080/v1");
    assert.equal(await outputValue(all.portForwardCommand), "ssh -N -L 8080:127.0.0.1:8080 deploy@192.0.2.20");
    const v6 = await declare(
      { "qwen3-serve:docker": JSON.stringify({ ...remote, bindAddress: "2001:db8::20" }) },
      "dkb6",
    );
    assert.deepEqual(container("-proxy").ports, [{ internal: 8080, external: 8080, ip: "2001:db8::20" }]);
    assert.equal(await outputValue(v6.endpoint), "http://[2001:db8::20]:8080/v1");
  });

  it(
    "refuses a bind address that is not an IP, a loopback bind the readiness wait cannot " +
      "reach, and publicHost on a loopback bind, before declaring anything",
    async () => {
      await useMocks();
      const parse = (d: Record<string, unknown>): unknown =>
        parseStackConfig(
          decodeConfigValues({
            ...stackFileConfig("docker"),
            "qwen3-serve:docker": JSON.stringify({ gpus: { model: "RTX-6000-Ada", count: 1 }, ...d }),
          }),
        );
      const refused = (d: Record<string, unknown>, key: string, problem: RegExp, hint: RegExp): void => {
        assert.throws(
          () => parse(d),
          (e: unknown) => e instanceof UserError && e.key === key && problem.test(e.problem) && hint.test(e.hint),
          JSON.stringify(d),
        );
      };
      refused(
        { bindAddress: "localhost" },
        "docker.bindAddress",
        /^must be an IP address of the Docker host, such as 127\.0\.0\.1, 192\.0\.2\.20 or "0\.0\.0\.0" for all\.$/,
        /./,
      );
      refused(
        { host: "ssh://deploy@192.0.2.20" },
        "docker.bindAddress",
        /remote host's loopback, which the readiness wait in `pulumi up` \(run here\) cannot reach/,
        /docker\.waitForReady: false and use the portForwardCommand output/,
      );
      refused(
        { publicHost: "gpu.example.test" },
        "docker.publicHost",
        /the proxy is published on 127\.0\.0\.1 \(docker\.bindAddress\)/,
        /Drop publicHost/,
      );
      assert.doesNotThrow(
        () => parse({ host: "ssh://deploy@192.0.2.20", waitForReady: false }),
        "a remote loopback bind without the wait: reached through the port forward",
      );
      assert.deepEqual(recorded, []);
    },
  );

  it("caps every container's json-file log: the engine at 3 x 100m, the others at 3 x 10m", async () => {
    await declare({ ...VLLM, "qwen3-serve:hfToken": HF_TOKEN }, "dkc");
    const caps = ofType("docker:index/container:Container").map((r) => [r.name, r.inputs.logDriver, r.inputs.logOpts]);
    assert.deepEqual(caps, [
      ["dkc-weights-download", "json-file", { "max-size": "10m", "max-file": "3" }],
      ["dkc-engine", "json-file", { "max-size": "100m", "max-file": "3" }],
      ["dkc-proxy", "json-file", { "max-size": "10m", "max-file": "3" }],
      ["dkc-idle", "json-file", { "max-size": "10m", "max-file": "3" }],
    ]);
    const proxy = container("-proxy");
    assert.deepEqual(proxy.command, ["/bin/sh", "/opt/qwen3-serve/logcap.sh", "nginx", "-g", "daemon off;"]);
    assert.deepEqual(proxy.envs, ["QS_ACCESS_LOG=/var/log/qwen3-serve/access.log"]);
  });

  it(
    "declared by a user's own program without publicHost, labels or gpuDescription: the URL names " +
      "the bind address, nothing is labelled, the outputs describe the plan's GPUs",
    async () => {
      await useMocks();
      const gpu = KNOWN_GPUS["RTX-4090"];
      assert.ok(gpu);
      const { plan } = planForMachine(
        { ...parsePlanRequest({ model: "qwen3:8b", engine: "ollama" }), bindHost: "0.0.0.0" },
        { gpu, count: 2 },
        { quantization: false, context: false },
      );
      const server = new DockerServer("mine", {
        plan,
        host: "ssh://deploy@192.0.2.20",
        bindAddress: "192.0.2.20",
        gpuDevices: "all",
        proxyPort: 8080,
        waitForReady: false,
        idle: { minutes: null, ttlHours: null, countSsh: false, action: "stop-engine" },
      });
      await resolveAll(targetOutputsOf(server));
      assert.equal(await outputValue(server.endpoint), "http://192.0.2.20:8080/v1");
      assert.equal(await outputValue(server.instanceType), "docker: 2 x RTX-4090");
      for (const r of recorded.filter((x) => /docker:index\/(container|volume|network):/.test(x.type)))
        assert.deepEqual(r.inputs.labels, [], r.name);
    },
  );

  it("a gpuDevices value that is neither all nor device=<indexes> is a UserError naming gpuDevices, before anything is declared", async () => {
    await useMocks();
    assert.throws(
      () =>
        new DockerServer("bad", {
          plan: buildPlan(parsePlanRequest({ model: "qwen3:8b", engine: "ollama" })),
          bindAddress: "127.0.0.1",
          gpuDevices: "device=0;1",
          proxyPort: 8080,
          waitForReady: false,
          idle: { minutes: null, ttlHours: null, countSsh: false, action: "stop-engine" },
        }),
      (e: unknown) => e instanceof UserError && e.key === "gpuDevices" && e.value === "device=0;1",
    );
    await settle();
    assert.deepEqual(recorded, []);
  });

  it("refuses a model the stated GPUs cannot hold, before declaring anything", async () => {
    await useMocks();
    const cfg = parseStackConfig(
      decodeConfigValues({ ...stackFileConfig("docker"), "qwen3-serve:model": "qwen3:235b-a22b" }),
    );
    await assert.rejects(
      deployStack(cfg, ctx("dkx")),
      (e: unknown) =>
        e instanceof UserError &&
        e.key === "docker.gpus" &&
        e.value === "1 x RTX-6000-Ada (48.0 GiB each)" &&
        /nor in q4_K_M at 8192 tokens or more\.$/.test(e.problem),
    );
    assert.deepEqual(recorded, []);
  });
});

describe("download.sh, the download container's entry, run for real", () => {
  let dir = "";
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), "qs-docker-download-"));
    mkdirSync(path.join(dir, "bin"));
    // A stand-in for the image's hf: records its argv, the token it sees, and whether the file is still there.
    writeFileSync(
      path.join(dir, "bin", "hf"),
      "#!/bin/sh\n" +
        `{ printf 'argv=%s\\n' "$*"; printf 'HF_TOKEN=%s\\n' "\${HF_TOKEN-unset}"; ` +
        `[ -e "$QS_HF_TOKEN_FILE" ] && echo file=present || echo file=gone; } >"${dir}/seen"\n`,
      { mode: 0o755 },
    );
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  const run = (tokenFile: string): { code: number; seen: string } => {
    const r = spawnSync(
      "sh",
      [path.join(COMPONENT_DIR, "download.sh"), "download", "Qwen/Qwen3-30B-A3B-FP8", "--revision", "abc"],
      {
        env: { PATH: `${path.join(dir, "bin")}:/usr/bin:/bin`, QS_HF_TOKEN_FILE: tokenFile },
        encoding: "utf8",
      },
    );
    return { code: r.status ?? -1, seen: readFileSync(path.join(dir, "seen"), "utf8") };
  };

  it("deletes the token file before hf starts, and hands hf the token only in its environment, with the arguments as given", () => {
    const token = path.join(dir, "hf_token");
    writeFileSync(token, HF_TOKEN);
    chmodSync(token, 0o400);
    const r = run(token);
    assert.equal(r.code, 0);
    assert.equal(r.seen, `argv=download Qwen/Qwen3-30B-A3B-FP8 --revision abc\nHF_TOKEN=${HF_TOKEN}\nfile=gone\n`);
    assert.equal(existsSync(token), false, "nothing left in the container's files");
  });

  it("without a token file, runs hf with no token", () => {
    const r = run(path.join(dir, "no_token"));
    assert.equal(r.code, 0);
    assert.equal(r.seen, "argv=download Qwen/Qwen3-30B-A3B-FP8 --revision abc\nHF_TOKEN=unset\nfile=gone\n");
  });
});

/** The access log cap the nginx test runs logcap.sh with (the container's is 50 MiB). */
const LOG_CAP = 2000;

describe("the Docker proxy config, served by the real nginx", () => {
  let dir = "";
  let nginx: ChildProcess | undefined;
  let engine: http.Server | undefined;
  let port = 0;
  const seen: string[] = [];

  before(async () => {
    requireTool("nginx");
    await declare({}, "dkn");
    const uploads = secretValue(container("-proxy").uploads) as Upload[];
    const conf = uploads.find((u) => u.file === "/etc/nginx/conf.d/default.conf");
    const auth = uploads.find((u) => u.file === "/etc/nginx/qwen3-serve-auth.conf");
    dir = mkdtempSync(path.join(os.tmpdir(), "qs-docker-proxy-"));
    for (const d of ["conf.d", "logs", "tmp"]) mkdirSync(path.join(dir, d));
    // A loopback stand-in for the engine, which records what reaches it.
    engine = http.createServer((req, res) => {
      seen.push(`${req.method ?? ""} ${req.url ?? ""} ${req.headers.authorization ?? "-"}`);
      res.setHeader("content-type", "application/json");
      res.end('{"object":"list","data":[{"id":"qwen3:32b-q4_K_M"}]}');
    });
    await new Promise<void>((r) => engine?.listen(0, "127.0.0.1", r));
    const enginePort = (engine.address() as { port: number }).port;
    port = await freePort();
    // Only what a container has and this machine does not changes: the engine's DNS name and the
    // file locations. The auth map and the location logic run as uploaded.
    const served = String(conf?.content)
      .replace(/resolver 127\.0\.0\.11[^;]*;/, "")
      .replace("http://engine:11434", `http://127.0.0.1:${enginePort}`)
      .replace("listen 8080;", `listen 127.0.0.1:${port};`)
      .replace("listen 8079;", `listen 127.0.0.1:${await freePort()};`)
      .replace("/etc/nginx/qwen3-serve-auth.conf", path.join(dir, "auth.conf"))
      .replace("/var/log/qwen3-serve/access.log", path.join(dir, "logs", "access.log"));
    writeFileSync(path.join(dir, "conf.d", "default.conf"), served);
    writeFileSync(path.join(dir, "auth.conf"), String(auth?.content));
    const t = (n: string): string => path.join(dir, "tmp", n);
    writeFileSync(
      path.join(dir, "nginx.conf"),
      [
        `pid ${dir}/nginx.pid;`,
        `error_log ${dir}/logs/error.log;`,
        "daemon off;",
        "worker_processes 1;",
        "events { worker_connections 64; }",
        "http {",
        `  client_body_temp_path ${t("b")}; proxy_temp_path ${t("p")}; fastcgi_temp_path ${t("f")}; uwsgi_temp_path ${t("u")}; scgi_temp_path ${t("s")};`,
        `  include ${dir}/conf.d/*.conf;`,
        "}",
        "",
      ].join("\n"),
    );
    const check = spawnSync("nginx", ["-t", "-c", path.join(dir, "nginx.conf")], { encoding: "utf8" });
    assert.equal(check.status, 0, check.stderr);
    // The container's command, as declared: logcap.sh in front of nginx, with a small cap and a
    // fast check so the test sees a rotation; its own process group, so the loop goes with it.
    const [, , ...proxyCmd] = container("-proxy").command;
    assert.deepEqual(proxyCmd, ["nginx", "-g", "daemon off;"]);
    nginx = spawn("sh", [path.join(COMPONENT_DIR, "logcap.sh"), "nginx", "-c", path.join(dir, "nginx.conf")], {
      stdio: "ignore",
      detached: true,
      env: {
        ...process.env,
        QS_ACCESS_LOG: path.join(dir, "logs", "access.log"),
        QS_ACCESS_LOG_MAX_BYTES: String(LOG_CAP),
        QS_ACCESS_LOG_CHECK_SECONDS: "0.2",
      },
    });
    await eventually("nginx answering on its port", 30, () =>
      request(`http://127.0.0.1:${port}/v1/models`).catch(() => undefined),
    );
  });

  after(() => {
    if (nginx?.pid !== undefined) process.kill(-nginx.pid, "SIGTERM");
    engine?.close();
    if (dir !== "") rmSync(dir, { recursive: true, force: true });
  });

  it("refuses a request without the key or with a wrong one, and never forwards it", async () => {
    const before = seen.length;
    const none = await request(`http://127.0.0.1:${port}/v1/models`);
    const wrong = await request(`http://127.0.0.1:${port}/v1/models`, { headers: { authorization: "Bearer nope" } });
    assert.deepEqual([none.status, wrong.status], [401, 401]);
    assert.match(none.body, /missing or wrong API key/);
    assert.equal(seen.length, before);
  });

  it(
    "passes a request with the key through to the engine without the key, and writes it to " +
      "the access log the idle watchdog reads (status, method, path; no key)",
    async () => {
      const ok = await request(`http://127.0.0.1:${port}/v1/models/keyed`, {
        headers: { authorization: `Bearer ${MOCK_API_KEY}` },
      });
      assert.equal(ok.status, 200);
      assert.match(ok.body, /qwen3:32b-q4_K_M/);
      assert.equal(seen.at(-1), "GET /v1/models/keyed -", "the engine never sees the key");
      // nginx logs a request after answering it, so the line may land after the response: wait for it.
      const log = path.join(dir, "logs", "access.log");
      const line = await eventually("the keyed request in the access log", 10, () =>
        existsSync(log)
          ? readFileSync(log, "utf8")
              .split("\n")
              .find((l) => l.includes(" /v1/models/keyed "))
          : undefined,
      );
      assert.match(line, /^\d{4}-\d\d-\d\dT\S+ 200 GET \/v1\/models\/keyed \S+ \d+$/);
      assert.ok(!readFileSync(log, "utf8").includes(MOCK_API_KEY), "the key is never logged");
    },
  );

  it(
    "logcap.sh keeps the access log under its cap: past it, the log moves to " +
      "access.log.1 and nginx keeps appending from the start of the emptied file",
    async () => {
      const log = path.join(dir, "logs", "access.log");
      const get = (n: number): Promise<{ status: number }> =>
        request(`http://127.0.0.1:${port}/v1/models/${n}`, { headers: { authorization: `Bearer ${MOCK_API_KEY}` } });
      // Each line is about 55 bytes ($time_iso8601 $status $request_method $uri ...): 60 pass the cap.
      for (let n = 0; n < 60; n++) assert.equal((await get(n)).status, 200);
      await eventually("logcap.sh moving the log aside", 30, () =>
        existsSync(`${log}.1`) && statSync(log).size <= LOG_CAP ? true : undefined,
      );
      const rotated = readFileSync(`${log}.1`, "utf8");
      assert.ok(rotated.length > LOG_CAP && rotated.endsWith("\n"), "moved aside only past the cap, whole lines");
      assert.ok(statSync(log).size <= LOG_CAP, "the live log is back under the cap");
      assert.match(rotated + readFileSync(log, "utf8"), / GET \/v1\/models\/59 /);
      const before = statSync(log).size;
      assert.equal((await get(1000)).status, 200);
      const after = readFileSync(log);
      assert.equal(after.includes(0), false, "no hole of NULs: nginx appends (O_APPEND) at the new end");
      assert.ok(after.length > before && after.length < before + 100);
      assert.match(after.toString("utf8"), /^(?:[^\n]*\n)*[^\n]* GET \/v1\/models\/1000 [^\n]*\n$/);
      assert.equal(existsSync(`${log}.1.tmp`), false);
    },
  );
});
