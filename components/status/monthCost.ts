/**
 * Cost so far this month for one stack, from what the inventory read: a single machine's state
 * transitions (CloudTrail), a fleet's replica launches and terminations (Auto Scaling activities),
 * nothing for a machine the user owns. One reader serves `npm run status` and the reaper's table.
 */
import type { StackRecord } from "../stacks/inventory";
import { regionOf, regionFromOutputs } from "../stacks/inventoryRules";
import { type CostEstimate, fleetCost, machineCost, monthOf } from "./cost";
import {
  cloudTrailHistory,
  type FleetHistoryReader,
  type MachineHistoryReader,
  scalingActivityHistory,
} from "./history";

/** A month's cost, or why it cannot be worked out. */
export type MonthCostResult = CostEstimate | { readonly unavailable: string };

/** The parts of a stack the month's cost needs: its outputs, last config and live machine. */
export type CostSubject = Pick<StackRecord, "outputs" | "deployedConfig" | "machine" | "target">;

/** Where the histories come from; the real AWS readers unless a test passes fakes. */
export interface MonthCostReaders {
  readonly machine: MachineHistoryReader;
  readonly fleet: FleetHistoryReader;
}

const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);

/** The plan's market, from the stack's plan output; on-demand when it does not say. */
function marketOf(outputs: Readonly<Record<string, unknown>>): "on-demand" | "spot" {
  const plan = outputs.plan as { instance?: { market?: unknown } } | undefined;
  return plan?.instance?.market === "spot" ? "spot" : "on-demand";
}

/** The first candidate's price per replica-hour, as the fleet exports it ({type: price} in priority order). */
function replicaPrice(outputs: Readonly<Record<string, unknown>>): number | undefined {
  const prices = outputs.pricePerReplicaHour;
  if (prices === null || typeof prices !== "object") return num(outputs.pricePerHour);
  return num(Object.values(prices as Record<string, unknown>)[0]);
}

/** A reader of this month's cost for each stack; the histories are read only for AWS machines and fleets. */
export function monthCostReader(
  readers: MonthCostReaders = { machine: cloudTrailHistory(), fleet: scalingActivityHistory() },
): (stack: CostSubject, now: number) => Promise<MonthCostResult> {
  return async (stack, now) => {
    const outputs = stack.outputs ?? {};
    const m = stack.machine;
    if (m.kind === "none") return { unavailable: `no cloud machine (${m.reason})` };
    const region = m.ref.region ?? regionFromOutputs(outputs) ?? regionOf(stack.deployedConfig);
    if (region === undefined) return { unavailable: "no AWS region in the stack's outputs or config" };
    const market = marketOf(outputs);
    if (m.kind === "group") {
      const price = replicaPrice(outputs);
      if (price === undefined) return { unavailable: "the stack exports no price per replica-hour" };
      const history = await readers.fleet.activities(m.ref.name, region);
      return fleetCost({ now, pricePerReplicaHour: price, market, history });
    }
    const price = num(outputs.pricePerHour);
    if (price === undefined) return { unavailable: "the stack exports no price per hour" };
    if (m.instance === null) return { unavailable: m.error ?? "EC2 does not know the instance in its region" };
    const { state, launchedAt, stoppedAt } = m.instance;
    const current = {
      state,
      ...(launchedAt !== undefined ? { launchedAt } : {}),
      ...(stoppedAt !== undefined ? { stoppedAt } : {}),
    };
    const history = await readers.machine.transitions(
      m.ref.instanceId,
      region,
      monthOf(now).start,
      now,
      market === "spot",
    );
    return machineCost({ now, pricePerHour: price, market, current, history });
  };
}
