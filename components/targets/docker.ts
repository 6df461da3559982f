/**
 * `qwen3-serve:docker:Server`: the endpoint as containers on any Docker host with the NVIDIA
 * container toolkit (local, or ssh://user@host). The pinned engine image on a private network
 * with its port unpublished, a weights cache volume filled before serving (Ollama pulls through
 * its own API instead), and the same nginx auth proxy as the bootstrap, the only published port.
 */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { readFileSync } from "node:fs";
import path from "node:path";
import { PROXY_IMAGE, WATCHDOG_IMAGE } from "../catalog/images";
import { UserError } from "../errors/userError";
import {
  ACCESS_LOG,
  ENGINE_LOG_CAP,
  ENGINE_ULIMITS,
  LOG_DIR,
  loadTimeoutSeconds,
  machineEnv,
  readinessTimeoutSeconds,
  renderTemplate,
  WEIGHTS_CACHE,
  type IdleSettings,
} from "../machine/render";
import type { Plan } from "../sizing/plan";
import { loadTemplate } from "../machine/assets";
import { declareApiKey } from "./apiKey";
import { planGpus, targetOutputs, targetOutputsOf, TargetServer } from "./outputs";
import { declareReadinessWait } from "./readinessWait";

/** Inputs of {@link DockerServer}. */
export interface DockerServerArgs {
  /** The plan, fitted to the host's GPUs, with the engine bound to 0.0.0.0 inside its network. */
  readonly plan: Plan;
  /** Docker daemon address (unix://, ssh://user@host or tcp://host:port); the local socket when absent. */
  readonly host?: string;
  /** Host name in the endpoint URL; default: the bind address, or for a wildcard bind the daemon's host ({@link endpointHost}). */
  readonly publicHost?: string;
  /** GPUs for the engine: all, or device=0,1. */
  readonly gpuDevices: string;
  /** Port the proxy publishes. */
  readonly proxyPort: number;
  /** Host address the proxy's port is published on (127.0.0.1: the host itself only; 0.0.0.0: every interface). */
  readonly bindAddress: string;
  /** Pin the engine image digest. */
  readonly engineImageDigest?: string;
  /** Hugging Face token for gated repos (secret). */
  readonly hfToken?: pulumi.Input<string>;
  /** Wait in `pulumi up` for a real completion through the proxy. */
  readonly waitForReady: boolean;
  /** Labels on every container, volume and network (a changed label replaces them); default none. */
  readonly labels?: Readonly<Record<string, string>>;
  /** What describes the GPUs in outputs; default the plan's, e.g. "1 x RTX-6000-Ada". */
  readonly gpuDescription?: string;
  /** The idle watchdog sidecar's settings; no sidecar when neither a window nor a TTL is set. */
  readonly idle: IdleSettings;
}

/** A container that runs once to completion (weights download or pull): a finished one is not a failure to restart. */
const RUN_ONCE = { attach: true, mustRun: false, logs: true, restart: "no" } as const;
/** Network alias the proxy reaches the engine by. */
const ENGINE_ALIAS = "engine";
/** Where our scripts go inside the containers that run them. */
const SCRIPT_DIR = "/opt/qwen3-serve";
/** Where the download container finds the HF token; download.sh deletes it before downloading. */
const HF_TOKEN_FILE = "/run/qwen3-serve/hf_token";
/** Container logs capped as the machines cap the engine's (run-engine.sh): json-file, rotated by size. */
const ENGINE_LOGS = {
  logDriver: "json-file",
  logOpts: { "max-size": ENGINE_LOG_CAP.maxSize, "max-file": String(ENGINE_LOG_CAP.maxFiles) },
};
/** The same for the small containers (proxy error log, watchdog, one-shot download or pull). */
const SMALL_LOGS = { logDriver: "json-file", logOpts: { "max-size": "10m", "max-file": "3" } };

/** A script of this folder, as uploaded into a container. */
function script(name: "download.sh" | "logcap.sh"): string {
  return readFileSync(path.join(__dirname, "docker", name), "utf8");
}

/**
 * The watchdog sidecar's environment: the machine facts idle.py needs (paths, grace period), then
 * how to reach the engine, the proxy's activity port and the containers to stop over the Docker API.
 */
