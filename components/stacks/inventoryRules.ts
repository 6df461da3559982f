/**
 * The pure half of the stack inventory (./inventory.ts), shared by the reaper's rules and the status
 * view: what a stack's machine looks like when read live, where to look for it (the instance or
 * group its outputs name, in the region its outputs or config record), and what it costs per hour
 * now. No I/O, no clock, no Pulumi.
 */
import { CONFIG_NAMESPACE } from "../config/schema";

const KEY_AWS = `${CONFIG_NAMESPACE}:aws`;
const KEY_AWS_REGION = "aws:region";
const KEY_TARGET = `${CONFIG_NAMESPACE}:target`;
// EC2 instance ids: "i-" and 8 (older) or 17 hex digits. Workstation (user@host) and Docker
// (container id) stacks export other values as instanceId.
const EC2_INSTANCE_ID = /^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;

/** An EC2 instance as DescribeInstances shows it now. */
export interface InstanceView {
  /** EC2 state name: pending, running, stopping, stopped, shutting-down, terminated. */
  readonly state: string;
  /** When it stopped (epoch ms), read from the state transition reason; absent when unknown. */
  readonly stoppedAt?: number;
  /** When it last started (EC2 LaunchTime, reset by every start), epoch ms; absent when unknown. */
  readonly launchedAt?: number;
  /** Its tags as EC2 reports them now, key to value. */
  readonly tags: Readonly<Record<string, string>>;
}

/** A fleet's Auto Scaling group as DescribeAutoScalingGroups (and, at zero, DescribeScalingActivities) shows it now. */
export interface GroupView {
  /** Desired capacity now. */
  readonly desired: number;
  /** Minimum size. */
  readonly min: number;
  /** Maximum size. */
  readonly max: number;
  /** Instances in the group now, in any lifecycle state (a terminating one still counts). */
  readonly instances: number;
  /** The group's CreatedTime, epoch ms; absent when unknown. */
  readonly createdAt?: number | undefined;
  /** The end (else the start) of its latest scaling activity within the retention, epoch ms; absent when none or not read. */
  readonly lastActivityAt?: number | undefined;
  /** Its tags, key to value. */
  readonly tags: Readonly<Record<string, string>>;
}

/** Where an instance lookup goes: the instance and its region (undefined: none recorded anywhere). */
export interface InstanceRef {
  /** The EC2 instance id from the stack outputs. */
  readonly instanceId: string;
  /** The stack's region, from its outputs or config; never the reader's own default. */
  readonly region: string | undefined;
}

/** Where a group lookup goes: the group's name from the outputs and the stack's region. */
export interface GroupRef {
  /** The `autoScalingGroupName` output. */
  readonly name: string;
  /** The stack's region, from its outputs or config; never the reader's own default. */
  readonly region: string | undefined;
}

/**
 * A stack's machine as read live. `instance` / `group` is null when it was not seen: with `error`
 * when the lookup failed (no region, credentials, network), without when AWS does not know it in
 * that region. A stack with no AWS machine to read (workstation, Docker, not this program's, or
 * unread) is `none`, with the reason.
 */
export type MachineView =
  | {
      /** A single AWS machine. */
      readonly kind: "instance";
      /** The instance id and region looked up. */
      readonly ref: InstanceRef;
      /** The instance; null when not seen (see `error`). */
      readonly instance: InstanceView | null;
      /** Why the lookup failed; undefined when it answered. */
      readonly error: string | undefined;
    }
  | {
      /** A fleet. */
      readonly kind: "group";
      /** The group name and region looked up. */
      readonly ref: GroupRef;
      /** The group; null when not seen (see `error`). */
      readonly group: GroupView | null;
      /** Why the lookup failed; undefined when it answered. */
      readonly error: string | undefined;
    }
  | {
      /** Nothing in AWS to read. */
      readonly kind: "none";
      /** Why, in words for a table. */
      readonly reason: string;
    };

/**
 * The stop time in EC2's StateTransitionReason, e.g. "User initiated (2026-11-29 10:00:00 GMT)";
 * undefined when the text carries no such date.
 */
export function parseStopTime(stateTransitionReason: string | undefined): number | undefined {
  const m = /\((\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}) GMT\)/.exec(stateTransitionReason ?? "");
  if (m === null) return undefined;
  const t = Date.parse(`${m[1]}T${m[2]}Z`);
  return Number.isFinite(t) ? t : undefined;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * What this program's outputs lack, or undefined when they carry all its markers: a `plan` object
 * (version 1, an engine, a model id) and the `endpoint`, `modelName` and `instanceId` strings every
 * target exports (components/program/deploy.ts, components/targets/outputs.ts).
 */
