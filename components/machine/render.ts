/**
 * Rendering the machine side of a plan: the root-only env file, the engine's argv and env files,
 * and the two delivery forms: cloud-init user data (cloud targets) and a plain installer script
 * (SSH targets). Pure: the shell scripts come in as strings; nothing here reads or writes files.
 */
import { stringify } from "yaml";
import { fabricNeed } from "../catalog/gpus";
import { AWS_CLI_IMAGE, DRIVER_BRANCH, NCT_VERSION } from "../catalog/pins";
import { ENGINES } from "../engines";
import { shellQuote } from "../engines/shell";
import { compileCacheKey, modelPrefix, modelUri, type WeightsMirror } from "../mirror/keys";
import type { Plan } from "../sizing/plan";

/** Where the bootstrap scripts live on the machine. */
export const LIB_DIR = "/usr/local/lib/qwen3-serve";
/** Where its configuration lives. */
export const CONF_DIR = "/etc/qwen3-serve";
/** Where it keeps state: status file, caches. */
export const STATE_DIR = "/var/lib/qwen3-serve";
/** The per-plan settings the scripts source (settings and secret locations, no secrets). */
const BOOTSTRAP_ENV_FILE = `${CONF_DIR}/bootstrap.env`;
/** The engine's argv, one argument per line. */
const ENGINE_ARGV_FILE = `${CONF_DIR}/engine.argv`;
/** The engine container's environment, in docker's env-file format. */
const ENGINE_ENV_FILE = `${CONF_DIR}/engine.env`;
/** Where its logs live. */
export const LOG_DIR = "/var/log/qwen3-serve";
/** The proxy's access log (no headers, no bodies), which the idle watchdog reads. */
export const ACCESS_LOG = `${LOG_DIR}/access.log`;
/** Path of the status document behind the proxy (same API key as the endpoint). */
export const STATUS_URL_PATH = "/qwen3-serve/status";
/** Path of the proxy's count of requests in flight (stub_status), on its private listener only. */
export const ACTIVITY_URL_PATH = "/qwen3-serve/activity";
/** The machines' private listener for {@link ACTIVITY_URL_PATH}: a unix socket, so no port can collide. */
export const ACTIVITY_SOCKET = "/run/qwen3-serve-activity.sock";

/**
 * Where the weights live, per source: the host's cache folder (kept across reinstalls) and where
 * the engine image expects it (the default HF_HOME of the vLLM and SGLang images; Ollama's models folder).
 */
export const WEIGHTS_CACHE = {
  hf: { host: `${STATE_DIR}/hf`, container: "/root/.cache/huggingface" },
  ollama: { host: `${STATE_DIR}/ollama`, container: "/root/.ollama" },
} as const;

/**
 * The compile caches of the Hugging Face engines (vLLM, SGLang), kept on the host like the weights so a restart or a
 * rebuilt container skips compiling again; Ollama compiles nothing and gets none. Each variable points one cache
 * below the mount, where the images' defaults are inside the container and lost with it:
 * - VLLM_CACHE_ROOT (default ~/.cache/vllm): vLLM's torch.compile artifacts, whose Inductor and Triton caches vLLM
 *   itself redirects below it (vllm/envs.py; InductorAdaptor.initialize_cache in vllm/compilation/compiler_interface.py);
 * - TRITON_CACHE_DIR (Triton's default ~/.triton/cache) and TORCHINDUCTOR_CACHE_DIR (default /tmp/torchinductor_<user>):
 *   the kernels either engine JIT-compiles outside vLLM's compile step;
 * - SGLANG_CACHE_DIR (default ~/.cache/sglang) and SGLANG_DG_CACHE_DIR (DeepGEMM's JIT kernels, default
 *   ~/.cache/deep_gemm, later a subfolder of SGLANG_CACHE_DIR): python/sglang/srt/environ.py.
 * Read 2026-11-30 in vllm-project/vllm and sgl-project/sglang at the stored commits, which predate the pinned
 * v0.31.0 and v0.5.21: the names are checked, their use at the tags is not.
 */