export function watchdogEnv(
  name: string,
  plan: Plan,
  idle: IdleSettings,
  activityPort: number,
): Record<string, string> {
  return {
    ...machineEnv(),
    ENGINE: plan.engine,
    ENGINE_HOST: ENGINE_ALIAS,
    ENGINE_PORT: String(plan.serve.port),
    ENGINE_HEALTH_PATH: plan.serve.healthPath,
    IDLE_PHASE: "health",
    IDLE_ACCESS_LOG: ACCESS_LOG,
    IDLE_MINUTES: idle.minutes === null ? "" : String(idle.minutes),
    TTL_HOURS: idle.ttlHours === null ? "" : String(idle.ttlHours),
    IDLE_ACTION: "docker",
    IDLE_CONTAINERS: `${name}-qwen3-serve-engine,${name}-qwen3-serve-proxy`,
    IDLE_CHECK_SECONDS: "60",
    IDLE_ACTIVITY: `http://${name}-qwen3-serve-proxy:${activityPort}`,
    IDLE_LOADING_MAX_SECONDS: String(readinessTimeoutSeconds(plan, false)),
  };
}

/**
 * The engine's GPU request as Docker's API takes it. Not the `gpus` text: the provider hands that to
 * docker/cli's GpuOpts.Set, which reads it as CSV, so `device=0,1` becomes device 0 plus a count of
 * 1, which the daemon refuses ("cannot set both Count and DeviceIDs on device request"), and
 * terraform-provider-docker v4 strips the inner quotes that would keep it one field
 * (internal/provider/resource_docker_container_funcs.go normalizeGPUOptionString; docker/cli
 * opts/gpus.go; moby daemon/nvidia_linux.go; read 2026-11-30). `deviceRequests` is passed as is.
 */
export function gpuDeviceRequests(gpuDevices: string): docker.types.input.ContainerDeviceRequest[] {
  const ids = /^device=(\d+(?:,\d+)*)$/.exec(gpuDevices)?.[1];
  if (gpuDevices !== "all" && ids === undefined) {
    throw new UserError({
      key: "gpuDevices",
      value: gpuDevices,
      problem: "is neither all nor a list of GPU indexes.",
      hint: "Give all, or device= with comma-separated indexes as nvidia-smi numbers them.",
      choices: ["all", "device=0", "device=0,1"],
    });
  }
  return [
    { driver: "nvidia", capabilities: ["gpu"], ...(ids === undefined ? { count: -1 } : { deviceIds: ids.split(",") }) },
  ];
}

/** Whether a bind address means every interface of the host. */
function isWildcard(address: string): boolean {
  return address === "0.0.0.0" || address === "::";
}

/**
 * The endpoint URL's host when the caller names none: the bind address, or for a wildcard bind the
 * daemon's host name (`localhost` for a local socket).
 */
export function defaultPublicHost(bindAddress: string, host: string | undefined): string {
  if (host === undefined || host.startsWith("unix://")) return endpointHost(bindAddress, "localhost");
  try {
    return endpointHost(bindAddress, new URL(host).hostname || "localhost");
  } catch {
    throw new UserError({
      key: "host",
      value: host,
      problem: "is not a Docker daemon address.",
      hint: "Give unix:///var/run/docker.sock, ssh://user@host or tcp://host:2376, or leave it out for the local socket.",
    });
  }
}

/**
 * The host part of the endpoint URL when the stack names none: the bind address itself, or for a
 * wildcard bind the daemon's host name (`localhost` for a local socket).
 */
export function endpointHost(bindAddress: string, daemonHost: string): string {
  if (isWildcard(bindAddress)) return daemonHost;
  return bindAddress.includes(":") ? `[${bindAddress}]` : bindAddress;
}

/**
 * A Docker host serving a Qwen3 model behind an authenticated OpenAI-compatible endpoint.
 *
 * Outputs: `instanceId` is the engine container's id, `publicIp` the endpoint's host, `instanceType` "docker: <GPUs>",
 * `pricePerHour` 0 (the host is yours), `amiId` the engine image's digest (or its tag when the daemon reports none),
 * `statusUrl` "n/a" (no bootstrap here), and the commands SSH to the daemon's host or `docker exec` for a local one.
 */
