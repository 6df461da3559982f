/**
 * EC2's vCPU quotas for GPU instances: which Service Quotas code limits a family's on-demand and spot
 * launches, and which instance families share each quota. A quota is counted in vCPUs per region over
 * every running instance of its families, ours or not, so the check sums them all. Pure data.
 */
import { GPU_INSTANCES } from "./gpus";
import type { Source } from "./source";

/** Where the codes, names and family groups were read. */
const QUOTA_SOURCE: Source = {
  url: [
    "https://docs.aws.amazon.com/ec2/latest/instancetypes/ec2-instance-quotas.html",
    "https://github.com/skypilot-org/skypilot-catalog/blob/master/catalogs/v5/aws/instance_quota_mapping.csv",
  ],
  asOf: "2026-11-30",
  note:
    "On-demand quotas group instance families by first letter (G and VT, P); spot quotas the same. " +
    "Codes as SkyPilot's AWS quota map has them (g4dn/g5 -> L-DB2E81BA/L-3819A6DF, p4d/p4de -> L-417A185B/L-7212CCBC).",
};

/** The market a quota limits. */
export type QuotaMarket = "on-demand" | "spot";

/** One EC2 vCPU quota. */
export interface Ec2Quota {
  /** Service Quotas code, service code "ec2". */
  readonly code: string;
  /** The quota's name as Service Quotas shows it. */
  readonly name: string;
  readonly market: QuotaMarket;
  /** The instance-family group it limits: "G and VT" or "P". */
  readonly group: QuotaGroupName;
  /** EC2 `instance-type` filter patterns matching every type the quota counts, ours or not. */
  readonly typePatterns: readonly string[];
  readonly source: Source;
}

/** The family groups that have their own GPU quotas. */
export type QuotaGroupName = "G and VT" | "P";

/** Every G*, Gr* and VT* type (g4dn, g5, g5g, g6, gr6, g6e, g7e, vt1 ...) counts against the G and VT quotas. */
const G_PATTERNS = ["g*", "vt*"] as const;
/** Every P* type (p3, p4d, p4de, p5, p5en, p6-b200 ...) counts against the P quotas. */
const P_PATTERNS = ["p*"] as const;

/** The four GPU vCPU quotas, by code. */
export const EC2_GPU_QUOTAS = {
  "L-DB2E81BA": {
    code: "L-DB2E81BA",
    name: "Running On-Demand G and VT instances",
    market: "on-demand",
    group: "G and VT",
    typePatterns: G_PATTERNS,
    source: QUOTA_SOURCE,
  },
  "L-3819A6DF": {
    code: "L-3819A6DF",
    name: "All G and VT Spot Instance Requests",
    market: "spot",
    group: "G and VT",
    typePatterns: G_PATTERNS,
    source: QUOTA_SOURCE,
  },
  "L-417A185B": {
    code: "L-417A185B",
    name: "Running On-Demand P instances",
    market: "on-demand",
    group: "P",
    typePatterns: P_PATTERNS,
    source: QUOTA_SOURCE,
  },
  "L-7212CCBC": {
    code: "L-7212CCBC",
    name: "All P Spot Instance Requests",
    market: "spot",
    group: "P",
    typePatterns: P_PATTERNS,
    source: QUOTA_SOURCE,
  },
} as const satisfies Record<string, Ec2Quota>;

/** A quota code of {@link EC2_GPU_QUOTAS}. */
export type Ec2GpuQuotaCode = keyof typeof EC2_GPU_QUOTAS;

/** Each group's on-demand and spot quota codes. */
const GROUP_CODES: Readonly<Record<QuotaGroupName, Readonly<Record<QuotaMarket, Ec2GpuQuotaCode>>>> = {
  "G and VT": { "on-demand": "L-DB2E81BA", spot: "L-3819A6DF" },
  P: { "on-demand": "L-417A185B", spot: "L-7212CCBC" },
};

/** The quota group of an instance family by its first letter(s), or null for a family with no GPU quota here. */
function groupOfFamily(family: string): QuotaGroupName | null {
  if (/^(g|vt)/.test(family)) return "G and VT";
  if (/^p/.test(family)) return "P";
  return null;
}

/** The quota that limits launching `instanceType` in `market`, or null when none of ours does. */
export function quotaForType(instanceType: string, market: QuotaMarket): Ec2Quota | null {
  const family = instanceType.split(".")[0] ?? instanceType;
  const group = groupOfFamily(family);
  return group === null ? null : EC2_GPU_QUOTAS[GROUP_CODES[group][market]];
}

/** Every catalog instance family with its on-demand and spot quota codes. */
export const FAMILY_QUOTAS: Readonly<Record<string, Readonly<Record<QuotaMarket, Ec2GpuQuotaCode>>>> =
  Object.fromEntries(
    [...new Set(GPU_INSTANCES.map((i) => i.family))].flatMap((family) => {
      const group = groupOfFamily(family);
      return group === null ? [] : [[family, GROUP_CODES[group]]];
    }),
  );
