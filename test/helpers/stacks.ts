/**
 * Example stack files as the Pulumi CLI hands their config to the program: one string per key,
 * structured values (lists, maps, numbers, booleans) as JSON text.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { parse } from "yaml";

const STACKS = path.resolve(__dirname, "..", "..", "stacks");

/** Names of the example stacks (`stacks/Pulumi.<name>.yaml`). */
export function stackNames(): string[] {
  return readdirSync(STACKS)
    .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
    .filter((s): s is string => s !== undefined)
    .sort();
}

/** One stack file's config map. */
export function stackFileConfig(stack: string): Record<string, string> {
  const doc = parse(readFileSync(path.join(STACKS, `Pulumi.${stack}.yaml`), "utf8")) as {
    config: Record<string, unknown>;
  };
  return Object.fromEntries(
    Object.entries(doc.config).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]),
  );
}

/** The target a stack file deploys to (`aws` when it sets none, as the schema defaults). */
export function stackTarget(stack: string): string {
  return stackFileConfig(stack)["qwen3-serve:target"] ?? "aws";
}

/** Names of the example stacks that deploy to one target. */
export function stacksFor(target: string): string[] {
  return stackNames().filter((s) => stackTarget(s) === target);
}

/** Whether a stack file deploys a fleet (`qwen3-serve:fleet` set): an Auto Scaling group, not one machine. */
export function isFleetStack(stack: string): boolean {
  return stackFileConfig(stack)["qwen3-serve:fleet"] !== undefined;
}
