/**
 * The quota preflight for `npm run plan --check-quota`, through the AWS SDK: GetServiceQuota from
 * Service Quotas and DescribeInstances from EC2, credentials and region from the SDK's default chain.
 * The SDKs load on first use (a dynamic import), as the reaper's do; decisions live in ./rules.ts.
 */
import type * as Ec2Sdk from "@aws-sdk/client-ec2";
import type * as QuotasSdk from "@aws-sdk/client-service-quotas";
import { GPU_INSTANCES } from "../catalog/gpus";
import type { QuotaCheckResult, QuotaNeed } from "./rules";

/** EC2 states that hold quota. */
const HOLDING_STATES = ["pending", "running"];

/** Read the quota and the vCPUs in use with the SDK; never throws for a missing credential or a denied read. */
export async function readQuotaWithSdk(need: QuotaNeed, region?: string): Promise<QuotaCheckResult> {
  const [{ ServiceQuotasClient, GetServiceQuotaCommand }, ec2] = await Promise.all([
    import("@aws-sdk/client-service-quotas"),
    import("@aws-sdk/client-ec2"),
  ]);
  const quotas: QuotasSdk.ServiceQuotasClient = new ServiceQuotasClient(region === undefined ? {} : { region });
  try {
    await quotas.config.credentials();
  } catch {
    return { kind: "no-credentials" };
  }
  try {
    const at = region ?? (await quotas.config.region());
    const out = await quotas.send(new GetServiceQuotaCommand({ ServiceCode: "ec2", QuotaCode: need.quota.code }));
    const applied = out.Quota?.Value;
    if (applied === undefined)
      return { kind: "unreadable", reason: `Service Quotas returned no value for ${need.quota.code}` };
    const inUse = await vcpusInUse(need, new ec2.EC2Client({ region: at }), ec2);
    return { kind: "read", region: at, reading: { applied, inUse } };
  } catch (e) {
    return { kind: "unreadable", reason: e instanceof Error ? (e.message.split("\n")[0] ?? e.name) : String(e) };
  }
}

/** vCPUs of every pending or running instance in the quota's families and market, in the client's region. */
async function vcpusInUse(need: QuotaNeed, client: Ec2Sdk.EC2Client, sdk: typeof Ec2Sdk): Promise<number> {
  const filters = [
    { Name: "instance-type", Values: [...need.quota.typePatterns] },
    { Name: "instance-state-name", Values: HOLDING_STATES },
  ];
  let total = 0;
  let token: string | undefined;
  do {
    const page = await client.send(new sdk.DescribeInstancesCommand({ Filters: filters, NextToken: token }));
    for (const i of (page.Reservations ?? []).flatMap((r) => r.Instances ?? [])) {
      const spot = i.InstanceLifecycle === "spot";
      if (spot !== (need.market === "spot") || i.InstanceType === undefined) continue;
      total += await vcpusOf(i.InstanceType, client, sdk);
    }
    token = page.NextToken;
  } while (token !== undefined);
  return total;
}

/** A type's vCPUs: the catalog's, else EC2's default for the type. */
async function vcpusOf(type: string, client: Ec2Sdk.EC2Client, sdk: typeof Ec2Sdk): Promise<number> {
  const known = GPU_INSTANCES.find((i) => i.type === type);
  if (known !== undefined) return known.vcpus;
  const out = await client.send(
    new sdk.DescribeInstanceTypesCommand({ InstanceTypes: [type as Ec2Sdk._InstanceType] }),
  );
  return out.InstanceTypes?.[0]?.VCpuInfo?.DefaultVCpus ?? 0;
}
