/**
 * The stack inventory the reaper and `npm run status` share: this project's stacks through the
 * Pulumi CLI (./workspace.ts), each one's outputs, deployed config and listing, and its machine's
 * live state: the EC2 instance of a single AWS machine, the Auto Scaling group of a fleet, nothing
 * for a workstation or Docker stack. Stacks are read a few at a time, and a stack that cannot be
 * read carries the reason while the others go on. The pure half (types, where to look, $/h) is
 * ./inventoryRules.ts.
 *
 * The AWS SDK loads on first use (a dynamic import): it takes a second or more to load, and
 * `--help`, flag errors and the tests need none of it.
 */
import type * as AsgSdk from "@aws-sdk/client-auto-scaling";
import type * as Ec2Sdk from "@aws-sdk/client-ec2";
import {
  type GroupRef,
  type GroupView,
  groupToLookUp,
  type InstanceRef,
  type InstanceView,
  instanceToLookUp,
  type MachineView,
  missingMarkers,
  parseStopTime,
  targetOf,
} from "./inventoryRules";
import { pulumiFailure, type StackListing, type StackWorkspace } from "./workspace";
import { CONFIG_NAMESPACE } from "../config/schema";

/** What the inventory needs from EC2. */
export interface Ec2Lookup {
  /** The instance's state and tags in that region, or null when EC2 there does not know the id. */
  describe(instanceId: string, region: string): Promise<InstanceView | null>;
}

/** The instance state and tags from a DescribeInstances answer; null when it lists no such instance. */
export function instanceFromDescribe(
  out: Pick<Ec2Sdk.DescribeInstancesCommandOutput, "Reservations">,
  instanceId: string,
): InstanceView | null {
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

/** What the inventory needs from Auto Scaling, for fleets. */
export interface GroupLookup {
  /** The group's capacity, instances, times and tags in that region, or null when Auto Scaling there does not know it. */
  describe(name: string, region: string): Promise<GroupView | null>;
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
): GroupView | null {
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

/** One stack of the inventory, everything read about it. */
export interface StackRecord {
  /** Stack name as `pulumi stack ls` lists it (bare, or `organization/project/stack`). */
  readonly name: string;
  /** The backend's listing: the last update's time, whether an update is running now. */
  readonly listing: StackListing;
  /** The deployed outputs, plain values (secrets "[secret]" unless read with showSecrets); null when they could not be read. */
  readonly outputs: Readonly<Record<string, unknown>> | null;
  /** The config of the stack's last update, full keys, secrets left out; empty when not read (unreadable, or not this program's). */
  readonly deployedConfig: Readonly<Record<string, string>>;
  /** The target of the last update (`qwen3-serve:target`, aws when unset); undefined when its config was not read. */
  readonly target: string | undefined;
  /** The machine as read live: the instance, the group, or none with the reason. */
  readonly machine: MachineView;
  /** Why the stack itself (its outputs or its last update's config) could not be read, as Pulumi said it; undefined when read. */
  readonly error: string | undefined;
  /** Every failure on this stack worded for a person, the stack's first, then its machine's; empty when all was read. */
  readonly errors: readonly string[];
}

/** What the inventory reads with. */
export interface InventoryDeps {
  /** The stacks' workspace (the real one runs the Pulumi CLI). */
  readonly workspace: StackWorkspace;
  /** Instance states and tags (the real one calls EC2). */
  readonly ec2: Ec2Lookup;
  /** Fleets' Auto Scaling groups (the real one calls Auto Scaling). */
  readonly autoScaling: GroupLookup;
  /** Stacks read at once, 1 or more. */
  readonly concurrency: number;
  /** Called as each stack finishes, with how many are done and how many there are. */
  readonly onProgress?: ((done: number, total: number) => void) | undefined;
  /** Read outputs with secrets shown (status needs the API key to probe the endpoint; the reaper needs none). */
  readonly showSecrets?: boolean | undefined;
}

/** Stacks read at once by default: each read is a Pulumi CLI process (tens of MB and a second or more). */
export const DEFAULT_CONCURRENCY = 4;

/** The stacks could not be listed at all: nothing can be read. */
export class InventoryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InventoryError";
  }
}

const NO_REGION = "no region recorded (no awsRegion output, no aws:region in the stack config)";
const MACHINE_TARGETS = new Set(["docker", "workstation"]);

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

/** The record's failures, worded with what failed. */
function failures(error: string | undefined, machine: MachineView): string[] {
  const stack = error === undefined ? [] : [`cannot read the stack: ${error}`];
  if (machine.kind === "none" || machine.error === undefined) return stack;
  const what =
    machine.kind === "instance" ? `instance ${machine.ref.instanceId}` : `Auto Scaling group ${machine.ref.name}`;
  return [...stack, `${what} unreadable: ${machine.error}`];
}

/** Assemble a record, deriving its failure list. */
function record(
  listing: StackListing,
  outputs: Readonly<Record<string, unknown>> | null,
  deployedConfig: Readonly<Record<string, string>> | null,
  machine: MachineView,
  error?: string,
): StackRecord {
  return {
    name: listing.name,
    listing,
    outputs,
    deployedConfig: deployedConfig ?? {},
    target: deployedConfig === null ? undefined : targetOf(deployedConfig),
    machine,
    error,
    errors: failures(error, machine),
  };
}