export class DockerServer extends TargetServer {
  constructor(name: string, args: DockerServerArgs, opts: pulumi.ComponentResourceOptions = {}) {
    // Bad input fails here, before anything is declared.
    const deviceRequests = gpuDeviceRequests(args.gpuDevices);
    const publicHost = args.publicHost ?? defaultPublicHost(args.bindAddress, args.host);
    super("qwen3-serve:docker:Server", name, {}, opts);
    const { plan } = args;
    const provider = new docker.Provider(`${name}-docker`, args.host !== undefined ? { host: args.host } : {}, {
      parent: this,
    });
    const child = { parent: this, provider };
    const labels = Object.entries(args.labels ?? {}).map(([label, value]) => ({ label, value }));
    const source = plan.serve.weights.source;
    const cachePath = WEIGHTS_CACHE[source].container;

    const key = declareApiKey(name, this);
    const network = new docker.Network(`${name}-net`, { name: `${name}-qwen3-serve`, driver: "bridge", labels }, child);
    const cache = new docker.Volume(`${name}-weights`, { name: `${name}-qwen3-serve-weights`, labels }, child);
    const logs = new docker.Volume(`${name}-logs`, { name: `${name}-qwen3-serve-logs`, labels }, child);

    const engineImage = new docker.RemoteImage(
      `${name}-engine-image`,
      {
        name: args.engineImageDigest === undefined ? plan.serve.image : `${plan.serve.image}@${args.engineImageDigest}`,
        keepLocally: true,
      },
      child,
    );
    const proxyImage = new docker.RemoteImage(`${name}-proxy-image`, { name: PROXY_IMAGE, keepLocally: true }, child);

    // vLLM and SGLang: fill the cache before the engine starts, with hf from the engine's own image.
    const prerequisites: pulumi.Resource[] = [];
    if (source === "hf") {
      const hfArgs = [
        "download",
        plan.serve.weights.ref,
        ...(plan.serve.weights.revision !== null ? ["--revision", plan.serve.weights.revision] : []),
      ];
      prerequisites.push(
        new docker.Container(
          `${name}-weights-download`,
          {
            name: `${name}-qwen3-serve-weights`,
            image: engineImage.imageId,
            // download.sh takes the token out of the file and deletes it, then runs `hf "$@"`: the
            // finished container, which Docker keeps, holds no token in its files, env or argv.
            entrypoints: ["/bin/sh", `${SCRIPT_DIR}/download.sh`],
            command: hfArgs,
            envs: ["HF_XET_HIGH_PERFORMANCE=1", `QS_HF_TOKEN_FILE=${HF_TOKEN_FILE}`],
            uploads: [
              { file: `${SCRIPT_DIR}/download.sh`, content: script("download.sh"), executable: true },
              ...(args.hfToken !== undefined
                ? [{ file: HF_TOKEN_FILE, content: pulumi.secret(args.hfToken), permissions: "0400" }]
                : []),
            ],
            volumes: [{ volumeName: cache.name, containerPath: cachePath }],
            ...RUN_ONCE,
            ...SMALL_LOGS,
            labels,
          },
          child,
        ),
      );
    }

    const [entrypoint, ...cmd] = plan.serve.argv;
    // The Ollama image has neither curl nor python; `ollama list` asks the same server over its API
    // and exits non-zero when it does not answer. vLLM and SGLang images carry python3.
    const healthTest =
      source === "ollama"
        ? ["CMD", "ollama", "list"]
        : [
            "CMD",
            "python3",
            "-c",
            `import urllib.request; urllib.request.urlopen('http://127.0.0.1:${plan.serve.port}${plan.serve.healthPath}', timeout=5)`,
          ];
    const engine = new docker.Container(
      `${name}-engine`,
      {
        name: `${name}-qwen3-serve-engine`,
        image: engineImage.imageId,
        entrypoints: [entrypoint ?? ""],
        command: cmd,
        envs: Object.entries(plan.serve.env).map(([k, v]) => `${k}=${v}`),
        deviceRequests,
        // Tensor-parallel ranks share memory over /dev/shm.
        ipcMode: "host",
        ulimits: Object.entries(ENGINE_ULIMITS).map(([limit, value]) => ({ name: limit, soft: value, hard: value })),
        volumes: [{ volumeName: cache.name, containerPath: cachePath }],
        // Reachable only on the private network, by the proxy: no published port.
        networksAdvanced: [{ name: network.name, aliases: [ENGINE_ALIAS] }],
        restart: "unless-stopped",
        healthcheck: {
          tests: healthTest,
          interval: "30s",
          timeout: "10s",
          retries: 3,
          startPeriod: `${loadTimeoutSeconds(plan)}s`,
        },
        wait: true,
        waitTimeout: loadTimeoutSeconds(plan),
        ...ENGINE_LOGS,
        labels,
      },
      { ...child, dependsOn: prerequisites },
    );

    // Ollama: pull through the running server's API, from its own image as the client.
    const afterEngine: pulumi.Resource[] = [engine];
    if (source === "ollama") {
      afterEngine.push(
        new docker.Container(
          `${name}-weights-pull`,
          {
            name: `${name}-qwen3-serve-pull`,
            image: engineImage.imageId,
            entrypoints: ["ollama"],
            command: ["pull", plan.serve.weights.ref],
            envs: [`OLLAMA_HOST=http://${ENGINE_ALIAS}:${plan.serve.port}`],
            networksAdvanced: [{ name: network.name }],
            ...RUN_ONCE,
            ...SMALL_LOGS,
            labels,
          },
          { ...child, dependsOn: [engine] },
        ),
      );
    }

    // The watchdog's in-flight count (stub_status): a port inside the proxy container that is never
    // published, so only containers on the private network reach it.
    const activityPort = args.proxyPort === 8079 ? 8078 : 8079;
    const proxyConf = renderTemplate(loadTemplate("proxy.conf"), {
      AUTH_INCLUDE: "/etc/nginx/qwen3-serve-auth.conf",
      LISTEN: `listen ${args.proxyPort};`,
      ACCESS_LOG,
      // Resolve the engine per request through Docker's DNS: a restarted engine container may come
      // back on another address, and nginx would otherwise keep the one it saw at start.
      UPSTREAM_SETUP: `    resolver 127.0.0.11 valid=10s ipv6=off;\n    set $qwen3_serve_upstream http://${ENGINE_ALIAS}:${plan.serve.port};`,
      UPSTREAM: "$qwen3_serve_upstream",
      STATUS_LOCATION: "",
      ACTIVITY_LISTEN: String(activityPort),
    });
    const authConf = pulumi.secret(
      key.apply((k) => renderTemplate(loadTemplate("proxy-auth.conf"), { API_KEY: k.replace(/[.+]/g, "\\$&") })),
    );
    const proxy = new docker.Container(
      `${name}-proxy`,
      {
        name: `${name}-qwen3-serve-proxy`,
        image: proxyImage.imageId,
        // Published on the stack's bind address only: Docker's own iptables rules put a published
        // port ahead of the host's firewall, so the address is the only gate.
        ports: [{ internal: args.proxyPort, external: args.proxyPort, ip: args.bindAddress }],
        // logcap.sh bounds the access log the watchdog reads, then execs nginx (the image's entrypoint
        // runs its own setup scripts only for a command starting with nginx, and we need none of them).
        command: ["/bin/sh", `${SCRIPT_DIR}/logcap.sh`, "nginx", "-g", "daemon off;"],
        envs: [`QS_ACCESS_LOG=${ACCESS_LOG}`],
        ...SMALL_LOGS,
        uploads: [
          { file: `${SCRIPT_DIR}/logcap.sh`, content: script("logcap.sh"), executable: true },
          { file: "/etc/nginx/conf.d/default.conf", content: proxyConf },
          { file: "/etc/nginx/qwen3-serve-auth.conf", content: authConf, permissions: "0600" },
        ],
        volumes: [{ volumeName: logs.name, containerPath: LOG_DIR }],
        networksAdvanced: [{ name: network.name }],
        restart: "unless-stopped",
        labels,
      },
      { ...child, dependsOn: afterEngine },
    );

    // The idle watchdog: the machines' idle.py in a sidecar that reads the proxy's log, asks the
    // engine's metrics, and stops the engine and proxy through the Docker socket. The socket is
    // root on the host, so the sidecar exists only when a window or TTL asks for it.
    if (args.idle.minutes !== null || args.idle.ttlHours !== null) {
      const watchdogImage = new docker.RemoteImage(
        `${name}-idle-image`,
        { name: WATCHDOG_IMAGE, keepLocally: true },
        child,
      );
      const dir = "/opt/qwen3-serve";
      new docker.Container(
        `${name}-idle`,
        {
          name: `${name}-qwen3-serve-idle`,
          image: watchdogImage.imageId,
          command: ["python3", `${dir}/idle.py`, "loop"],
          envs: Object.entries(watchdogEnv(name, plan, args.idle, activityPort)).map(([k, v]) => `${k}=${v}`),
          uploads: [
            { file: `${dir}/idle.py`, content: loadTemplate("idle.py"), executable: true },
            { file: `${dir}/status.py`, content: loadTemplate("status.py") },
          ],
          volumes: [
            { volumeName: logs.name, containerPath: LOG_DIR, readOnly: true },
            { hostPath: "/var/run/docker.sock", containerPath: "/var/run/docker.sock" },
          ],
          networksAdvanced: [{ name: network.name }],
          restart: "unless-stopped",
          ...SMALL_LOGS,
          labels,
        },
        { ...child, dependsOn: [proxy] },
      );
    }

    const base = `http://${publicHost}:${args.proxyPort}`;
    const ready = args.waitForReady
      ? declareReadinessWait(
          name,
          {
            baseUrl: base,
            apiKey: key,
            model: plan.serve.servedModelName,
            timeoutSeconds: readinessTimeoutSeconds(plan, false),
            hasStatus: false,
            triggers: [engine.id, proxy.id],
          },
          { parent: this, dependsOn: [proxy] },
        )
      : proxy.id;

    const sshHost = args.host?.startsWith("ssh://") === true ? args.host.slice("ssh://".length) : undefined;
    // The forward ends where the port is published: the bind address, or loopback for a wildcard bind.
    const forwardTo = isWildcard(args.bindAddress) ? "127.0.0.1" : endpointHost(args.bindAddress, "");
    const outputs = targetOutputs({
      baseUrl: base,
      readyWhen: ready,
      modelName: plan.serve.servedModelName,
      apiKey: key,
      instanceId: engine.id,
      publicIp: publicHost,
      instanceType: `docker: ${args.gpuDescription ?? planGpus(plan)}`,
      pricePerHour: 0,
      amiId: engineImage.repoDigest.apply((d) => d || plan.serve.image),
      connectCommand: sshHost !== undefined ? `ssh ${sshHost}` : `docker exec -it ${name}-qwen3-serve-engine sh`,
      portForwardCommand:
        sshHost !== undefined
          ? `ssh -N -L ${args.proxyPort}:${forwardTo}:${args.proxyPort} ${sshHost}`
          : "n/a (local Docker host)",
      statusUrl: "n/a (no bootstrap on the Docker target; see docker logs)",
    });
    this.finish(outputs);
  }
}

