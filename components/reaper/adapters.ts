/**
 * The reaper's reach into the world, kept thin: it reads this project's stacks, their outputs and
 * their machines through the shared inventory (components/stacks/inventory.ts, which `npm run
 * status` reads too), turns each record into the reaper's input, and destroys through the Pulumi
 * CLI workspace. Decisions live in `./rules.ts`.
 */
import type { ReapDecision, ReaperStackInput } from "./rules";
import {
  type Ec2Lookup,
  type GroupLookup,
  InventoryError,
  readInventory,
  readStack,
  type StackRecord,
} from "../stacks/inventory";
import { pulumiFailure, type StackListing, type StackWorkspace } from "../stacks/workspace";

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

/** The machine part of the reaper's input: the ref, and the view or why it could not be read. */
function machineInput(r: StackRecord): Partial<ReaperStackInput> {
  const m = r.machine;
  if (m.kind === "instance")
    return m.error === undefined
      ? { instanceRef: m.ref, instance: m.instance }
      : { instanceRef: m.ref, instanceError: m.error };
  if (m.kind === "group")
    return m.error === undefined ? { groupRef: m.ref, group: m.group } : { groupRef: m.ref, groupError: m.error };
  return {};
}

/** One inventory record as the reaper's rules take it. */
export function reaperInput(r: StackRecord): ReaperStackInput {
  return {
    name: r.name,
    updateInProgress: r.listing.updateInProgress,
    ...(r.listing.lastUpdate !== undefined ? { lastUpdate: r.listing.lastUpdate } : {}),
    outputs: r.outputs ?? {},
    deployedConfig: r.deployedConfig,
    ...(r.error !== undefined ? { readError: r.error } : {}),
    ...machineInput(r),
  };
}

/** Read every listed stack through the inventory, throwing ReaperError when they cannot be listed. */
export async function gatherRecords(
  workspace: StackWorkspace,
  ec2: Ec2Lookup,
  groups: GroupLookup = NO_GROUPS,
  concurrency = 1,
): Promise<StackRecord[]> {
  try {
    return await readInventory({ workspace, ec2, autoScaling: groups, concurrency });
  } catch (e) {
    if (e instanceof InventoryError) throw new ReaperError(e.message);
    throw e;
  }
}

/** Every listed stack as the reaper's input, sorted by name; a failure on one stack is recorded on it. */
export async function gatherStacks(
  workspace: StackWorkspace,
  ec2: Ec2Lookup,
  groups: GroupLookup = NO_GROUPS,
  concurrency = 1,
): Promise<ReaperStackInput[]> {
  return (await gatherRecords(workspace, ec2, groups, concurrency)).map(reaperInput);
}

/** A fresh look at one stack just before acting on it; undefined when the backend no longer lists it. */
export async function recheckStack(
  workspace: StackWorkspace,
  ec2: Ec2Lookup,
  name: string,
  groups: GroupLookup = NO_GROUPS,
): Promise<ReaperStackInput | undefined> {
  let listing: StackListing | undefined;
  try {
    listing = (await workspace.listStacks()).find((s) => s.name === name);
  } catch (e) {
    throw new ReaperError(`cannot list this project's stacks: ${pulumiFailure(e)}`);
  }
  if (listing === undefined) return undefined;
  return reaperInput(await readStack({ workspace, ec2, autoScaling: groups, concurrency: 1 }, listing));
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
