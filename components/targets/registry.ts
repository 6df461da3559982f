/**
 * The target registry, like the engine registry. Adding a target: write one module that exports a
 * `Target` (./target.ts) for its config (its `plan` and `declare`), and add one line to {@link TARGETS}.
 */
import type { StackConfig, TargetName } from "../config/schema";
import type { Plan } from "../sizing/plan";
import { awsTarget } from "./aws";
import { dockerTarget } from "./docker";
import type { StackContext } from "./stackContext";
import type { ConfigOf, DeclaredOutputs, Target } from "./target";
import { workstationTarget } from "./workstation";

export type { ConfigOf, DeclaredOutputs, Target } from "./target";

/** Each target name's module, typed so that `TARGETS[name]` takes that target's config. */
type TargetMap = { readonly [N in TargetName]: Target<ConfigOf<N>> };

/** Every target, by name. */
export const TARGETS: TargetMap = {
  aws: awsTarget,
  docker: dockerTarget,
  workstation: workstationTarget,
};

/** A target bound to one config. */
export interface BoundTarget {
  /** The plan on the config's target; `warn` hears of any step-down. */
  plan(warn?: (message: string) => void): Plan;
  /** Declare the target's resources for the plan. */
  declare(plan: Plan, ctx: StackContext): Promise<DeclaredOutputs>;
}

/** The registered module for a config's target, bound to that config. */
export function targetFor(config: StackConfig): BoundTarget {
  return bind(config.target, config);
}

/** Name and config correlated through {@link TargetMap}, so no cast is needed. */
function bind<N extends TargetName>(name: N, config: ConfigOf<N>): BoundTarget {
  const target: Target<ConfigOf<N>> = TARGETS[name];
  return {
    plan: (warn) => target.plan(config, warn),
    declare: (plan, ctx) => target.declare(config, plan, ctx),
  };
}