// ---------------------------------------------------------------------------------------------
// The Docker target module (listed in components/targets/registry.ts): how a `docker` stack config plans
// and what it declares. Kept apart from the component above, which takes a plan and knows no config.
// ---------------------------------------------------------------------------------------------

import type { DockerStackConfig } from "../config/schema";
import type { DeclaredOutputs, Target } from "./target";
import {
  describeGpus,
  hfTokenArg,
  idleSettings,
  LIFETIME_TAGS,
  machineGpus,
  planOnMachine,
  type StackContext,
  stackTags,
} from "./stackContext";

/** Plan onto the Docker host's described GPUs, stepping unset quantization or context down to fit. */
function planDocker(config: DockerStackConfig, warn?: (message: string) => void): Plan {
  return planOnMachine(config, machineGpus(config.docker.gpus), "docker.gpus", warn);
}

/** The endpoint's host, worked out before anything is declared; a bad daemon address names docker.host. */
function publicHostOf(d: DockerStackConfig["docker"]): string {
  if (d.publicHost !== undefined) return d.publicHost;
  try {
    return defaultPublicHost(d.bindAddress, d.host);
  } catch (e) {
    throw e instanceof UserError ? e.relabel((k) => `docker.${k}`) : e;
  }
}

/** Declare the Docker stack: one {@link DockerServer}. */
async function declareDocker(config: DockerStackConfig, plan: Plan, ctx: StackContext): Promise<DeclaredOutputs> {
  const d = config.docker;
  // Docker labels cannot change in place: a new label replaces the volume (weights) and every
  // container. Keep only the labels that never change for a stack; the watchdog's settings
  // travel in the sidecar's environment instead.
  const labels = Object.fromEntries(
    Object.entries(stackTags(config, ctx, plan)).filter(([k]) => !LIFETIME_TAGS.has(k)),
  );
  const server = new DockerServer(ctx.stack, {
    plan,
    ...(d.host !== undefined ? { host: d.host } : {}),
    publicHost: publicHostOf(d),
    bindAddress: d.bindAddress,
    gpuDevices: d.gpuDevices,
    proxyPort: d.proxyPort,
    ...(d.engineImageDigest !== undefined ? { engineImageDigest: d.engineImageDigest } : {}),
    waitForReady: d.waitForReady,
    labels,
    gpuDescription: describeGpus(machineGpus(d.gpus)),
    idle: idleSettings(config, "stop-engine"),
    ...hfTokenArg(config),
  });
  return targetOutputsOf(server);
}

/** The Docker target: plans onto the host's described GPUs, declares one {@link DockerServer}. */
export const dockerTarget: Target<DockerStackConfig> = { plan: planDocker, declare: declareDocker };
