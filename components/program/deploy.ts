/**
 * The program behind `pulumi up`: validated stack config in, one target component out, with the
 * stack outputs every target shares. index.ts reads config and calls {@link deployStack}; tests
 * call it under Pulumi mocks.
 */
import * as pulumi from "@pulumi/pulumi";
import { AMI_FAMILIES, AMI_FAMILY_NAMES } from "../catalog/amis";
import { plainUbuntuRefusal } from "../catalog/gpus";
import { KNOWN_GPUS } from "../catalog/workstationGpus";
import { cidrText, hasHostBits, isBroadPublic, parseCidr } from "../config/cidr";
import { CONFIG_NAMESPACE, explicitChoices, MY_IP, planRequestFrom, type StackConfig } from "../config/schema";
import { isUserError, UserError } from "../errors/userError";
import { planForMachine, type MachineGpus } from "../sizing/machinePlan";
import type { IdleSettings } from "../machine/render";
import { buildPlan, type Plan } from "../sizing/plan";
import { GpuServer } from "../targets/aws";
import { DockerServer, endpointHost } from "../targets/docker";
import { targetOutputsOf, type TargetOutputs } from "../targets/outputs";
import { WorkstationServer } from "../targets/workstation";

/** What the program needs from outside: the stack's identity and the deployer's public IP. */
export interface StackContext {
  readonly project: string;
  readonly stack: string;
  /** Owner tag when the config sets none (the entry point passes the OS user). */
  readonly defaultOwner: string;
  /** The deployer's public IPv4, for "myip" in CIDR lists. */
  readonly myIp: () => Promise<string>;
  /** Whether a config key was set with --secret (plain-text secrets are refused). */
  readonly isSecret: (key: string) => boolean;
  /** Where warnings go (pulumi.log.warn in a real run). */
  readonly warn?: (message: string) => void;
}

/** The outputs every target exports, and the plan. */
export type StackOutputs = TargetOutputs & {
  /** The plan, as `npm run plan --json` prints it. */
  readonly plan: Plan;
  /** AWS target only: the region of its resources (the reaper looks the instance up there). */
  readonly awsRegion?: pulumi.Output<string>;
};

/**
 * Plan for the config on its target: the cheapest fitting AWS instance, or the described GPUs of a
 * workstation or Docker host (stepping unset quantization or context down to fit, said via `warn`).
 */
export function planForStack(config: StackConfig, warn?: (message: string) => void): Plan {
  if (config.target === "workstation") {
    const ws = config.workstation;
    if (ws === undefined) throw new Error("parseStackConfig guarantees workstation settings");
    // The engine runs in a bridge-network container whose port is published on the host's
    // 127.0.0.1 only (run-engine.sh), so inside the container it listens on all addresses.
    return machinePlan(config, machineGpus(ws.gpus, ws.ramGiB), "0.0.0.0", warn);
  }
  if (config.target === "docker") {
    const d = config.docker;
    if (d === undefined) throw new Error("parseStackConfig guarantees docker settings");
    // Inside its container the engine must listen on the container network for the proxy to reach it.
    return machinePlan(config, machineGpus(d.gpus), "0.0.0.0", warn);
  }
  return awsPlan(config);
}

/** Plan on AWS; a pinned instance type that cannot hold the model fails naming that type. */
function awsPlan(config: StackConfig): Plan {
  const plan = fittedAwsPlan(config);
  const ami = config.aws?.ami ?? "dlami-ubuntu-24.04";
  const refusal = AMI_FAMILIES[ami].hasDriver ? null : plainUbuntuRefusal(plan.instance.type);
  if (refusal !== null) {
    throw new UserError({
      key: "aws.ami",
      value: ami,
      problem: `plain Ubuntu cannot run the planned instance: ${refusal.replace(/; use the Deep Learning AMI$/, "")}.`,
      hint: "Set aws.ami to a Deep Learning AMI family (its image ships the fabric manager), or pin a smaller aws.instanceType.",
      choices: AMI_FAMILY_NAMES.filter((f) => AMI_FAMILIES[f].hasDriver),
    });
  }
  return plan;
}

/** The cheapest fitting instance; a pinned type that cannot hold the model names the type. */
function fittedAwsPlan(config: StackConfig): Plan {
  const pinned = config.aws?.instanceType;
  try {
    return buildPlan(planRequestFrom(config));
  } catch (e) {
    if (pinned === undefined || !isUserError(e) || !e.problem.startsWith("no instance")) throw e;
    const unpinned = (() => {
      try {
        return buildPlan(
          planRequestFrom({
            ...config,
            aws: config.aws === undefined ? undefined : { ...config.aws, instanceType: undefined },
          }),
        ).instance.type;
      } catch {
        return undefined;
      }
    })();
    throw new UserError({
      key: "aws.instanceType",
      value: pinned,
      problem: `cannot hold ${config.model} (${e.hint.replace(/^The largest option, [^:]+: /, "").replace(/\. To fit.*$/, "")}).`,
      hint:
        unpinned === undefined
          ? "Remove the pin or lower quantization, context or concurrency."
          : `Remove the pin to let the plan choose (it picks ${unpinned}), or lower quantization, context or concurrency.`,
    });
  }
}

