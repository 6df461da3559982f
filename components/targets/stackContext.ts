/**
 * What every target's `plan`/`declare` shares: the stack's identity from outside, the tags and
 * idle settings a stack config implies, and planning onto a machine whose GPUs the stack describes.
 */
import * as pulumi from "@pulumi/pulumi";
import type { CommonConfig, MachineGpusSettings } from "../config/schema";
import { explicitChoices, planRequestFrom } from "../config/schema";
import { isUserError } from "../errors/userError";
import type { IdleSettings } from "../machine/render";
import { planForMachine, type MachineGpus } from "../sizing/machinePlan";
import type { Plan } from "../sizing/plan";

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
  /**
   * Reads the weights mirror's bucket name in a region (`aws.weightsCache: s3`), null when there is none; default:
   * SSM through the AWS SDK (./awsMirror.ts). Tests pass a fake.
   */
  readonly weightsBucket?: (region: string) => Promise<string | null>;
}

/** Tags that carry lifetime settings (idle window, TTL, expiry), which a stack changes over its life. */
export const LIFETIME_TAGS: ReadonlySet<string> = new Set([
  "qwen3-serve:idle-minutes",
  "qwen3-serve:idle-counts-ssh",
  "qwen3-serve:ttl-hours",
  "qwen3-serve:expires-at",
]);

/** Tags on everything, so a person or a script can find every machine and its owner. */
export function stackTags(config: CommonConfig, ctx: StackContext, plan: Plan): Record<string, string> {
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

/** The watchdog's settings for a stack: what to watch for, and what stopping means on its target. */
export function idleSettings(config: CommonConfig, action: IdleSettings["action"]): IdleSettings {
  return {
    minutes: config.idleMinutes === "off" ? null : config.idleMinutes,
    ttlHours: config.ttlHours ?? null,
    countSsh: config.idleCountsSsh,
    action,
  };
}

/** The Hugging Face token as a component argument, marked secret; nothing when the stack sets none. */
export function hfTokenArg(config: CommonConfig): { hfToken?: pulumi.Output<string> } {
  return config.hfToken !== undefined ? { hfToken: pulumi.secret(config.hfToken) } : {};
}

/** The described GPUs of a machine we serve on (the schema resolved the card), with the host RAM if given. */
export function machineGpus(gpus: MachineGpusSettings, ramGiB?: number): MachineGpus {
  return ramGiB === undefined ? { gpu: gpus.gpu, count: gpus.count } : { gpu: gpus.gpu, count: gpus.count, ramGiB };
}

/** "2 x RTX-4090", for the machine's status page and outputs. */
export const describeGpus = (m: MachineGpus): string => `${m.count} x ${m.gpu.name}`;

/**
 * Plan onto a given machine, and say so via `warn` when quantization or context had to step down.
 * A misfit names `gpusKey`, the stack key the user wrote (workstation.gpus or docker.gpus).
 */
export function planOnMachine(
  config: CommonConfig,
  machine: MachineGpus,
  gpusKey: string,
  warn?: (message: string) => void,
): Plan {
  let fitted: ReturnType<typeof planForMachine>;
  try {
    // Every machine target runs the engine in a bridge-network container whose port is published on
    // the host's 127.0.0.1 only (run-engine.sh, the Docker target's proxy network), so inside the
    // container the engine listens on all addresses.
    fitted = planForMachine({ ...planRequestFrom(config), bindHost: "0.0.0.0" }, machine, explicitChoices(config));
  } catch (e) {
    throw isUserError(e) && e.key === "gpus" ? e.relabel(() => gpusKey) : e;
  }
  if (fitted.adjusted !== null) warn?.(fitted.adjusted);
  return fitted.plan;
}
