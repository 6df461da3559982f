/**
 * The quota preflight inside `pulumi up`: reads the applied quota (Service Quotas GetServiceQuota) and
 * the vCPUs of the running instances in the quota's families through plain @pulumi/aws invokes, awaited
 * before the AWS target declares anything, then decides with ./rules.ts. The reads carry the stack's
 * region as the invoke's own `region` argument (@pulumi/aws 7 data sources take one), so they ask the
 * region the instance will launch in without creating a provider ahead of the component.
 */
import * as aws from "@pulumi/aws";
import { GPU_INSTANCES } from "../catalog/gpus";
import { quotaNeed, quotaShortfall, type QuotaNeed, type QuotaReading, SKIP_QUOTA_KEY } from "./rules";

/** What the check needs from the stack. */
export interface QuotaCheckInput {
  readonly instance: { readonly type: string; readonly vcpus: number; readonly market: "on-demand" | "spot" };
  /** aws.region when set; otherwise the default provider's region answers. */
  readonly region?: string;
  /** This stack's tags: a running instance carrying the same project and stack tags is ours, not another's. */
  readonly project: string;
  readonly stack: string;
  readonly warn?: (message: string) => void;
}

/** EC2 states that hold quota: launching and running (stopped instances hold none). */
const HOLDING_STATES = ["pending", "running"];

const regionArg = (region: string | undefined): { region?: string } => (region === undefined ? {} : { region });

/**
 * Check the planned instance against its vCPU quota; throws the shortfall's UserError. A read AWS
 * denies (or any failed read) warns and lets the deployment go on: the launch itself is the final word.
 */
export async function checkQuota(input: QuotaCheckInput): Promise<void> {
  const need = quotaNeed(input.instance);
  if (need === null) return;
  let reading: QuotaReading & { region: string };
  try {
    reading = await readQuota(need, input);
  } catch (e) {
    input.warn?.(
      `quota check skipped: could not read ${need.quota.code} (${need.quota.name}) or the running instances: ` +
        `${e instanceof Error ? e.message.split("\n")[0] : String(e)}. Set ${SKIP_QUOTA_KEY}: true to silence this.`,
    );
    return;
  }
  const refusal = quotaShortfall(need, reading, reading.region);
  if (refusal !== null) throw refusal;
}

/** The applied quota, its region and the vCPUs held by other running instances of its families and market. */
async function readQuota(need: QuotaNeed, input: QuotaCheckInput): Promise<QuotaReading & { region: string }> {
  const quota = await aws.servicequotas.getServiceQuota({
    serviceCode: "ec2",
    quotaCode: need.quota.code,
    ...regionArg(input.region),
  });
  const ids = await holdingInstanceIds(need, input.region);
  let inUse = 0;
  for (const id of ids) inUse += await vcpusOfOther(id, input);
  return { applied: quota.value, inUse, region: quota.region };
}

/** Ids of the pending and running instances the quota counts: its families, in its market (spot or not). */
async function holdingInstanceIds(need: QuotaNeed, region: string | undefined): Promise<string[]> {
  const byType = { name: "instance-type", values: [...need.quota.typePatterns] };
  const list = (spotOnly: boolean): Promise<aws.ec2.GetInstancesResult> =>
    aws.ec2.getInstances({
      filters: spotOnly ? [byType, { name: "instance-lifecycle", values: ["spot"] }] : [byType],
      instanceStateNames: HOLDING_STATES,
      ...regionArg(region),
    });
  const spot = new Set((await list(true)).ids);
  if (need.market === "spot") return [...spot];
  return (await list(false)).ids.filter((id) => !spot.has(id));
}

/**
 * The vCPUs an instance holds, or 0 for this stack's own instance: `pulumi up` on a running stack
 * keeps it, so its vCPUs are not needed twice. (A replacement briefly runs old and new; the launch
 * itself then reports the quota.) Types outside the catalog ask EC2 for their default vCPUs.
 */
async function vcpusOfOther(instanceId: string, input: QuotaCheckInput): Promise<number> {
  const instance = await aws.ec2.getInstance({ instanceId, ...regionArg(input.region) });
  const tags = instance.tags ?? {};
  if (tags["qwen3-serve:project"] === input.project && tags["qwen3-serve:stack"] === input.stack) return 0;
  const known = GPU_INSTANCES.find((i) => i.type === instance.instanceType);
  if (known !== undefined) return known.vcpus;
  const type = await aws.ec2.getInstanceType({ instanceType: instance.instanceType, ...regionArg(input.region) });
  return type.defaultVcpus;
}
