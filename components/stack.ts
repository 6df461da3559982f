/**
 * The program behind `pulumi up`: validated stack config in, one target component out, with the
 * stack outputs every target shares. index.ts reads config and calls {@link deployStack}; tests
 * call it under Pulumi mocks.
 */
import * as pulumi from "@pulumi/pulumi";
import { ANYWHERE, MY_IP, planRequestFrom, type StackConfig } from "./core/config";
import { isUserError, UserError } from "./core/errors";
import { buildPlan, type Plan } from "./core/plan";
import { GpuServer } from "./aws/gpuServer";

/** What the program needs from outside: the stack's identity and the deployer's public IP. */
export interface StackContext {
  readonly project: string;
  readonly stack: string;
  /** Owner tag when the config sets none (the entry point passes the OS user). */
  readonly defaultOwner: string;
  /** The deployer's public IPv4, for "myip" in CIDR lists. */
  readonly myIp: () => Promise<string>;
  /** Whether the HF token was set with --secret (plain-text tokens are refused). */
  readonly hfTokenIsSecret: boolean;
}

/** The outputs every target exports. */
export interface StackOutputs {
  readonly endpoint: pulumi.Output<string>;
  readonly modelName: pulumi.Output<string>;
  readonly apiKey: pulumi.Output<string>;
  readonly instanceId: pulumi.Output<string>;
  readonly publicIp: pulumi.Output<string>;
  readonly instanceType: pulumi.Output<string>;
  readonly pricePerHour: pulumi.Output<number>;
  readonly amiId: pulumi.Output<string>;
  readonly ssmConnectCommand: pulumi.Output<string>;
  readonly ssmPortForwardCommand: pulumi.Output<string>;
  readonly curlExample: pulumi.Output<string>;
  readonly statusUrl: pulumi.Output<string>;
  /** The plan, as `npm run plan --json` prints it. */
  readonly plan: Plan;
}

/** Plan for the config; a pinned instance type that cannot hold the model fails naming that type. */
export function planForStack(config: StackConfig): Plan {
  const pinned = config.aws?.instanceType;
  try {
    return buildPlan(planRequestFrom(config));
  } catch (e) {
    if (pinned === undefined || !isUserError(e) || !e.problem.startsWith("no instance")) throw e;
    const unpinned = (() => {
      try {
        return buildPlan(planRequestFrom({ ...config, aws: config.aws === undefined ? undefined : { ...config.aws, instanceType: undefined } })).instance.type;
      } catch {
        return undefined;
      }
    })();
    throw new UserError({
      key: "aws.instanceType",
      value: pinned,
      problem: `cannot hold ${config.model} (${e.hint.replace(/^The largest option, [^:]+: /, "").replace(/\. To fit.*$/, "")}).`,
      hint: unpinned === undefined ? "Remove the pin or lower quantization, context or concurrency." : `Remove the pin to let the plan choose (it picks ${unpinned}), or lower quantization, context or concurrency.`,
    });
  }
}

async function resolveCidrs(list: readonly string[], ctx: StackContext): Promise<string[]> {
  const out: string[] = [];
  for (const cidr of list) out.push(cidr === MY_IP ? `${await ctx.myIp()}/32` : cidr);
  return [...new Set(out)];
}

/** Tags on everything, so a person or a script can find every machine and its owner. */
export function stackTags(config: StackConfig, ctx: StackContext, plan: Plan): Record<string, string> {
  return {
    ...config.tags,
    "qwen3-serve:project": ctx.project,
    "qwen3-serve:stack": ctx.stack,
    "qwen3-serve:model": plan.model.id,
    "qwen3-serve:engine": plan.engine,
    "qwen3-serve:owner": config.owner ?? ctx.defaultOwner,
    "qwen3-serve:idle-minutes": String(config.idleMinutes),
    ...(config.ttlHours !== undefined ? { "qwen3-serve:ttl-hours": String(config.ttlHours) } : {}),
    ...(config.expiresAt !== undefined ? { "qwen3-serve:expires-at": config.expiresAt } : {}),
  };
}

/** Declare the stack's resources for a validated config. Throws UserError before declaring anything on bad input. */
export async function deployStack(config: StackConfig, ctx: StackContext): Promise<StackOutputs> {
  if (config.hfToken !== undefined && !ctx.hfTokenIsSecret) {
    throw new UserError({
      key: "hfToken",
      value: "(plain text)",
      problem: "the Hugging Face token is stored in plain text in the stack file.",
      hint: "Set it with `pulumi config set --secret qwen3-serve:hfToken <token>`.",
    });
  }
  const plan = planForStack(config);
  if (config.target !== "aws") {
    throw new UserError({ key: "target", value: config.target, problem: "this target is not built yet.", hint: "Use target: aws.", choices: ["aws"] });
  }
  const aws = config.aws;
  if (aws === undefined) throw new Error("parseStackConfig guarantees aws settings for the aws target");
  const allowedCidrs = await resolveCidrs(aws.allowedCidrs ?? [], ctx);
  const sshCidrs = aws.ssh === undefined ? undefined : await resolveCidrs(aws.ssh.allowedCidrs, ctx);
  if (!aws.allowPublicIngress && [...allowedCidrs, ...(sshCidrs ?? [])].includes(ANYWHERE)) {
    throw new Error("config validation let 0.0.0.0/0 through without allowPublicIngress");
  }

  const server = new GpuServer(ctx.stack, {
    plan,
    amiFamily: aws.ami,
    ...(aws.amiId !== undefined ? { amiId: aws.amiId } : {}),
    ...(aws.subnetId !== undefined ? { subnetId: aws.subnetId } : {}),
    allowedCidrs,
    private: aws.private,
    ...(aws.ssh !== undefined && sshCidrs !== undefined ? { ssh: { keyName: aws.ssh.keyName, allowedCidrs: sshCidrs } } : {}),
    proxyPort: aws.proxyPort,
    ...(aws.tls !== undefined ? { tls: aws.tls } : {}),
    rootVolume: aws.rootVolume,
    shutdownBehavior: config.idleAction,
    ...(aws.engineImageDigest !== undefined ? { engineImageDigest: aws.engineImageDigest } : {}),
    ...(config.hfToken !== undefined ? { hfToken: pulumi.secret(config.hfToken) } : {}),
    waitForReady: aws.waitForReady,
    parameterPrefix: `/${ctx.project}/${ctx.stack}`,
    tags: stackTags(config, ctx, plan),
  });
  return {
    endpoint: server.endpoint,
    modelName: server.modelName,
    apiKey: server.apiKey,
    instanceId: server.instanceId,
    publicIp: server.publicIp,
    instanceType: server.instanceType,
    pricePerHour: server.pricePerHour,
    amiId: server.amiId,
    ssmConnectCommand: server.ssmConnectCommand,
    ssmPortForwardCommand: server.ssmPortForwardCommand,
    curlExample: server.curlExample,
    statusUrl: server.statusUrl,
    plan,
  };
}