export const ENGINE_CACHE = {
  host: `${STATE_DIR}/engine-cache`,
  container: "/var/cache/qwen3-serve",
  env: {
    VLLM_CACHE_ROOT: "vllm",
    TRITON_CACHE_DIR: "triton",
    TORCHINDUCTOR_CACHE_DIR: "inductor",
    SGLANG_CACHE_DIR: "sglang",
    SGLANG_DG_CACHE_DIR: "deep_gemm",
  },
} as const;

/** Resource limits of the engine container: unlimited locked memory (pinned host buffers for GPU transfers), a 64 MiB stack. */
export const ENGINE_ULIMITS: Readonly<Record<string, number>> = { memlock: -1, stack: 67108864 };

/** The engine container's log cap (json-file driver): the engine logs every request, and the default never rotates. */
export const ENGINE_LOG_CAP = { maxSize: "100m", maxFiles: 3 } as const;

/** A file to place on the machine. */
export interface MachineFile {
  /** Absolute path on the machine. */
  readonly path: string;
  /** Octal mode. */
  readonly mode: "0755" | "0644" | "0600";
  readonly content: string;
}

/** Where the machine gets its secrets: SSM parameter names, or a root-only file the caller wrote. */
export type SecretsSource =
  | {
      readonly source: "ssm";
      readonly region: string;
      readonly apiKeyParameter: string;
      readonly hfTokenParameter?: string;
    }
  | { readonly source: "file"; readonly path: string };

/** What the idle watchdog does on the machine (components/machine/idle.py). */
export interface IdleSettings {
  /** Minutes without an inference request before acting; null: never for idleness. */
  readonly minutes: number | null;
  /** Hours up before acting whatever the traffic; null: no limit. */
  readonly ttlHours: number | null;
  /** A login session (SSH) counts as activity. */
  readonly countSsh: boolean;
  /** `poweroff` a cloud machine (EC2 then stops or terminates it); `stop-engine` on a machine someone else owns. */
  readonly action: "poweroff" | "stop-engine";
  /**
   * Read window, TTL and SSH rule from the instance's tags (EC2 instance metadata) at every check
   * instead of the env file: a change then needs no new user data, so no new instance.
   */
  readonly fromInstanceTags?: boolean;
}

/** Watchdog settings when the stack sets none: never acts. */
export const IDLE_OFF: IdleSettings = { minutes: null, ttlHours: null, countSsh: false, action: "poweroff" };

/** Minutes after boot in which the watchdog never finds a machine idle. */
export const IDLE_GRACE_MINUTES = 10;

/** Where {@link machineEnv} is installed: beside the scripts, which find it before anything else. */
export const MACHINE_ENV_FILE = `${LIB_DIR}/machine.env`;

/**
 * The facts the machine side shares with this code, whatever the plan: paths, URL paths, caches,
 * engine limits and the watchdog's grace period. This is their only definition: lib.sh sources
 * them from {@link MACHINE_ENV_FILE} (the scripts prefix QS_ROOT to each path), and idle.py reads
 * its environment, else that file beside it. The Docker target passes them to its watchdog sidecar.
 */
