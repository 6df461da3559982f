/**
 * The monthly cost guard: `maxMonthlyCost` refuses a plan whose price per hour x 730 h (x replicas, for a
 * target that runs several copies of the machine) is above it, naming both figures and what to change.
 * Pure: the plan calls it once it has chosen, before anything is declared.
 */
import { UserError, type UserErrorParts } from "../errors/userError";
import type { Objective } from "./request";

/** Hours in an average month, for monthly cost. */
export const HOURS_PER_MONTH = 730;

/** Dollars a month at catalog price: price per hour x 730 h x replicas, to the cent. */
export function monthlyCost(perHour: number, replicas = 1): number {
  return Math.round(perHour * HOURS_PER_MONTH * replicas * 100) / 100;
}

/** What the guard weighs: the choice, how many copies run at most, and the cheapest fit for the hint. */
export interface MonthlyCostCheck {
  /** maxMonthlyCost, USD. */
  readonly limit: number;
  /** The chosen instance type and its price per hour. */
  readonly instanceType: string;
  readonly perHour: number;
  /** Copies of the machine at most (fleet.maxReplicas on a fleet), 1 otherwise. */
  readonly replicas: number;
  readonly objective: Objective;
  /** The cheapest machine that fits the request, whatever the objective; null when the choice is it. */
  readonly cheapest: { readonly type: string; readonly perHour: number } | null;
}

/** A plan over maxMonthlyCost: a UserError that keeps both figures, so a caller can drop such a candidate. */
export class MonthlyCostError extends UserError {
  /** The plan's monthly cost at 730 h (x replicas), USD to the cent. */
  readonly monthly: number;
  /** The maxMonthlyCost it exceeds, USD. */
  readonly limit: number;

  constructor(parts: UserErrorParts, monthly: number, limit: number) {
    super(parts);
    this.name = "MonthlyCostError";
    this.monthly = monthly;
    this.limit = limit;
  }

  /** The same error under another key label, its figures kept. */
  override relabel(label: (key: string) => string): MonthlyCostError {
    const parts = { key: label(this.key), value: this.value, problem: this.problem, hint: this.hint };
    return new MonthlyCostError({ ...parts, choices: this.choices }, this.monthly, this.limit);
  }
}

const usd = (x: number): string => `$${x.toFixed(2)}`;

/** The ways to a cheaper month other than a higher limit, in the order a user would try them. */
function cheaperWays(c: MonthlyCostCheck): string[] {
  const ways: string[] = [];
  if (c.replicas > 1) ways.push(`fewer replicas (fleet.maxReplicas, now ${c.replicas})`);
  if (c.objective !== "cost" && c.cheapest !== null && c.cheapest.perHour < c.perHour)
    ways.push(
      `the cost objective (the cheapest fit, ${c.cheapest.type} at $${c.cheapest.perHour.toFixed(3)}/h, ` +
        `comes to ${usd(monthlyCost(c.cheapest.perHour, c.replicas))} a month)`,
    );
  ways.push("a smaller model", "a lighter quantization");
  return ways;
}

/** Throw a {@link MonthlyCostError} when the plan's monthly cost is over the limit; return the cost otherwise. */
export function checkMonthlyCost(c: MonthlyCostCheck): number {
  const monthly = monthlyCost(c.perHour, c.replicas);
  if (c.perHour * HOURS_PER_MONTH * c.replicas <= c.limit) return monthly;
  const copies = c.replicas > 1 ? ` x ${c.replicas} replicas` : "";
  const ways = cheaperWays(c);
  const last = ways.pop() as string;
  const either = `${ways.join(", ")}, or ${last}`;
  throw new MonthlyCostError(
    {
      key: "maxMonthlyCost",
      value: c.limit,
      problem:
        `the plan costs about ${usd(monthly)} a month (${c.instanceType} at $${c.perHour.toFixed(3)}/h x ` +
        `${HOURS_PER_MONTH} h${copies}), over the ${usd(c.limit)} limit.`,
      hint: `Raise maxMonthlyCost to at least ${usd(monthly)}, or bring the cost down: ${either}.`,
    },
    monthly,
    c.limit,
  );
}
