/**
 * The outputs every target exposes, so a stack's outputs read the same whether the model runs on
 * AWS, a workstation or a Docker host.
 */
import type * as pulumi from "@pulumi/pulumi";

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
  return `curl ${endpoint}/chat/completions -H "Authorization: Bearer $(pulumi stack output apiKey --show-secrets)" -H "Content-Type: application/json" -d '{"model": "${model}", "messages": [{"role": "user", "content": "Hello"}]}'`;
}

/** The shared outputs of a target, as one object: what a component registers and the stack exports. */
export function targetOutputsOf(target: TargetOutputs): TargetOutputs {
  return Object.fromEntries(TARGET_OUTPUT_KEYS.map((k) => [k, target[k]])) as unknown as TargetOutputs;
}