export function machineEnv(): Record<string, string> {
  return {
    QS_CONF_DIR: CONF_DIR,
    QS_BOOTSTRAP_ENV: BOOTSTRAP_ENV_FILE,
    QS_ENGINE_ARGV: ENGINE_ARGV_FILE,
    QS_ENGINE_ENV: ENGINE_ENV_FILE,
    QS_STATE_DIR: STATE_DIR,
    QS_STATUS_FILE: `${STATE_DIR}/status.json`,
    QS_LOG_DIR: LOG_DIR,
    QS_ACCESS_LOG: ACCESS_LOG,
    QS_STATUS_URL_PATH: STATUS_URL_PATH,
    QS_ACTIVITY_URL_PATH: ACTIVITY_URL_PATH,
    QS_ACTIVITY_SOCKET: ACTIVITY_SOCKET,
    QS_HF_CACHE: WEIGHTS_CACHE.hf.host,
    QS_HF_CACHE_MOUNT: WEIGHTS_CACHE.hf.container,
    QS_OLLAMA_CACHE: WEIGHTS_CACHE.ollama.host,
    QS_OLLAMA_CACHE_MOUNT: WEIGHTS_CACHE.ollama.container,
    QS_ENGINE_CACHE: ENGINE_CACHE.host,
    QS_ENGINE_CACHE_MOUNT: ENGINE_CACHE.container,
    QS_ENGINE_CACHE_ENV: Object.entries(ENGINE_CACHE.env)
      .map(([name, dir]) => `${name}=${ENGINE_CACHE.container}/${dir}`)
      .join(" "),
    ENGINE_ULIMITS: Object.entries(ENGINE_ULIMITS)
      .map(([name, value]) => `${name}=${value}`)
      .join(" "),
    ENGINE_LOG_MAX_SIZE: ENGINE_LOG_CAP.maxSize,
    ENGINE_LOG_MAX_FILES: String(ENGINE_LOG_CAP.maxFiles),
    IDLE_GRACE_MINUTES: String(IDLE_GRACE_MINUTES),
  };
}

/** KEY='value' lines, quoted for bash (and for idle.py's reader), under a header. */
function envFileText(header: string, env: Readonly<Record<string, string>>): string {
  return (
    header +
    Object.entries(env)
      .map(([k, v]) => `${k}=${shellQuote(v)}\n`)
      .join("")
  );
}

/** Target-specific settings for the bootstrap. */
export interface MachineSettings {
  readonly secrets: SecretsSource;
  /** Public port of the authenticating proxy. */
  readonly proxyPort: number;
  /** HTTPS with a Let's Encrypt certificate for this name (port 80 must be reachable for HTTP-01). */
  readonly tls?: { readonly domain: string; readonly email: string };
  /** `install` puts the NVIDIA driver on plain Ubuntu (and reboots once); `require` fails without one. */
  readonly driver: "install" | "require";
  /** Pin the engine image to this digest (`sha256:...`). */
  readonly engineImageDigest?: string;
  /** GPUs given to the engine container (`all`, or `device=0,1`). */
  readonly gpuDevices?: string;
  /** The idle watchdog; off when absent. */
  readonly idle?: IdleSettings;
  /**
   * Ship uninstall.sh: a machine we do not own is cleaned up on `pulumi destroy`; a cloud machine
   * is deleted whole, and its 16 KiB of user data has no room to spare.
   */
  readonly uninstallable?: boolean;
  /**
   * The AWS target: idle.py is not in the user data (it alone would push it past EC2's 16 KiB);
   * the secrets phase fetches it from these SSM parameters, joined in order, and checks it.
   */
  readonly idleFromSsm?: DeferredIdle;
  /** A replica of a fleet (AWS Auto Scaling group behind a load balancer); a single machine when absent. */
  readonly fleet?: FleetMachine;
  /** The shared S3 weights mirror (`aws.weightsCache: s3`); weights come from the source only when absent. */
  readonly weightsMirror?: WeightsMirror;
}

/**
 * What a fleet replica's proxy and watchdog need. The fleet component passes its own constants
 * (components/fleet/settings.ts sits below this layer, so this file cannot import them).
 */
export interface FleetMachine {
  /** The group's region: the watchdog signs its CloudWatch and Auto Scaling calls for it. */
  readonly region: string;
  /** The group's name: the queue metric's AutoScalingGroupName dimension, and the group its scale-in protection is set in. */
  readonly autoScalingGroupName: string;
  /** CloudWatch namespace of the queue metric (the instance role may publish only there). */
  readonly metricNamespace: string;
  /** Name of the queue metric: requests running + waiting in the engine. */
  readonly queueMetric: string;
  /** Publish the queue metric from the engine's Prometheus /metrics: vLLM and SGLang only (Ollama has none). */
  readonly publishQueueMetric: boolean;
  /** The proxy's unauthenticated readiness path, the load balancer's health check: 200 only when the engine serves the model. */
  readonly readyPath: string;
}

