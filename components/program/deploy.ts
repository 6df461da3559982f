/**
 * The program behind `pulumi up`: validated stack config in, one target component out, with the
 * stack outputs every target shares. index.ts reads config and calls {@link deployStack}; tests
 * call it under Pulumi mocks. Each target's planning and declaring lives in its module, looked up
 * in the registry (components/targets/registry.ts), so nothing here branches on the target.
 */
import type * as pulumi from "@pulumi/pulumi";
import { CONFIG_NAMESPACE, type StackConfig } from "../config/schema";
import { UserError } from "../errors/userError";
import type { Plan } from "../sizing/plan";
import { type DeclaredOutputs, targetFor } from "../targets/registry";
import type { StackContext } from "../targets/stackContext";

export type { StackContext } from "../targets/stackContext";

/** The outputs every target exports (AWS adds its region), and the plan. */
export type StackOutputs = Omit<DeclaredOutputs, "plan"> & {
  /** The plan, as `npm run plan --json` prints it; on AWS, the plan of the type EC2 launched. */
  readonly plan: Plan | pulumi.Output<Plan>;
};

/**
 * Plan for the config on its target: the cheapest fitting AWS instance, or the described GPUs of a
 * workstation or Docker host (stepping unset quantization or context down to fit, said via `warn`).
 */
export function planForStack(config: StackConfig, warn?: (message: string) => void): Plan {
  return targetFor(config).plan(warn);
}

/** Secrets set without --secret sit in plain text in the stack file: refuse them. */
function requireSecret(config: StackConfig, ctx: StackContext, key: "hfToken" | "sshPrivateKey", what: string): void {
  if (config[key] !== undefined && !ctx.isSecret(`${CONFIG_NAMESPACE}:${key}`)) {
    throw new UserError({
      key,
      value: "(plain text)",
      problem: `the ${what} is stored in plain text in the stack file.`,
      hint: `Set it with \`pulumi config set --secret ${CONFIG_NAMESPACE}:${key} ${key === "sshPrivateKey" ? "< ~/.ssh/id_ed25519" : "<value>"}\`.`,
    });
  }
}

/** Declare the stack's resources for a validated config. Throws UserError before declaring anything on bad input. */
export async function deployStack(config: StackConfig, ctx: StackContext): Promise<StackOutputs> {
  requireSecret(config, ctx, "hfToken", "Hugging Face token");
  requireSecret(config, ctx, "sshPrivateKey", "SSH private key");
  const target = targetFor(config);
  const plan = target.plan(ctx.warn);
  const declared = await target.declare(plan, ctx);
  return { ...declared, plan: declared.plan ?? plan };
}