/** The described GPUs of a machine we serve on, with any memory override applied. */
export function machineGpus(
  gpus: { model: string; count: number; memoryMiB?: number | undefined },
  ramGiB?: number,
): MachineGpus {
  const known = KNOWN_GPUS[gpus.model];
  if (known === undefined) throw new Error(`config validation let an unknown GPU through: ${gpus.model}`);
  const gpu = gpus.memoryMiB === undefined ? known : { ...known, usableMiB: gpus.memoryMiB };
  return ramGiB === undefined ? { gpu, count: gpus.count } : { gpu, count: gpus.count, ramGiB };
}

/** "myip" resolved, every entry in canonical form, duplicates dropped. */
async function resolveCidrs(list: readonly string[], ctx: StackContext): Promise<string[]> {
  const out: string[] = [];
  for (const text of list) {
    const cidr = parseCidr(text === MY_IP ? `${await ctx.myIp()}/32` : text);
    if (cidr === null || hasHostBits(cidr)) throw new Error(`config validation let a malformed CIDR through: ${text}`);
    out.push(cidrText(cidr));
  }
  return [...new Set(out)];
}

/** Tags that carry lifetime settings (idle window, TTL, expiry), which a stack changes over its life. */
const LIFETIME_TAGS = new Set([
  "qwen3-serve:idle-minutes",
  "qwen3-serve:idle-counts-ssh",
  "qwen3-serve:ttl-hours",
  "qwen3-serve:expires-at",
]);

/** Tags on everything, so a person or a script can find every machine and its owner. */
export function stackTags(config: StackConfig, ctx: StackContext, plan: Plan): Record<string, string> {
  return {
    ...config.tags,
    "qwen3-serve:project": ctx.project,
    "qwen3-serve:stack": ctx.stack,
    "qwen3-serve:model": plan.model.id,
    "qwen3-serve:engine": plan.engine,
    "qwen3-serve:owner": config.owner ?? ctx.defaultOwner,
    // The AWS watchdog reads these three from instance metadata each minute, so changing them
    // updates the running machine in place instead of replacing it.
    "qwen3-serve:idle-minutes": String(config.idleMinutes),
    ...(config.idleCountsSsh ? { "qwen3-serve:idle-counts-ssh": "true" } : {}),
    ...(config.ttlHours !== undefined ? { "qwen3-serve:ttl-hours": String(config.ttlHours) } : {}),
    ...(config.expiresAt !== undefined ? { "qwen3-serve:expires-at": config.expiresAt } : {}),
  };
}

function requireSecret(config: StackConfig, ctx: StackContext, key: "hfToken" | "sshPrivateKey", what: string): void {
  if (config[key] !== undefined && !ctx.isSecret(`${CONFIG_NAMESPACE}:${key}`)) {
    throw new UserError({
      key,
      value: "(plain text)",
      problem: `the ${what} is stored in plain text in the stack file.`,
      hint: `Set it with \`pulumi config set --secret ${CONFIG_NAMESPACE}:${key} ${key === "sshPrivateKey" ? "< ~/.ssh/id_ed25519" : "<value>"}\`.`,
    });
  }
}

/** Plan onto a given machine, and say so when quantization or context had to step down. */
function machinePlan(
  config: StackConfig,
  machine: MachineGpus,
  bindHost: "127.0.0.1" | "0.0.0.0",
  warn?: (message: string) => void,
): Plan {
  let fitted: ReturnType<typeof planForMachine>;
  try {
    fitted = planForMachine({ ...planRequestFrom(config), bindHost }, machine, explicitChoices(config));
  } catch (e) {
    // Name the stack key the user wrote: workstation.gpus or docker.gpus.
    throw isUserError(e) && e.key === "gpus" ? e.relabel(() => `${config.target}.gpus`) : e;
  }
  const { plan, adjusted } = fitted;
  if (adjusted !== null) warn?.(adjusted);
  return plan;
}

const describeGpus = (m: MachineGpus): string => `${m.count} x ${m.gpu.name}`;

/** The watchdog's settings for a stack: what to watch for, and what stopping means on its target. */
export function idleSettings(config: StackConfig, action: IdleSettings["action"]): IdleSettings {
  return {
    minutes: config.idleMinutes === "off" ? null : config.idleMinutes,
    ttlHours: config.ttlHours ?? null,
    countSsh: config.idleCountsSsh,
    action,
  };
}