/** Where a machine fetches idle.py (gzip, then base64, split over SSM parameters) and the SHA-256 of the shipped text. */
export interface DeferredIdle {
  /** SSM parameter names, in order; their values concatenated are the base64 of the gzipped script. */
  readonly parameters: readonly string[];
  /** Hex SHA-256 of the shipped idle.py, which the machine checks what it assembled against. */
  readonly sha256: string;
}

/** The parts of a plan the readiness estimates read; a whole Plan is one, and so is a stack output's partial plan. */
export interface ReadinessSizes {
  readonly disk: { readonly engineGiB: number };
  readonly serve: { readonly weights: { readonly expectedBytes: number } };
}

/** Seconds to wait for the engine to load: 10 minutes, plus 5 s per GB read at 200 MB/s. */
export function loadTimeoutSeconds(plan: ReadinessSizes): number {
  return 600 + Math.ceil((plan.serve.weights.expectedBytes / 1e9) * 5);
}

/**
 * How long `pulumi up` waits for a new machine: boot, a driver install when needed, the engine image
 * and the weights at a conservative 50 MB/s, then the engine's own load timeout.
 */
export function readinessTimeoutSeconds(plan: ReadinessSizes, installsDriver: boolean): number {
  const mbps = 50;
  const image = Math.ceil((plan.disk.engineGiB * 1.074e3) / mbps);
  const weights = Math.ceil(plan.serve.weights.expectedBytes / 1e6 / mbps);
  return 600 + (installsDriver ? 900 : 0) + image + weights + loadTimeoutSeconds(plan);
}

/** FABRIC_MANAGER for the bootstrap: what an NVSwitch instance needs before CUDA starts ("" for none). */
function fabricManagerSetting(instanceType: string): string {
  const need = fabricNeed(instanceType);
  return need === "none" ? "" : need === "fabric-manager" ? "fabricmanager" : "fabricmanager+nvlsm";
}

/** SSM_IDLE_PY_PARAMS and IDLE_PY_SHA256: where the secrets phase fetches idle.py, and its hash (both empty when it ships in place). */
function deferredIdleEnv(settings: MachineSettings): { SSM_IDLE_PY_PARAMS: string; IDLE_PY_SHA256: string } {
  const d = settings.idleFromSsm;
  if (d === undefined) return { SSM_IDLE_PY_PARAMS: "", IDLE_PY_SHA256: "" };
  if (settings.secrets.source !== "ssm")
    throw new Error("idle.py can come from SSM only on a machine that reads its secrets from SSM");
  if (d.parameters.length === 0 || d.parameters.some((p) => !/^\/[A-Za-z0-9_.\-/]+$/.test(p)))
    throw new Error(`bad SSM parameter names for idle.py: ${d.parameters.join(" ")}`);
  if (!/^[0-9a-f]{64}$/.test(d.sha256)) throw new Error(`idle.py SHA-256 must be 64 hex digits, not ${d.sha256}`);
  return { SSM_IDLE_PY_PARAMS: d.parameters.join(" "), IDLE_PY_SHA256: d.sha256 };
}

/** Engines whose Prometheus /metrics carry the requests running and waiting (idle.py's METRICS). */
const ENGINES_WITH_QUEUE_METRICS: readonly string[] = ["vllm", "sglang"];

