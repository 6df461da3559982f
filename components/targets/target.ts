/**
 * What a target module is: the {@link Target} interface every entry of the registry
 * (components/targets/registry.ts) implements. Types only, so target modules can name it without
 * importing the registry that imports them.
 */
import type * as pulumi from "@pulumi/pulumi";
import type { StackConfig, TargetName } from "../config/schema";
import type { Plan } from "../sizing/plan";
import type { TargetOutputs } from "./outputs";
import type { StackContext } from "./stackContext";

/** The validated config of one target. */
export type ConfigOf<N extends TargetName> = Extract<StackConfig, { readonly target: N }>;

/** The outputs a target's declaration hands back: those every target shares, plus its own. */
export type DeclaredOutputs = TargetOutputs & {
  /** AWS target only: the region of its resources (the reaper looks the instance up there). */
  readonly awsRegion?: pulumi.Output<string>;
  /** AWS target only: the zone of the instance EC2 launched. */
  readonly availabilityZone?: pulumi.Output<string>;
  /** AWS target only: the plan of the type EC2 launched (a fallback candidate's when the first had no capacity). */
  readonly plan?: pulumi.Output<Plan>;
  /** AWS fleet only: the Auto Scaling group's name. */
  readonly autoScalingGroupName?: pulumi.Output<string>;
  /** AWS fleet only: min and max replicas, and the desired count the group reports (scaling owns it). */
  readonly replicas?: pulumi.Output<{ min: number; max: number; desired: number }>;
  /** AWS fleet only: the candidate types, in priority order. */
  readonly instanceTypes?: pulumi.Output<string[]>;
  /** AWS fleet only: each candidate type's planned price per replica-hour. */
  readonly pricePerReplicaHour?: pulumi.Output<Record<string, number>>;
};

/** One place an endpoint can run, for configs `C` of that target. */
export interface Target<C extends StackConfig> {
  /** The plan on this target; throws UserError when nothing fits. `warn` hears of any step-down. */
  plan(config: C, warn?: (message: string) => void): Plan;
  /**
   * Declare the target's resources for a config and its plan. Every check that can fail on user
   * input runs (and throws UserError) before the first resource is declared.
   */
  declare(config: C, plan: Plan, ctx: StackContext): Promise<DeclaredOutputs>;
}