export function missingMarkers(outputs: Readonly<Record<string, unknown>>): string | undefined {
  const plan = outputs.plan;
  const planOk =
    isRecord(plan) &&
    plan.version === 1 &&
    typeof plan.engine === "string" &&
    isRecord(plan.model) &&
    typeof plan.model.id === "string";
  // A fleet has no single instance: its group's name stands in for the instance id.
  const machine = typeof outputs.autoScalingGroupName === "string" ? "autoScalingGroupName" : "instanceId";
  const missing = [
    ...(planOk ? [] : ["plan"]),
    ...["endpoint", "modelName", machine].filter((k) => typeof outputs[k] !== "string"),
  ];
  return missing.length === 0 ? undefined : missing.join(", ");
}

/** The region in a stack config: `aws:region` (the provider's), else the `qwen3-serve:aws` object's region. */
export function regionOf(config: Readonly<Record<string, string>>): string | undefined {
  const provider = config[KEY_AWS_REGION];
  if (provider !== undefined && provider !== "") return provider;
  const raw = config[KEY_AWS];
  if (raw === undefined) return undefined;
  try {
    const settings: unknown = JSON.parse(raw);
    if (isRecord(settings) && typeof settings.region === "string" && settings.region !== "") return settings.region;
  } catch {
    // An unreadable aws setting records no region.
  }
  return undefined;
}

/**
 * The region in the deployed outputs: the `awsRegion` output, else the `--region` of the
 * `connectCommand` output (`aws ssm start-session --region R ...`), which stacks deployed before
 * the `awsRegion` output existed still carry.
 */
export function regionFromOutputs(outputs: Readonly<Record<string, unknown>>): string | undefined {
  if (typeof outputs.awsRegion === "string" && outputs.awsRegion !== "") return outputs.awsRegion;
  const m = typeof outputs.connectCommand === "string" ? /--region[= ]([a-z0-9-]+)/.exec(outputs.connectCommand) : null;
  return m?.[1];
}

/** The first region found in the outputs, then in each config given in turn. */
function regionIn(
  outputs: Readonly<Record<string, unknown>>,
  configs: readonly Readonly<Record<string, string>>[],
): string | undefined {
  let region = regionFromOutputs(outputs);
  for (const c of configs) region ??= regionOf(c);
  return region;
}

/**
 * The EC2 instance to look up for a stack: the outputs' `instanceId` when it is an EC2 id, in the
 * first region found in the outputs, then in each config given (deployed first); otherwise undefined.
 */
export function instanceToLookUp(
  outputs: Readonly<Record<string, unknown>>,
  ...configs: readonly Readonly<Record<string, string>>[]
): InstanceRef | undefined {
  const id = outputs.instanceId;
  if (typeof id !== "string" || !EC2_INSTANCE_ID.test(id)) return undefined;
  return { instanceId: id, region: regionIn(outputs, configs) };
}

/** A fleet's group to look up: the `autoScalingGroupName` output, in the region found as for an instance. */
export function groupToLookUp(
  outputs: Readonly<Record<string, unknown>>,
  ...configs: readonly Readonly<Record<string, string>>[]
): GroupRef | undefined {
  const name = outputs.autoScalingGroupName;
  if (typeof name !== "string" || name === "") return undefined;
  return { name, region: regionIn(outputs, configs) };
}

/** The target of the last update's config; the schema's default, aws, when it sets none. */
export function targetOf(deployedConfig: Readonly<Record<string, string>>): string {
  return deployedConfig[KEY_TARGET] ?? "aws";
}

/**
 * Dollars per hour the stack's machine costs now, at the planned price: the `pricePerHour` output
 * for a running instance (a fleet's is per replica, times desired capacity), 0 for an instance in
 * any other state and for machines you own (their output is 0); null when the price or the state
 * is unknown. EC2 bills instance usage only in the running state (instance states table,
 * https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-instance-lifecycle.html, read 2026-11-30);
 * volumes and addresses bill regardless and are not counted here.
 */
export function hourlyCostNow(outputs: Readonly<Record<string, unknown>> | null, machine: MachineView): number | null {
  const price = outputs?.pricePerHour;
  if (typeof price !== "number" || !Number.isFinite(price) || price < 0) return null;
  if (machine.kind === "none") return price;
  if (machine.kind === "group") return machine.group === null ? null : price * machine.group.desired;
  if (machine.instance === null) return null;
  return machine.instance.state === "running" ? price : 0;
}