/** Re-resolve a ref's region with the checkout's config, for a stack whose deployment records none. */
async function withCheckout<R extends InstanceRef | GroupRef>(
  workspace: StackWorkspace,
  name: string,
  found: R,
  redo: (checkout: Record<string, string>) => R | undefined,
): Promise<R> {
  if (found.region !== undefined) return found;
  return redo(await checkoutConfig(workspace, name)) ?? found;
}

/** One lookup in the ref's region, never the SDK's default (that would be this process's region, not the stack's). */
async function lookUp<V>(
  region: string | undefined,
  describe: (region: string) => Promise<V | null>,
): Promise<{ value: V | null; error: string | undefined }> {
  if (region === undefined) return { value: null, error: NO_REGION };
  try {
    return { value: await describe(region), error: undefined };
  } catch (e) {
    return { value: null, error: errorText(e) };
  }
}

/** Why a stack of this program has no AWS machine to read. */
function noMachine(target: string): MachineView {
  return {
    kind: "none",
    reason: MACHINE_TARGETS.has(target)
      ? `${target} target: no AWS machine to read`
      : "the outputs name no EC2 instance and no Auto Scaling group",
  };
}

/** The machine of a stack of this program: its fleet's group, else its EC2 instance, else none. */
async function readMachine(
  deps: InventoryDeps,
  name: string,
  outputs: Readonly<Record<string, unknown>>,
  deployed: Readonly<Record<string, string>>,
): Promise<MachineView> {
  const group = groupToLookUp(outputs, deployed);
  if (group !== undefined) {
    const ref = await withCheckout(deps.workspace, name, group, (c) => groupToLookUp(outputs, deployed, c));
    const { value, error } = await lookUp(ref.region, (region) => deps.autoScaling.describe(ref.name, region));
    return { kind: "group", ref, group: value, error };
  }
  const instance = instanceToLookUp(outputs, deployed);
  if (instance === undefined) return noMachine(targetOf(deployed));
  const ref = await withCheckout(deps.workspace, name, instance, (c) => instanceToLookUp(outputs, deployed, c));
  const { value, error } = await lookUp(ref.region, (region) => deps.ec2.describe(ref.instanceId, region));
  return { kind: "instance", ref, instance: value, error };
}

const UNREAD: MachineView = { kind: "none", reason: "not read: the stack could not be read" };

/**
 * Read one listed stack: outputs first (a stack without this program's markers is not read
 * further: on a legacy file backend the listing holds every project's stacks), then the last
 * update's config, then the machine in its region. Failures are recorded on the record, never thrown.
 */
export async function readStack(deps: InventoryDeps, listing: StackListing): Promise<StackRecord> {
  const ws = deps.workspace;
  let outputs: Record<string, unknown>;
  try {
    outputs =
      deps.showSecrets === true
        ? await ws.outputs(listing.name, { showSecrets: true })
        : await ws.outputs(listing.name);
  } catch (e) {
    return record(listing, null, null, UNREAD, pulumiFailure(e));
  }
  const missing = missingMarkers(outputs);
  if (missing !== undefined) {
    const reason =
      Object.keys(outputs).length === 0
        ? "nothing deployed (no stack outputs)"
        : `not a ${CONFIG_NAMESPACE} deployment: its outputs lack ${missing}`;
    return record(listing, outputs, null, { kind: "none", reason });
  }
  let deployed: Record<string, string>;
  try {
    deployed = await ws.deployedConfig(listing.name);
  } catch (e) {
    return record(listing, outputs, null, UNREAD, pulumiFailure(e));
  }
  return record(listing, outputs, deployed, await readMachine(deps, listing.name, outputs, deployed));
}

/**
 * Run `fn` over the items with at most `limit` in flight (at least one); results in the items' order.
 * `onDone` hears each completion with the count so far. Shared by the inventory and `npm run status`.
 */
export async function mapBounded<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
  onDone: (done: number, item: T) => void = () => {},
): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < items.length; i = next++) {
      const item = items[i] as T;
      results[i] = await fn(item);
      onDone(++done, item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker));
  return results;
}

const byName = (a: StackListing, b: StackListing): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/**
 * Read every stack the backend lists, at most `concurrency` at once, sorted by name. A stack that
 * cannot be read carries the reason and the others go on; only a listing that fails throws
 * (InventoryError).
 */
export async function readInventory(deps: InventoryDeps): Promise<StackRecord[]> {
  if (!Number.isInteger(deps.concurrency) || deps.concurrency < 1)
    throw new RangeError(`concurrency must be a whole number, 1 or more; got ${deps.concurrency}`);
  let listings: StackListing[];
  try {
    listings = await deps.workspace.listStacks();
  } catch (e) {
    throw new InventoryError(`cannot list this project's stacks: ${pulumiFailure(e)}`);
  }
  const sorted = [...listings].sort(byName);
  return mapBounded(
    sorted,
    deps.concurrency,
    // readStack records every failure it expects; this catches the rest, so one stack never stops the others.
    (listing) => readStack(deps, listing).catch((e: unknown) => record(listing, null, null, UNREAD, errorText(e))),
    (done) => deps.onProgress?.(done, sorted.length),
  );
}
