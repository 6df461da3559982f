/**
 * The quota preflight's decisions, with no I/O: which vCPU quota a planned instance needs, whether the
 * applied quota minus the vCPUs already running in its families leaves room, and the one message with
 * the increase command when it does not. `pulumi up` (components/targets/aws.ts) and `npm run plan
 * --check-quota` (./sdk.ts) read the numbers; both decide here.
 */
import { type Ec2Quota, type QuotaMarket, quotaForType } from "../catalog/quotas";
import { UserError } from "../errors/userError";

/** The config key that turns the check off. */
export const SKIP_QUOTA_KEY = "aws.skipQuotaCheck";

/** What the planned instance asks of a quota. */
export interface QuotaNeed {
  readonly instanceType: string;
  readonly vcpus: number;
  readonly market: QuotaMarket;
  readonly quota: Ec2Quota;
}

/** What the account has: the applied quota value and the vCPUs its running instances of the quota's families hold. */
export interface QuotaReading {
  readonly applied: number;
  readonly inUse: number;
}

/** The quota a planned instance needs, or null for a type no GPU quota of ours limits. */
export function quotaNeed(instance: { type: string; vcpus: number; market: QuotaMarket }): QuotaNeed | null {
  const quota = quotaForType(instance.type, instance.market);
  return quota === null ? null : { instanceType: instance.type, vcpus: instance.vcpus, market: instance.market, quota };
}

/** One line for the plan: which quota, how many vCPUs. */
export function quotaNeedText(need: QuotaNeed): string {
  return `${need.quota.name} (${need.quota.code}), ${need.vcpus} vCPUs for ${need.instanceType}`;
}

/**
 * The value to ask for: what is in use plus what the plan needs, in whole vCPUs (Service Quotas reports
 * doubles, and a fraction would only round the launch out again).
 */
export function desiredQuota(need: QuotaNeed, reading: QuotaReading): number {
  return Math.ceil(reading.inUse + need.vcpus);
}

/** The AWS CLI command that asks for the increase. */
export function increaseCommand(need: QuotaNeed, reading: QuotaReading, region: string): string {
  return (
    "aws service-quotas request-service-quota-increase --service-code ec2 " +
    `--quota-code ${need.quota.code} --desired-value ${desiredQuota(need, reading)} --region ${region}`
  );
}

/** True when the quota has room for the planned instance beside what already runs. */
export function quotaFits(need: QuotaNeed, reading: QuotaReading): boolean {
  return reading.applied - reading.inUse >= need.vcpus;
}

/** The refusal for a shortfall, or null when the quota has room. `key` is the setting to name (config key or flag). */
export function quotaShortfall(
  need: QuotaNeed,
  reading: QuotaReading,
  region: string,
  key = "aws.instanceType",
): UserError | null {
  if (quotaFits(need, reading)) return null;
  const q = need.quota;
  return new UserError({
    key,
    value: need.instanceType,
    problem:
      `needs ${need.vcpus} vCPUs of the ${q.market} quota "${q.name}" (${q.code}) in ${region}, ` +
      `which allows ${reading.applied} vCPUs with ${reading.inUse} in use by running ${q.group} instances.`,
    hint:
      `Ask AWS for ${desiredQuota(need, reading)} vCPUs:\n  ${increaseCommand(need, reading, region)}\n` +
      `or stop other ${q.group} instances in ${region}, or plan a smaller type; ` +
      `set ${SKIP_QUOTA_KEY}: true to skip this check.`,
  });
}

/** What `npm run plan --check-quota` found, worded by {@link quotaCheckText}. */
export type QuotaCheckResult =
  | { readonly kind: "no-credentials" }
  | { readonly kind: "unreadable"; readonly reason: string }
  | { readonly kind: "read"; readonly region: string; readonly reading: QuotaReading };

/** The plan's line for what `--check-quota` found. */
export function quotaCheckText(need: QuotaNeed, result: QuotaCheckResult): string {
  const q = `${need.quota.name} (${need.quota.code})`;
  if (result.kind === "no-credentials") return `Quota check  ${q}: not checked (no AWS credentials)`;
  if (result.kind === "unreadable") return `Quota check  ${q}: not checked (${result.reason})`;
  const { reading, region } = result;
  const counts = `${reading.applied} vCPUs applied in ${region}, ${reading.inUse} in use, ${need.vcpus} needed`;
  if (quotaFits(need, reading)) return `Quota check  ${q}: ok, ${counts}`;
  return (
    `Quota check  ${q}: SHORT, ${counts}; ask for ${desiredQuota(need, reading)}:\n` +
    `             ${increaseCommand(need, reading, region)}`
  );
}
