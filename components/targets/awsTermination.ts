/**
 * The destroy-time wait of the AWS target (scripts/wait-terminated.ts, run as the delete of the
 * `<name>-terminated` command step): polls EC2 until no instance carrying the component's identity
 * tags is left in any state but terminated, so the security group, instance profile and launch
 * templates are deleted only after the machine is gone.
 *
 * Why: the provider's Fleet delete (DeleteFleets with TerminateInstances) returns without waiting for
 * an instant fleet's instance ("Limiting waiter to non-instant fleet types. `instant` fleet state is
 * eventually consistent and can take 48 hours to update", resourceFleetDelete in
 * https://github.com/hashicorp/terraform-provider-aws/blob/main/internal/service/ec2/ec2_fleet.go, read
 * 2026-11-30), and DeleteFleets itself only starts the termination
 * (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DeleteFleets.html). A security group
 * still attached to a shutting-down instance's network interface cannot be deleted (DependencyViolation).
 *
 * The AWS SDK loads on first use (a dynamic import), so the Pulumi program that imports the names
 * below never loads it.
 */
import type * as Ec2Sdk from "@aws-sdk/client-ec2";

/** The environment the command step sets: the region and the identity tag values (see {@link terminationEnv}). */
export const TERMINATION_ENV = {
  region: "AWS_REGION",
  project: "QS_TAG_PROJECT",
  stack: "QS_TAG_STACK",
  component: "QS_TAG_COMPONENT",
  pollSeconds: "QS_POLL_SECONDS",
  timeoutSeconds: "QS_TIMEOUT_SECONDS",
} as const;

/** The identity tag key each environment variable carries (GpuServer's identityTags in ./aws.ts). */
const TAG_KEYS = {
  project: "qwen3-serve:project",
  stack: "qwen3-serve:stack",
  component: "qwen3-serve:component",
} as const;

/**
 * Every state but terminated. DescribeInstances keeps listing a terminated instance for a while ("about an
 * hour"), so the wait filters on instance-state-name rather than on an empty answer
 * (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeInstances.html, read 2026-11-30).
 */
export const NOT_TERMINATED_STATES = ["pending", "running", "stopping", "stopped", "shutting-down"] as const;

/** The command step's environment for these identity tags (tag key to value) in a region. */
export function terminationEnv<R>(region: R, identity: Readonly<Record<string, string>>): Record<string, R | string> {
  const env: Record<string, R | string> = { [TERMINATION_ENV.region]: region };
  for (const [name, key] of Object.entries(TAG_KEYS)) {
    const value = identity[key];
    if (value !== undefined) env[TERMINATION_ENV[name as keyof typeof TAG_KEYS]] = value;
  }
  return env;
}

/** What one wait looks for, and how long. */
export interface TerminationSettings {
  readonly region: string;
  /** Identity tag key to value; the component tag is always there. */
  readonly tags: Readonly<Record<string, string>>;
  readonly pollMs: number;
  readonly timeoutMs: number;
}

/** The settings from the environment, or the reason they are unusable. */
export function settingsFromEnv(env: NodeJS.ProcessEnv): TerminationSettings | string {
  const region = env[TERMINATION_ENV.region] ?? "";
  if (region === "") return `${TERMINATION_ENV.region} is not set`;
  const tags: Record<string, string> = {};
  for (const [name, key] of Object.entries(TAG_KEYS)) {
    const value = env[TERMINATION_ENV[name as keyof typeof TAG_KEYS]] ?? "";
    if (value !== "") tags[key] = value;
  }
  // Without the component tag the filter could match every machine of the stack or account.
  if (tags[TAG_KEYS.component] === undefined) return `${TERMINATION_ENV.component} is not set`;
  const seconds = (name: string, fallback: number): number | string => {
    const text = env[name] ?? "";
    const n = text === "" ? fallback : Number(text);
    return Number.isFinite(n) && n > 0 ? n : `${name} must be a positive number of seconds, not "${text}"`;
  };
  const poll = seconds(TERMINATION_ENV.pollSeconds, 5);
  const timeout = seconds(TERMINATION_ENV.timeoutSeconds, 15 * 60);
  if (typeof poll === "string") return poll;
  if (typeof timeout === "string") return timeout;
  return { region, tags, pollMs: poll * 1000, timeoutMs: timeout * 1000 };
}

/** A DescribeInstances filter, as the EC2 API names it. */
export interface Ec2Filter {
  readonly Name: string;
  readonly Values: string[];
}

/** The filters of one poll: each identity tag, and every state but terminated. */
export function terminationFilters(tags: Readonly<Record<string, string>>): Ec2Filter[] {
  return [
    ...Object.entries(tags).map(([key, value]) => ({ Name: `tag:${key}`, Values: [value] })),
    { Name: "instance-state-name", Values: [...NOT_TERMINATED_STATES] },
  ];
}

/** The one EC2 call the wait makes: the ids of the instances matching the filters (every page). */
export type ListInstances = (region: string, filters: Ec2Filter[]) => Promise<string[]>;

/** How a wait ended: nothing left, or the ids still there at the deadline. */
export type TerminationResult = { readonly done: true } | { readonly done: false; readonly ids: string[] };

/** Poll until no matching instance is left or the timeout passes; an AWS error rejects. */
export async function waitTerminated(
  s: TerminationSettings,
  list: ListInstances,
  log: (line: string) => void = () => {},
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
): Promise<TerminationResult> {
  const deadline = Date.now() + s.timeoutMs;
  const filters = terminationFilters(s.tags);
  for (;;) {
    const ids = await list(s.region, filters);
    if (ids.length === 0) return { done: true };
    if (Date.now() >= deadline) return { done: false, ids };
    log(`waiting for ${ids.join(", ")} to terminate`);
    await sleep(Math.min(s.pollMs, Math.max(0, deadline - Date.now())));
  }
}

/** The one line a timed-out wait prints: the ids and the command to look at them. */
export function timeoutLine(s: TerminationSettings, ids: readonly string[]): string {
  return (
    `after ${s.timeoutMs / 1000} s, ${ids.join(", ")} (tagged qwen3-serve:component=${s.tags[TAG_KEYS.component]}) ` +
    `not terminated yet; look with: aws ec2 describe-instances --region ${s.region} --instance-ids ${ids.join(" ")}`
  );
}

/** DescribeInstances through `@aws-sdk/client-ec2`, credentials from the SDK's default chain. */
export function sdkListInstances(): ListInstances {
  let sdk: Promise<typeof Ec2Sdk> | undefined;
  return async (region, filters) => {
    sdk ??= import("@aws-sdk/client-ec2");
    const { EC2Client, DescribeInstancesCommand } = await sdk;
    const client = new EC2Client({ region });
    const ids: string[] = [];
    let token: string | undefined;
    do {
      const out = await client.send(
        new DescribeInstancesCommand({ Filters: filters, ...(token !== undefined ? { NextToken: token } : {}) }),
      );
      for (const r of out.Reservations ?? [])
        for (const i of r.Instances ?? []) if (i.InstanceId !== undefined) ids.push(i.InstanceId);
      token = out.NextToken === "" ? undefined : out.NextToken;
    } while (token !== undefined);
    return ids;
  };
}
