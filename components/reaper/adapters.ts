/**
 * The reaper's reach into the world, kept thin: this project's stacks through the Pulumi CLI
 * (components/stacks/workspace.ts, shared with the smoke client) and instance states and tags
 * through EC2 DescribeInstances, each behind a small interface so the tests run the reaper against
 * fakes. Decisions live in `./rules.ts`.
 *
 * The AWS SDK loads on first use (a dynamic import): it takes a second or more to load, and
 * `--help`, flag errors and the tests need none of it.
 */
import type * as AsgSdk from "@aws-sdk/client-auto-scaling";
import type * as Ec2Sdk from "@aws-sdk/client-ec2";
import {
  groupToLookUp,
  instanceToLookUp,
  missingMarkers,
  parseStopTime,
  type GroupRef,
  type ReapDecision,
  type ReaperGroup,
  type ReaperInstance,
  type ReaperStackInput,
} from "./rules";
import { pulumiFailure, type StackListing, type StackWorkspace } from "../stacks/workspace";

/** What the reaper needs from EC2. */
export interface Ec2Lookup {
  /** The instance's state and tags in that region, or null when EC2 there does not know the id. */
  describe(instanceId: string, region: string): Promise<ReaperInstance | null>;
}

/** The instance state and tags from a DescribeInstances answer; null when it lists no such instance. */
export function instanceFromDescribe(
  out: Pick<Ec2Sdk.DescribeInstancesCommandOutput, "Reservations">,
  instanceId: string,
): ReaperInstance | null {
  const instance = (out.Reservations ?? []).flatMap((r) => r.Instances ?? []).find((i) => i.InstanceId === instanceId);
  if (instance === undefined) return null;
  const state = instance.State?.Name ?? "unknown";
  const tags = Object.fromEntries(
    (instance.Tags ?? []).flatMap((t) => (t.Key === undefined ? [] : [[t.Key, t.Value ?? ""]])),
  );
  if (state === "running") {
    const launchedAt = instance.LaunchTime?.getTime();
    return launchedAt === undefined || !Number.isFinite(launchedAt) ? { state, tags } : { state, launchedAt, tags };
  }
  if (state !== "stopped") return { state, tags };
  const stoppedAt = parseStopTime(instance.StateTransitionReason);
  return stoppedAt === undefined ? { state, tags } : { state, stoppedAt, tags };
}

/** The slice of the EC2 client the lookup uses; a test passes a fake. */
export type DescribeInstances = (
  instanceId: string,
  region: string,
) => Promise<Pick<Ec2Sdk.DescribeInstancesCommandOutput, "Reservations">>;

/** DescribeInstances through `@aws-sdk/client-ec2`, one client per region (always given), credentials from the default chain. */
function sdkDescribeInstances(): DescribeInstances {
  let sdk: Promise<typeof Ec2Sdk> | undefined;
  const clients = new Map<string, Ec2Sdk.EC2Client>();
  return async (instanceId, region) => {
    sdk ??= import("@aws-sdk/client-ec2");
    const { EC2Client, DescribeInstancesCommand } = await sdk;
    let client = clients.get(region);
    if (client === undefined) {
      client = new EC2Client({ region });
      clients.set(region, client);
    }
    return client.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  };
}

/** The real EC2 lookup (or one over a given DescribeInstances); an unknown id is null, not an error. */
export function awsEc2Lookup(describeInstances: DescribeInstances = sdkDescribeInstances()): Ec2Lookup {
  return {
    async describe(instanceId, region) {
      try {
        return instanceFromDescribe(await describeInstances(instanceId, region), instanceId);
      } catch (e) {
        // EC2 forgets terminated instances after about an hour, and knows an instance only in its own region.
        if (e instanceof Error && e.name === "InvalidInstanceID.NotFound") return null;
        throw e;
      }
    },
  };
}

/** What the reaper needs from Auto Scaling, for fleets. */
export interface GroupLookup {
  /** The group's capacity, instances, times and tags in that region, or null when Auto Scaling there does not know it. */
  describe(name: string, region: string): Promise<ReaperGroup | null>;
}

/** The two Auto Scaling reads a group lookup makes; a test passes fakes that answer like the API. */
export interface AutoScalingCalls {
  /** DescribeAutoScalingGroups for one name; an unknown name is an empty list, not an error. */
  readonly describeGroups: (
    name: string,
    region: string,
  ) => Promise<Pick<AsgSdk.DescribeAutoScalingGroupsCommandOutput, "AutoScalingGroups">>;
  /** DescribeScalingActivities for one group: the first page, newest first (in-progress ones before them). */
  readonly describeActivities: (
    name: string,
    region: string,
  ) => Promise<Pick<AsgSdk.DescribeScalingActivitiesCommandOutput, "Activities">>;
}

