/**
 * `npm run bake` as pure decisions: which instance of a stack to image and whether it may be, the
 * image's name and tags, and the config line to pin it with. No clock, no AWS: the caller passes the
 * deployed outputs and config, the bootstrap state it read, and `now`.
 *
 * A bake images a machine that finished its bootstrap (engine image, weights and caches on disk), so
 * a rebuild from the image skips those phases; anything else is refused before EC2 is called.
 */
import { DRIVER_BRANCH } from "../catalog/pins";
import { AMI_FAMILIES, type AmiFamilyName } from "../catalog/amis";
import { CONFIG_NAMESPACE } from "../config/schema";
import { UserError } from "../errors/userError";
import { instanceToLookUp, missingMarkers, regionFromOutputs, regionOf } from "../stacks/inventoryRules";
import type { Bootstrap } from "../status/rules";

/** The instance a bake images and where. */
export interface BakeTarget {
  readonly instanceId: string;
  readonly region: string;
  /** The fleet's Auto Scaling group when the stack is a fleet. */
  readonly group?: string | undefined;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const EC2_ID = /^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;

/** Refuse with the stack as the key. */
function refuse(stack: string, problem: string, hint: string): never {
  throw new UserError({ key: "stack", value: stack, problem, hint });
}

/**
 * The instance to bake from the stack's deployed outputs and config: its one instance, or for a fleet
 * the replica `--instance` names. Throws UserError for a stack that is not an AWS stack of this program.
 */
export function bakeTarget(
  stack: string,
  outputs: Readonly<Record<string, unknown>>,
  deployedConfig: Readonly<Record<string, string>>,
  instanceFlag: string | undefined,
): BakeTarget {
  const missing = missingMarkers(outputs);
  if (missing !== undefined)
    refuse(stack, `is not a ${CONFIG_NAMESPACE} deployment: its outputs lack ${missing}.`, "Name a deployed stack.");
  const target = deployedConfig[`${CONFIG_NAMESPACE}:target`] ?? "aws";
  if (target !== "aws")
    refuse(
      stack,
      `deploys to ${target}, not AWS: only an EC2 instance can be baked into an AMI.`,
      "Name an AWS stack.",
    );
  const region = regionFromOutputs(outputs) ?? regionOf(deployedConfig);
  if (region === undefined)
    refuse(stack, "records no region (no awsRegion output, no aws:region in its config).", "Run pulumi up on it once.");
  const group = typeof outputs.autoScalingGroupName === "string" ? outputs.autoScalingGroupName : undefined;
  if (group !== undefined) {
    if (instanceFlag === undefined || !EC2_ID.test(instanceFlag))
      throw new UserError({
        key: "instance",
        value: instanceFlag ?? "(none)",
        problem: `stack ${stack} is a fleet: bake one replica, named by its instance id.`,
        hint: `List the replicas with \`aws autoscaling describe-auto-scaling-groups --region ${region} --auto-scaling-group-names ${group}\`.`,
      });
    return { instanceId: instanceFlag, region, group };
  }
  const ref = instanceToLookUp(outputs, deployedConfig);
  if (ref === undefined) refuse(stack, "names no EC2 instance in its outputs.", "Run pulumi up on it once.");
  if (instanceFlag !== undefined && instanceFlag !== ref.instanceId)
    throw new UserError({
      key: "instance",
      value: instanceFlag,
      problem: `stack ${stack} is one machine, ${ref.instanceId}.`,
      hint: "Leave --instance out for a single machine.",
    });
  return { instanceId: ref.instanceId, region };
}

/** Why a machine may not be baked now, or undefined when it may: its bootstrap must be ready, and --stop is for single machines. */
export function bakeRefusal(bootstrap: Bootstrap, target: BakeTarget, stop: boolean): string | undefined {
  // Auto Scaling counts an instance in any state but running as unhealthy and replaces it
  // (Amazon EC2 Auto Scaling User Guide, "Health checks for instances in an Auto Scaling group", read 2026-11-30).
  if (stop && target.group !== undefined)
    return `--stop would make Auto Scaling group ${target.group} replace the stopped replica; bake a fleet replica with the reboot (no --stop)`;
  if (bootstrap.state === "ready") return undefined;
  if (bootstrap.state === "loading")
    return `its bootstrap is still running (phase ${bootstrap.phase ?? "?"}); bake once npm run status shows it ready`;
  if (bootstrap.state === "failed")
    return `its bootstrap failed in phase ${bootstrap.phase ?? "?"} (${bootstrap.reason}); an image of it would hold the failure`;
  return `its status could not be read (${bootstrap.reason}); bake only a machine that answers ready`;
}

/** An EC2 tag. */
export interface Tag {
  readonly Key: string;
  readonly Value: string;
}

/** Tag values are at most 256 characters (EC2 tag restrictions). */
const value = (v: string): string => v.slice(0, 256);

/** The plan output's weights and image, when present. */
function planFacts(outputs: Readonly<Record<string, unknown>>): Record<string, string> {
  const plan = isRecord(outputs.plan) ? outputs.plan : {};
  const serve = isRecord(plan.serve) ? plan.serve : {};
  const w = isRecord(serve.weights) ? serve.weights : {};
  const facts: Record<string, string> = {};
  if (typeof w.ref === "string") facts["qwen3-serve:model"] = w.ref;
  if (typeof w.revision === "string") facts["qwen3-serve:model-revision"] = w.revision;
  if (typeof serve.image === "string") facts["qwen3-serve:engine-image"] = serve.image;
  if (typeof plan.engine === "string") facts["qwen3-serve:engine"] = plan.engine;
  return facts;
}

/** The image family the stack was deployed with (the schema's default when unset). */
function amiFamily(deployedConfig: Readonly<Record<string, string>>): AmiFamilyName {
  try {
    const aws: unknown = JSON.parse(deployedConfig[`${CONFIG_NAMESPACE}:aws`] ?? "{}");
    if (isRecord(aws) && typeof aws.ami === "string" && aws.ami in AMI_FAMILIES) return aws.ami as AmiFamilyName;
  } catch {
    // An unreadable setting is the default family.
  }
  return "dlami-ubuntu-24.04";
}

/**
 * The tags on the image and its snapshots: where it was baked from and what it holds, as far as the
 * deployed outputs say (model and revision, engine image, source AMI, the driver: the DLAMI's own, or
 * the branch the bootstrap installs on plain Ubuntu).
 */
export function bakeTags(
  stack: string,
  project: string,
  target: BakeTarget,
  outputs: Readonly<Record<string, unknown>>,
  deployedConfig: Readonly<Record<string, string>>,
): Tag[] {
  const family = amiFamily(deployedConfig);
  const facts: Record<string, string> = {
    "qwen3-serve:baked-from": stack,
    "qwen3-serve:project": project,
    "qwen3-serve:source-instance": target.instanceId,
    ...(typeof outputs.amiId === "string" ? { "qwen3-serve:source-ami": outputs.amiId } : {}),
    ...planFacts(outputs),
    "qwen3-serve:ami-family": family,
    "qwen3-serve:driver": AMI_FAMILIES[family].hasDriver
      ? "from the Deep Learning AMI"
      : `nvidia ${DRIVER_BRANCH} branch`,
  };
  return Object.entries(facts).map(([Key, v]) => ({ Key, Value: value(v) }));
}

/**
 * The image's name: unique per stack and second, in the characters CreateImage allows ("3-128
 * alphanumeric characters, parentheses, square brackets, spaces, periods, slashes, dashes, single
 * quotes, at-signs, or underscores", EC2 API reference CreateImage Name); `nowIso` as Date#toISOString prints it.
 */
export function imageName(stack: string, nowIso: string): string {
  const stamp = nowIso.replace(/[:]/g, "").replace(/\.\d+Z$/, "Z");
  const safe = stack.replace(/[^A-Za-z0-9()[\] ./'@_-]/g, "_");
  return `qwen3-serve ${safe} ${stamp}`.slice(0, 128);
}

/** What to put in the stack file to launch from the image, and the command that does it. */
export function pinText(stack: string, imageId: string): string {
  return [
    `Pin it in Pulumi.${stack.slice(stack.lastIndexOf("/") + 1)}.yaml, inside the existing ${CONFIG_NAMESPACE}:aws block:`,
    `${CONFIG_NAMESPACE}:aws:`,
    `  amiId: ${imageId}`,
    `or: pulumi config set --path '${CONFIG_NAMESPACE}:aws.amiId' ${imageId} --stack ${stack}`,
  ].join("\n");
}
