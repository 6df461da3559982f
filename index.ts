/**
 * The Pulumi program: read the `qwen3-serve` stack config, validate it strictly, plan, and build
 * the target. Nothing is declared until the whole config is valid; mistakes print one short
 * message naming the key, never a stack trace.
 */
import * as pulumi from "@pulumi/pulumi";
import os from "node:os";
import { CONFIG_NAMESPACE, decodeConfigValues, parseStackConfig } from "./components/config/schema";
import { isUserError } from "./components/errors/userError";
import { deployStack, type StackOutputs } from "./components/program/deploy";

/** The deployer's public IPv4, for "myip" in allowedCidrs. */
async function myIp(): Promise<string> {
  const res = await fetch("https://checkip.amazonaws.com", { signal: AbortSignal.timeout(10_000) }).catch(
    (e: unknown) => {
      throw new pulumi.RunError(
        `${CONFIG_NAMESPACE}:aws.allowedCidrs uses "myip", but checkip.amazonaws.com did not answer (${String(e)}). List your CIDR instead.`,
      );
    },
  );
  const ip = (await res.text()).trim();
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(ip))
    throw new pulumi.RunError(`checkip.amazonaws.com answered "${ip}", not an IPv4 address; list your CIDR instead.`);
  return ip;
}

/** Config keys the CLI marked secret (set with --secret); the language host passes them in this variable. */
function secretKeys(): string[] {
  try {
    const keys: unknown = JSON.parse(process.env.PULUMI_CONFIG_SECRET_KEYS ?? "[]");
    return Array.isArray(keys) ? keys.map(String) : [];
  } catch {
    return [];
  }
}

async function main(): Promise<Omit<StackOutputs, "plan"> & { plan: unknown }> {
  try {
    const config = parseStackConfig(decodeConfigValues(pulumi.runtime.allConfig()));
    const outputs = await deployStack(config, {
      project: pulumi.getProject(),
      stack: pulumi.getStack(),
      defaultOwner: process.env.USER ?? os.userInfo().username,
      myIp,
      isSecret: (key) => secretKeys().includes(key),
      warn: (message) => pulumi.log.warn(message),
    });
    return outputs;
  } catch (e) {
    if (isUserError(e)) throw new pulumi.RunError(e.relabel((k) => `${CONFIG_NAMESPACE}:${k}`).message);
    throw e;
  }
}

// Pulumi awaits an exported async function and uses its result as the stack outputs.
export = main;