const epochMs = (d: Date | undefined): number | undefined => {
  const t = d?.getTime();
  return t === undefined || !Number.isFinite(t) ? undefined : t;
};

/**
 * The group from DescribeAutoScalingGroups and (only asked for a group at zero) its scaling
 * activities; null when the answer lists no group of that name. The latest activity is taken as
 * the latest end (else start) among those listed, whatever their order.
 */
export function groupFromDescribe(
  groups: Pick<AsgSdk.DescribeAutoScalingGroupsCommandOutput, "AutoScalingGroups">,
  activities: Pick<AsgSdk.DescribeScalingActivitiesCommandOutput, "Activities"> | undefined,
  name: string,
): ReaperGroup | null {
  const g = (groups.AutoScalingGroups ?? []).find((x) => x.AutoScalingGroupName === name);
  if (g === undefined) return null;
  const tags = Object.fromEntries((g.Tags ?? []).flatMap((t) => (t.Key === undefined ? [] : [[t.Key, t.Value ?? ""]])));
  const times = (activities?.Activities ?? []).flatMap((a) => {
    const t = epochMs(a.EndTime) ?? epochMs(a.StartTime);
    return t === undefined ? [] : [t];
  });
  const createdAt = epochMs(g.CreatedTime);
  return {
    desired: g.DesiredCapacity ?? 0,
    min: g.MinSize ?? 0,
    max: g.MaxSize ?? 0,
    instances: (g.Instances ?? []).length,
    ...(createdAt !== undefined ? { createdAt } : {}),
    ...(times.length > 0 ? { lastActivityAt: Math.max(...times) } : {}),
    tags,
  };
}

/** The Auto Scaling reads through `@aws-sdk/client-auto-scaling`, one client per region, credentials from the default chain. */
function sdkAutoScaling(): AutoScalingCalls {
  let sdk: Promise<typeof AsgSdk> | undefined;
  const clients = new Map<string, AsgSdk.AutoScalingClient>();
  const client = async (region: string): Promise<{ c: AsgSdk.AutoScalingClient; m: typeof AsgSdk }> => {
    sdk ??= import("@aws-sdk/client-auto-scaling");
    const m = await sdk;
    let c = clients.get(region);
    if (c === undefined) {
      c = new m.AutoScalingClient({ region });
      clients.set(region, c);
    }
    return { c, m };
  };
  return {
    async describeGroups(name, region) {
      const { c, m } = await client(region);
      return c.send(new m.DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [name] }));
    },
    async describeActivities(name, region) {
      const { c, m } = await client(region);
      return c.send(new m.DescribeScalingActivitiesCommand({ AutoScalingGroupName: name }));
    },
  };
}

/** The real group lookup (or one over given calls); activities are read only for a group with nothing left in it. */
export function awsGroupLookup(calls: AutoScalingCalls = sdkAutoScaling()): GroupLookup {
  return {
    async describe(name, region) {
      const groups = await calls.describeGroups(name, region);
      const first = groupFromDescribe(groups, undefined, name);
      if (first === null || first.desired > 0 || first.instances > 0) return first;
      return groupFromDescribe(groups, await calls.describeActivities(name, region), name);
    },
  };
}

/** A lookup for a reaper that was given none: every fleet is kept, saying why. */
const NO_GROUPS: GroupLookup = {
  describe: () => Promise.reject(new Error("no Auto Scaling lookup configured")),
};

/** A failure to list the stacks at all: the reaper can decide nothing. */
export class ReaperError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ReaperError";
  }
}

const errorText = (e: unknown): string =>
  e instanceof Error ? `${e.name === "Error" ? "" : `${e.name}: `}${e.message}` : String(e);

/** The checkout's config for a region of last resort; an unreadable or missing stack file is no config. */
async function checkoutConfig(workspace: StackWorkspace, name: string): Promise<Record<string, string>> {
  try {
    return await workspace.config(name);
  } catch {
    return {};
  }
}

/**
 * Read one listed stack from its deployment: outputs first (a stack without this program's
 * markers is not read further), then the last update's config, then the instance in its region.
 */