/** Declare the stack's resources for a validated config. Throws UserError before declaring anything on bad input. */
export async function deployStack(config: StackConfig, ctx: StackContext): Promise<StackOutputs> {
  requireSecret(config, ctx, "hfToken", "Hugging Face token");
  requireSecret(config, ctx, "sshPrivateKey", "SSH private key");
  const hfToken = config.hfToken !== undefined ? { hfToken: pulumi.secret(config.hfToken) } : {};
  let plan: Plan;
  let server: TargetOutputs;

  if (config.target === "workstation") {
    const ws = config.workstation;
    if (ws === undefined || config.sshPrivateKey === undefined)
      throw new Error("parseStackConfig guarantees workstation settings and key");
    const machine = machineGpus(ws.gpus, ws.ramGiB);
    plan = planForStack(config, ctx.warn);
    server = new WorkstationServer(ctx.stack, {
      plan,
      host: ws.host,
      port: ws.port,
      user: ws.user,
      privateKey: pulumi.secret(config.sshPrivateKey),
      hostKey: ws.hostKey,
      proxyPort: ws.proxyPort,
      purgeWeightsOnDestroy: ws.purgeWeightsOnDestroy,
      gpuDescription: describeGpus(machine),
      idle: idleSettings(config, "stop-engine"),
      ...hfToken,
    });
  } else if (config.target === "docker") {
    const d = config.docker;
    if (d === undefined) throw new Error("parseStackConfig guarantees docker settings");
    const machine = machineGpus(d.gpus);
    plan = planForStack(config, ctx.warn);
    const hostName =
      d.host === undefined || d.host.startsWith("unix://") ? "localhost" : new URL(d.host).hostname || "localhost";
    // Docker labels cannot change in place: a new label replaces the volume (weights) and every
    // container. Keep only the labels that never change for a stack; the watchdog's settings
    // travel in the sidecar's environment instead.
    const tags = Object.fromEntries(
      Object.entries(stackTags(config, ctx, plan)).filter(([k]) => !LIFETIME_TAGS.has(k)),
    );
    server = new DockerServer(ctx.stack, {
      plan,
      ...(d.host !== undefined ? { host: d.host } : {}),
      publicHost: d.publicHost ?? endpointHost(d.bindAddress, hostName),
      bindAddress: d.bindAddress,
      gpuDevices: d.gpuDevices,
      proxyPort: d.proxyPort,
      ...(d.engineImageDigest !== undefined ? { engineImageDigest: d.engineImageDigest } : {}),
      waitForReady: d.waitForReady,
      labels: tags,
      gpuDescription: describeGpus(machine),
      idle: idleSettings(config, "stop-engine"),
      ...hfToken,
    });
  } else {
    const aws = config.aws;
    if (aws === undefined) throw new Error("parseStackConfig guarantees aws settings for the aws target");
    plan = awsPlan(config);
    const allowedCidrs = await resolveCidrs(aws.allowedCidrs ?? [], ctx);
    const sshCidrs = aws.ssh === undefined ? undefined : await resolveCidrs(aws.ssh.allowedCidrs, ctx);
    if (
      !aws.allowPublicIngress &&
      [...allowedCidrs, ...(sshCidrs ?? [])].some((c) => {
        const p = parseCidr(c);
        return p === null || isBroadPublic(p);
      })
    ) {
      throw new Error("config validation let a public range broader than a /8 through without allowPublicIngress");
    }
    const gpu = new GpuServer(ctx.stack, {
      plan,
      amiFamily: aws.ami,
      ...(aws.amiId !== undefined ? { amiId: aws.amiId } : {}),
      ...(aws.subnetId !== undefined ? { subnetId: aws.subnetId } : {}),
      allowedCidrs,
      private: aws.private,
      ...(aws.ssh !== undefined && sshCidrs !== undefined
        ? { ssh: { keyName: aws.ssh.keyName, allowedCidrs: sshCidrs } }
        : {}),
      proxyPort: aws.proxyPort,
      ...(aws.tls !== undefined ? { tls: aws.tls } : {}),
      rootVolume: aws.rootVolume,
      shutdownBehavior: config.idleAction,
      idle: { ...idleSettings(config, "poweroff"), fromInstanceTags: true },
      ...(aws.engineImageDigest !== undefined ? { engineImageDigest: aws.engineImageDigest } : {}),
      waitForReady: aws.waitForReady,
      parameterPrefix: `/${ctx.project}/${ctx.stack}`,
      tags: stackTags(config, ctx, plan),
      ...(aws.region !== undefined ? { region: aws.region } : {}),
      ...hfToken,
    });
    return { ...targetOutputsOf(gpu), plan, awsRegion: gpu.region };
  }
  return { ...targetOutputsOf(server), plan };
}