/** The FLEET_* settings of a replica (none on a single machine, so its env file stays as it was). */
function fleetEnv(plan: Plan, fleet: FleetMachine | undefined): Record<string, string> {
  if (fleet === undefined) return {};
  const checks: [string, string, RegExp][] = [
    ["region", fleet.region, /^[a-z]{2}(-[a-z]+)+-\d+$/],
    ["autoScalingGroupName", fleet.autoScalingGroupName, /^[A-Za-z0-9._-]{1,255}$/],
    ["metricNamespace", fleet.metricNamespace, /^[A-Za-z0-9._#/-]{1,255}$/],
    ["queueMetric", fleet.queueMetric, /^[A-Za-z0-9._-]{1,255}$/],
    ["readyPath", fleet.readyPath, /^(\/[A-Za-z0-9._-]+)+$/],
  ];
  for (const [name, value, shape] of checks)
    if (!shape.test(value)) throw new Error(`fleet.${name} ${JSON.stringify(value)} does not match ${shape}`);
  if (fleet.publishQueueMetric && !ENGINES_WITH_QUEUE_METRICS.includes(plan.engine))
    throw new Error(`fleet.publishQueueMetric: ${plan.engine} has no queue metrics to publish`);
  return {
    FLEET_ASG_NAME: fleet.autoScalingGroupName,
    FLEET_REGION: fleet.region,
    FLEET_METRIC_NAMESPACE: fleet.metricNamespace,
    FLEET_QUEUE_METRIC: fleet.queueMetric,
    FLEET_PUBLISH_QUEUE: fleet.publishQueueMetric ? "1" : "0",
    FLEET_READY_PATH: fleet.readyPath,
  };
}

/** Whether the plan's engine keeps a compile cache ({@link ENGINE_CACHE}; run-engine.sh mounts it for hf engines). */
export function hasEngineCache(plan: Pick<Plan, "serve">): boolean {
  return plan.serve.weights.source === "hf";
}

/** WEIGHTS_MIRROR_CACHE_KEY: the fleet's shared compile-cache object for this plan's engine, "" when not shared. */
function compileCacheEnv(plan: Plan, mirror: WeightsMirror, imageDigest: string | undefined): string {
  if (mirror.compileCache === undefined) return "";
  if (!hasEngineCache(plan)) throw new Error(`weightsMirror.compileCache: ${plan.engine} keeps no compile cache`);
  if (!/^v1\/cache\/[A-Za-z0-9._-]+$/.test(mirror.compileCache))
    throw new Error(`weightsMirror.compileCache ${JSON.stringify(mirror.compileCache)} is not a stack's cache prefix`);
  return compileCacheKey(mirror.compileCache, {
    image: plan.serve.image,
    imageDigest: imageDigest ?? null,
    argv: engineArgv(plan, mirror),
    env: plan.serve.env,
    gpu: plan.instance.gpu,
    gpuCount: plan.gpusUsed,
  });
}

/** The WEIGHTS_MIRROR_* settings (none without a mirror, so the env file stays as it was). */
function mirrorEnv(plan: Plan, settings: MachineSettings): Record<string, string> {
  const mirror = settings.weightsMirror;
  if (mirror === undefined) return {};
  const { source, ref, revision } = plan.serve.weights;
  if (revision === null) throw new Error("the weights mirror keys models by revision: the plan must pin modelRevision");
  const prefix = modelPrefix({ source, ref, revision });
  if (mirror.prefix !== prefix)
    throw new Error(`weightsMirror.prefix ${JSON.stringify(mirror.prefix)} is not the plan's model, ${prefix}`);
  const checks: [string, string, RegExp][] = [
    // S3's bucket naming rules: 3-63 lower-case letters, digits, dots and hyphens.
    ["bucket", mirror.bucket, /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/],
    ["region", mirror.region, /^[a-z]{2}(-gov)?(-[a-z]+)+-\d+$/],
    ["usedKey", mirror.usedKey, /^v1\/used\/[A-Za-z0-9._-]+\/[0-9a-f]{16}\.json$/],
  ];
  if (mirror.readRoleArn !== undefined)
    checks.push(["readRoleArn", mirror.readRoleArn, /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/]);
  for (const [name, value, shape] of checks)
    if (!shape.test(value)) throw new Error(`weightsMirror.${name} ${JSON.stringify(value)} does not match ${shape}`);
  // The engine container has no instance-metadata route: streaming needs the read role's short-lived credentials.
  if (mirror.stream && mirror.readRoleArn === undefined)
    throw new Error("weightsMirror.stream needs readRoleArn: the engine reads S3 with that role's credentials");
  return {
    WEIGHTS_MIRROR: "s3",
    WEIGHTS_MIRROR_BUCKET: mirror.bucket,
    WEIGHTS_MIRROR_REGION: mirror.region,
    WEIGHTS_MIRROR_PREFIX: mirror.prefix,
    WEIGHTS_MIRROR_STREAM: mirror.stream ? "1" : "",
    WEIGHTS_MIRROR_READ_ROLE_ARN: mirror.readRoleArn ?? "",
    WEIGHTS_MIRROR_USED_KEY: mirror.usedKey,
    WEIGHTS_MIRROR_CACHE_KEY: compileCacheEnv(plan, mirror, settings.engineImageDigest),
  };
}

/**
 * The engine's argv: as planned, or with the model streamed from the mirror's `s3://` folder when the machine
 * streams. Streaming on an engine that cannot is a caller's bug (the AWS target sets stream from the engine).
 */
export function engineArgv(plan: Plan, mirror: WeightsMirror | undefined): readonly string[] {
  if (mirror?.stream !== true) return plan.serve.argv;
  const objectStore = ENGINES[plan.engine].objectStore;
  if (objectStore === undefined)
    throw new Error(`weightsMirror.stream: ${plan.engine} cannot load weights from S3; its weights are copied to disk`);
  return objectStore.argv(plan.serve.argv, modelUri(mirror.bucket, mirror.prefix));
}

/** The env file's settings as key/value pairs (no secrets: only where to find them). */
export function bootstrapEnv(plan: Plan, settings: MachineSettings): Record<string, string> {
  const s = settings.secrets;
  const idle = settings.idle ?? IDLE_OFF;
  const env: Record<string, string> = {
    ENGINE: plan.engine,
    ENGINE_IMAGE: plan.serve.image,
    ENGINE_IMAGE_DIGEST: settings.engineImageDigest ?? "",
    ENGINE_PORT: String(plan.serve.port),
    ENGINE_HEALTH_PATH: plan.serve.healthPath,
    SERVED_MODEL: plan.serve.servedModelName,
    WEIGHTS_SOURCE: plan.serve.weights.source,
    MODEL_REF: plan.serve.weights.ref,
    MODEL_REVISION: plan.serve.weights.revision ?? "",
    WEIGHTS_EXPECTED_BYTES: String(plan.serve.weights.expectedBytes),
    PROXY_PORT: String(settings.proxyPort),
    TLS_DOMAIN: settings.tls?.domain ?? "",
    TLS_EMAIL: settings.tls?.email ?? "",
    SECRETS_SOURCE: s.source,
    AWS_REGION: s.source === "ssm" ? s.region : "",
    SSM_API_KEY_PARAM: s.source === "ssm" ? s.apiKeyParameter : "",
    SSM_HF_TOKEN_PARAM: s.source === "ssm" ? (s.hfTokenParameter ?? "") : "",
    SECRETS_FILE: s.source === "file" ? s.path : "",
    ...deferredIdleEnv(settings),
    AWS_CLI_IMAGE,
    DRIVER_POLICY: settings.driver,
    DRIVER_BRANCH,
    MIN_DRIVER_BRANCH: String(ENGINES[plan.engine].driver?.minBranch ?? 0),
    MIN_DRIVER_REASON: ENGINES[plan.engine].driver?.reason ?? "",
    FABRIC_MANAGER: fabricManagerSetting(plan.instance.type),
    NCT_VERSION,
    EXPECT_GPU_COUNT: String(plan.gpusUsed),
    EXPECT_GPU_MEMORY_MIB: String(Math.floor(plan.memory.perGpuGiB * 1024)),
    GPU_DEVICES: settings.gpuDevices ?? "all",
    LOAD_TIMEOUT_SECONDS: String(loadTimeoutSeconds(plan)),
    READY_TIMEOUT_SECONDS: "600",
    IDLE_SETTINGS: idle.fromInstanceTags === true ? "imds-tags" : "env",
    IDLE_MINUTES: idle.minutes === null || idle.fromInstanceTags === true ? "" : String(idle.minutes),
    TTL_HOURS: idle.ttlHours === null || idle.fromInstanceTags === true ? "" : String(idle.ttlHours),
    IDLE_COUNT_SSH: idle.countSsh && idle.fromInstanceTags !== true ? "1" : "0",
    IDLE_ACTION: idle.action,
    // Past the readiness timeout `pulumi up` waits, a bootstrap still "loading" is wedged: idle rules apply.
    IDLE_LOADING_MAX_SECONDS: String(readinessTimeoutSeconds(plan, settings.driver === "install")),
    ...fleetEnv(plan, settings.fleet),
    ...mirrorEnv(plan, settings),
  };
  return env;
}

/** The machine facts ({@link machineEnv}) and the three per-plan config files the scripts read. */
export function renderMachineConfig(plan: Plan, settings: MachineSettings): MachineFile[] {
  const env = bootstrapEnv(plan, settings);
  const header = "# Written by qwen3-serve from the plan. Settings and secret locations only; no secret values.\n";
  for (const [k, v] of Object.entries(plan.serve.env)) {
    if (/[\r\n]/.test(v)) throw new Error(`engine env ${k} holds a newline, which docker --env-file cannot carry`);
  }
  const argv = engineArgv(plan, settings.weightsMirror);
  for (const a of argv) {
    if (/[\r\n]/.test(a))
      throw new Error(`engine argument ${JSON.stringify(a)} holds a newline, which engine.argv cannot carry`);
  }
  return [
    {
      path: MACHINE_ENV_FILE,
      mode: "0644",
      content: envFileText(
        "# Written by qwen3-serve: where things are on this machine, whatever the plan.\n",
        machineEnv(),
      ),
    },
    { path: BOOTSTRAP_ENV_FILE, mode: "0600", content: envFileText(header, env) },
    // One argument per line: read with mapfile, so JSON and spaces survive without shell quoting.
    { path: ENGINE_ARGV_FILE, mode: "0644", content: argv.map((a) => `${a}\n`).join("") },
    // docker --env-file format: KEY=VALUE, taken literally.
    {
      path: ENGINE_ENV_FILE,
      mode: "0644",
      content: Object.entries(plan.serve.env)
        .map(([k, v]) => `${k}=${v}\n`)
        .join(""),
    },
  ];
}

/**
 * A script as shipped: its full-line comments dropped (the shebang and shellcheck directives
 * kept). The comments are for readers of this repository; EC2 caps user data at 16 KiB, and every
 * target runs the same shipped text, so the sandbox tests exercise exactly what machines get.
 */
export function shippedScript(text: string): string {
  return text
    .split("\n")
    .filter((line, i) => (i === 0 && line.startsWith("#!")) || !/^\s*#(?! shellcheck )/.test(line))
    .join("\n");
}

/** Install scripts under {@link LIB_DIR}: `scripts` maps a path relative to it to the script text. */
export function scriptFiles(scripts: Readonly<Record<string, string>>): MachineFile[] {
  return Object.entries(scripts)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([rel, content]) => {
      const code = rel.endsWith(".sh") || rel.endsWith(".py");
      // nginx templates lose their comment lines too; their mode stays 0644.
      const shipped = code || rel.endsWith(".conf") ? shippedScript(content) : content;
      return { path: `${LIB_DIR}/${rel}`, mode: code ? "0755" : "0644", content: shipped };
    });
}

/**
 * cloud-init user data: write every file, then start the bootstrap unit in the background so
 * cloud-init finishes while the bootstrap (and any driver reboot) carries on under systemd.
 */
export function renderCloudInit(files: readonly MachineFile[]): string {
  const doc = {
    write_files: files.map((f) => ({ path: f.path, permissions: f.mode, owner: "root:root", content: f.content })),
    runcmd: [["bash", `${LIB_DIR}/bootstrap.sh`, "--background"]],
  };
  return `#cloud-config\n${stringify(doc, { lineWidth: 0 })}`;
}

/**
 * A plain bash installer for SSH targets: writes every file (base64, so no quoting games), then
 * runs the bootstrap in the foreground so the caller sees each phase and its exit status.
 * Honors QS_ROOT like the scripts it installs, so tests can run it in a sandbox.
 */
export function renderInstallScript(files: readonly MachineFile[]): string {
  const lines = [
    "#!/usr/bin/env bash",
    "# qwen3-serve installer for SSH targets: places the bootstrap and its config, then runs it.",
    "set -euo pipefail",
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell default, not a template
    'QS_ROOT="${QS_ROOT:-}"',
    "put() {",
    '  local path="$QS_ROOT$1" mode="$2"',
    '  mkdir -p "$(dirname "$path")"',
    "  # Created private, then opened up to the file's own mode: no window where a secret is readable.",
    '  (umask 077 && base64 -d >"$path.tmp")',
    '  chmod "$mode" "$path.tmp"',
    '  mv -f "$path.tmp" "$path"',
    "}",
  ];
  for (const f of files) {
    lines.push(`put ${shellQuote(f.path)} ${f.mode} <<'QS_FILE'`);
    lines.push(
      ...(Buffer.from(f.content, "utf8")
        .toString("base64")
        .match(/.{1,76}/g) ?? []),
    );
    lines.push("QS_FILE");
  }
  lines.push(`exec bash "$QS_ROOT${LIB_DIR}/bootstrap.sh"`);
  return `${lines.join("\n")}\n`;
}

/** Where the workstation target puts the secrets file the bootstrap reads (`SECRETS_SOURCE=file`). */
export const SECRETS_FILE = `${CONF_DIR}/secrets.env`;

/** The secrets file's text: the key and optional HF token, one KEY=VALUE per line. */
export function secretsFileContent(apiKey: string, hfToken?: string): string {
  for (const [name, v] of [
    ["API key", apiKey],
    ["HF token", hfToken ?? ""],
  ] as const) {
    if (/[\r\n]/.test(v)) throw new Error(`the ${name} holds a newline`);
  }
  return `API_KEY=${apiKey}\n${hfToken === undefined ? "" : `HF_TOKEN=${hfToken}\n`}`;
}

/** The secrets file as the SSH installer places it (root-only), ahead of the files that read it. */
export function secretsMachineFile(apiKey: string, hfToken?: string): MachineFile {
  return { path: SECRETS_FILE, mode: "0600", content: secretsFileContent(apiKey, hfToken) };
}

/**
 * The shell commands the workstation target runs over SSH. The installer, with the secrets file
 * in it, travels on stdin, so no secret is ever on a command line; `${QS_ROOT:-}` lets the tests
 * run them in a sandbox.
 */
export function workstationCommands(user: string, purgeWeights: boolean): { install: string; uninstall: string } {
  const sudo = user === "root" ? "" : "sudo ";
  return {
    install: `${sudo}bash -s`,
    uninstall:
      `${sudo}sh -c 'if [ -f "\${QS_ROOT:-}${LIB_DIR}/uninstall.sh" ]; then bash ` +
      `"\${QS_ROOT:-}${LIB_DIR}/uninstall.sh"${purgeWeights ? " --purge-weights" : ""}; fi'`,
  };
}

/** Template tokens every caller gets without naming them: facts the proxy shares with the watchdog. */
const TEMPLATE_FACTS: Readonly<Record<string, string>> = { ACTIVITY_PATH: ACTIVITY_URL_PATH };

/**
 * Fill a template's @NAME@ tokens (the same rule as lib.sh's render_template) from `values`, then
 * from the shared facts; a missing value is an error.
 */
export function renderTemplate(text: string, values: Readonly<Record<string, string>>): string {
  return text.replace(/@([A-Z_]+)@/g, (_m, name: string) => {
    const v = values[name] ?? TEMPLATE_FACTS[name];
    if (v === undefined) throw new Error(`template: no value for @${name}@`);
    return v;
  });
}