export async function gatherStack(
  workspace: StackWorkspace,
  ec2: Ec2Lookup,
  s: StackListing,
  groups: GroupLookup = NO_GROUPS,
): Promise<ReaperStackInput> {
  const base = {
    name: s.name,
    updateInProgress: s.updateInProgress,
    ...(s.lastUpdate !== undefined ? { lastUpdate: s.lastUpdate } : {}),
  };
  let outputs: Record<string, unknown>;
  let deployedConfig: Record<string, string>;
  try {
    outputs = await workspace.outputs(s.name);
    if (missingMarkers(outputs) !== undefined) return { ...base, outputs, deployedConfig: {} };
    deployedConfig = await workspace.deployedConfig(s.name);
  } catch (e) {
    return { ...base, outputs: {}, deployedConfig: {}, readError: pulumiFailure(e) };
  }
  const fleet = groupToLookUp(outputs, deployedConfig);
  if (fleet !== undefined)
    return {
      ...base,
      outputs,
      deployedConfig,
      ...(await gatherGroup(workspace, groups, s, fleet, outputs, deployedConfig)),
    };
  let ref = instanceToLookUp(outputs, deployedConfig);
  if (ref === undefined) return { ...base, outputs, deployedConfig };
  if (ref.region === undefined)
    ref = instanceToLookUp(outputs, deployedConfig, await checkoutConfig(workspace, s.name)) ?? ref;
  const instanceRef = ref;
  if (instanceRef.region === undefined) {
    // The SDK's default region would be the reaper's, not the stack's: a wrong "not found", or another account's view.
    return {
      ...base,
      outputs,
      deployedConfig,
      instanceRef,
      instanceError: "no region recorded (no awsRegion output, no aws:region in the stack config)",
    };
  }
  try {
    return {
      ...base,
      outputs,
      deployedConfig,
      instanceRef,
      instance: await ec2.describe(instanceRef.instanceId, instanceRef.region),
    };
  } catch (e) {
    return { ...base, outputs, deployedConfig, instanceRef, instanceError: errorText(e) };
  }
}

/** A fleet's group in the stack's own region (the checkout's config as a last resort), or why it could not be read. */
async function gatherGroup(
  workspace: StackWorkspace,
  groups: GroupLookup,
  s: StackListing,
  found: GroupRef,
  outputs: Record<string, unknown>,
  deployedConfig: Record<string, string>,
): Promise<Pick<ReaperStackInput, "groupRef" | "group" | "groupError">> {
  const groupRef =
    found.region !== undefined
      ? found
      : (groupToLookUp(outputs, deployedConfig, await checkoutConfig(workspace, s.name)) ?? found);
  if (groupRef.region === undefined)
    return { groupRef, groupError: "no region recorded (no awsRegion output, no aws:region in the stack config)" };
  try {
    return { groupRef, group: await groups.describe(groupRef.name, groupRef.region) };
  } catch (e) {
    return { groupRef, groupError: errorText(e) };
  }
}

/** List the backend's stacks, throwing ReaperError when it cannot. */
async function listOrFail(workspace: StackWorkspace): Promise<StackListing[]> {
  try {
    return await workspace.listStacks();
  } catch (e) {
    throw new ReaperError(`cannot list this project's stacks: ${pulumiFailure(e)}`);
  }
}

/**
 * Read every listed stack. One stack at a time: each read is a Pulumi CLI process against the same
 * state backend, and a failure on one stack is recorded on it (kept, with the reason) rather than
 * stopping the others.
 */
export async function gatherStacks(
  workspace: StackWorkspace,
  ec2: Ec2Lookup,
  groups: GroupLookup = NO_GROUPS,
): Promise<ReaperStackInput[]> {
  const out: ReaperStackInput[] = [];
  for (const s of await listOrFail(workspace)) out.push(await gatherStack(workspace, ec2, s, groups));
  return out;
}

/** A fresh look at one stack just before acting on it; undefined when the backend no longer lists it. */
export async function recheckStack(
  workspace: StackWorkspace,
  ec2: Ec2Lookup,
  name: string,
  groups: GroupLookup = NO_GROUPS,
): Promise<ReaperStackInput | undefined> {
  const listing = (await listOrFail(workspace)).find((s) => s.name === name);
  return listing === undefined ? undefined : gatherStack(workspace, ec2, listing, groups);
}

/** The outcome of one destroy. */
export interface DestroyResult {
  /** Stack name. */
  readonly stack: string;
  /** Whether nothing failed (destroyed, or kept after the fresh look). */
  readonly ok: boolean;
  /** Why the fresh look just before the destroy kept it; the stack was not destroyed. */
  readonly kept?: string;
  /** Why it failed. */
  readonly error?: string;
}

/**
 * Destroy each named stack in turn, deciding again from a fresh look just before each destroy
 * (someone may have extended, restarted or retagged it since the listing); a failure is recorded
 * and the next stack still runs.
 */
export async function destroyStacks(
  workspace: StackWorkspace,
  names: readonly string[],
  onOutput: (stack: string, text: string) => void,
  recheck: (stack: string) => Promise<ReapDecision>,
): Promise<DestroyResult[]> {
  const results: DestroyResult[] = [];
  for (const name of names) {
    try {
      const fresh = await recheck(name);
      if (fresh.decision !== "destroy") {
        results.push({ stack: name, ok: true, kept: fresh.reason });
        continue;
      }
      await workspace.destroy(name, (text) => onOutput(name, text));
      results.push({ stack: name, ok: true });
    } catch (e) {
      results.push({ stack: name, ok: false, error: e instanceof ReaperError ? e.message : pulumiFailure(e) });
    }
  }
  return results;
}
