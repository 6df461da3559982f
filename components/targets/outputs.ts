/**
 * The outputs every target exposes, so a stack's outputs read the same whether the model runs on
 * AWS, a workstation or a Docker host.
 */
import * as pulumi from "@pulumi/pulumi";
import type { Plan } from "../sizing/plan";

/** Stack outputs shared by all targets. */
export interface TargetOutputs {
  /** OpenAI base URL, ending in /v1. */
  readonly endpoint: pulumi.Output<string>;
  /** The `model` value clients send. */
  readonly modelName: pulumi.Output<string>;
  /** The API key (secret). */
  readonly apiKey: pulumi.Output<string>;
  /** Instance id, or a description of the machine for targets we do not create. */
  readonly instanceId: pulumi.Output<string>;
  /** Address clients reach, empty for a private endpoint. */
  readonly publicIp: pulumi.Output<string>;
  /** Instance type, or the GPUs of a given machine. */
  readonly instanceType: pulumi.Output<string>;
  /** Planned price per hour; 0 for machines you own. */
  readonly pricePerHour: pulumi.Output<number>;
  /** The image the machine runs, for rebuilding it exactly ("n/a" where we do not choose it). */
  readonly amiId: pulumi.Output<string>;
  /** A shell on the machine (SSM session or SSH). */
  readonly connectCommand: pulumi.Output<string>;
  /** Forward the endpoint port to localhost (SSM or SSH). */
  readonly portForwardCommand: pulumi.Output<string>;
  /** A request to paste into a terminal; reads the key from the stack, never embeds it. */
  readonly curlExample: pulumi.Output<string>;
  /** Bootstrap status document (same key), or "n/a" where there is no bootstrap. */
  readonly statusUrl: pulumi.Output<string>;
}

/**
 * The base of the target components: the shared outputs, declared once, and how a component sets
 * and registers them. What an output holds on each target is said in that component's doc comment.
 */
export abstract class TargetServer extends pulumi.ComponentResource implements TargetOutputs {
  /** OpenAI base URL, ending in /v1. */
  declare readonly endpoint: pulumi.Output<string>;
  /** The `model` value clients send. */
  declare readonly modelName: pulumi.Output<string>;
  /** The API key (secret). */
  declare readonly apiKey: pulumi.Output<string>;
  /** Instance id, or a description of the machine for targets we do not create. */
  declare readonly instanceId: pulumi.Output<string>;
  /** Address clients reach, empty for a private endpoint. */
  declare readonly publicIp: pulumi.Output<string>;
  /** Instance type, or the GPUs of a given machine. */
  declare readonly instanceType: pulumi.Output<string>;
  /** Planned price per hour; 0 for machines you own. */
  declare readonly pricePerHour: pulumi.Output<number>;
  /** The image the machine runs, for rebuilding it exactly ("n/a" where we do not choose it). */
  declare readonly amiId: pulumi.Output<string>;
  /** A shell on the machine (SSM session or SSH). */
  declare readonly connectCommand: pulumi.Output<string>;
  /** Forward the endpoint port to localhost (SSM or SSH). */
  declare readonly portForwardCommand: pulumi.Output<string>;
  /** A request to paste into a terminal; reads the key from the stack, never embeds it. */
  declare readonly curlExample: pulumi.Output<string>;
  /** Bootstrap status document (same key), or "n/a" where there is no bootstrap. */
  declare readonly statusUrl: pulumi.Output<string>;

  /** Set the shared outputs on the component and register them, with any outputs of its own. */
  protected finish(outputs: TargetOutputs, own: Readonly<Record<string, unknown>> = {}): void {
    Object.assign(this, outputs);
    this.registerOutputs({ ...targetOutputsOf(outputs), ...own });
  }
}

/** The keys of {@link TargetOutputs}, for copying them onto the stack outputs. */
export const TARGET_OUTPUT_KEYS = [
  "endpoint",
  "modelName",
  "apiKey",
  "instanceId",
  "publicIp",
  "instanceType",
  "pricePerHour",
  "amiId",
  "connectCommand",
  "portForwardCommand",
  "curlExample",
  "statusUrl",
] as const satisfies readonly (keyof TargetOutputs)[];

/** The curl example every target prints: the key comes from the stack at run time. */
export function curlExample(endpoint: string, model: string): string {
  return (
    `curl ${endpoint}/chat/completions -H "Authorization: Bearer $(pulumi stack output apiKey ` +
    `--show-secrets)" -H "Content-Type: application/json" -d '{"model": "${model}", "messages": ` +
    `[{"role": "user", "content": "Hello"}]}'`
  );
}

/** The shared outputs of a target, as one object: what a component registers and the stack exports. */
export function targetOutputsOf(target: TargetOutputs): TargetOutputs {
  return Object.fromEntries(TARGET_OUTPUT_KEYS.map((k) => [k, target[k]])) as unknown as TargetOutputs;
}

/** What a target knows about its endpoint and machine; {@link targetOutputs} derives the rest. */
export interface TargetOutputParts {
  /** The endpoint without /v1: http(s)://host:port. */
  readonly baseUrl: pulumi.Input<string>;
  /** Resolves once the endpoint is ready (or declared, where nothing waits); the endpoint waits for it. */
  readonly readyWhen: pulumi.Output<unknown>;
  /** The `model` value clients send. */
  readonly modelName: string;
  /** The API key; marked secret again here. */
  readonly apiKey: pulumi.Input<string>;
  /** See {@link TargetOutputs.instanceId}. */
  readonly instanceId: pulumi.Input<string>;
  /** See {@link TargetOutputs.publicIp}. */
  readonly publicIp: pulumi.Input<string>;
  /** See {@link TargetOutputs.instanceType}. */
  readonly instanceType: pulumi.Input<string>;
  /** See {@link TargetOutputs.pricePerHour}. */
  readonly pricePerHour: pulumi.Input<number>;
  /** See {@link TargetOutputs.amiId}. */
  readonly amiId: pulumi.Input<string>;
  /** See {@link TargetOutputs.connectCommand}. */
  readonly connectCommand: pulumi.Input<string>;
  /** See {@link TargetOutputs.portForwardCommand}. */
  readonly portForwardCommand: pulumi.Input<string>;
  /** See {@link TargetOutputs.statusUrl}. */
  readonly statusUrl: pulumi.Input<string>;
}

/** The twelve shared outputs of a target: the endpoint (once ready), the key as a secret, and the curl example. */
export function targetOutputs(parts: TargetOutputParts): TargetOutputs {
  const endpoint = pulumi.all([parts.baseUrl, parts.readyWhen]).apply(([base]) => `${base}/v1`);
  return {
    endpoint,
    modelName: pulumi.output(parts.modelName),
    apiKey: pulumi.secret(parts.apiKey),
    instanceId: pulumi.output(parts.instanceId),
    publicIp: pulumi.output(parts.publicIp),
    instanceType: pulumi.output(parts.instanceType),
    pricePerHour: pulumi.output(parts.pricePerHour),
    amiId: pulumi.output(parts.amiId),
    connectCommand: pulumi.output(parts.connectCommand),
    portForwardCommand: pulumi.output(parts.portForwardCommand),
    curlExample: endpoint.apply((e) => curlExample(e, parts.modelName)),
    statusUrl: pulumi.output(parts.statusUrl),
  };
}

/** The GPUs of a plan for a given machine as outputs show them, e.g. "2 x RTX-4090". */
export function planGpus(plan: Plan): string {
  return `${plan.instance.gpuCount} x ${plan.instance.gpu}`;
}
