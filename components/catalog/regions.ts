/**
 * Which GPU instance types each AWS region offers and at what price. us-east-1 is the default and
 * reads its figures from {@link GPU_INSTANCES}, so plans that name no region are priced as before.
 * Pure data; adding a region means adding one entry to {@link REGIONS}.
 */
import { GPU_INSTANCES, type GpuInstance } from "./gpus";
import type { Source } from "./source";

/** Spot price range across a region's zones, USD per hour. */
export interface SpotRange {
  readonly min: number;
  readonly max: number;
}

/** What one instance type costs in one region. */
export interface RegionPrice {
  /** On-demand Linux price, USD per hour. */
  readonly onDemand: number;
  /** Spot range across the region's zones, or null where the source lists none. */
  readonly spot: SpotRange | null;
}

/** One AWS region: its display name, the types it offers (absent = not offered) and where the figures come from. */
export interface Region {
  readonly name: string;
  /** AWS's own name for the region, for the reader. */
  readonly displayName: string;
  /** Price per offered instance type; a type missing here is not offered in the region. */
  readonly prices: Readonly<Record<string, RegionPrice>>;
  /** Where the on-demand prices and the list of offered types come from. */
  readonly source: Source;
  /** Where the spot ranges come from, or null where none were read for this region yet. */
  readonly spotSource: Source | null;
}

/** The region every plan is priced in unless it names another. */
export const DEFAULT_REGION = "us-east-1";

// Each row of all_gpu_instances.js carries "pricing" per region and "availability" (regions offering the type);
// the rows here are those of the types in GPU_INSTANCES, copied unchanged.
const VANTAGE: Source = {
  url: [
    "https://github.com/tsaol/aws-gpu/blob/77fcd9fe1d0652fd07b830e5ed030d61da87923e/data/all_gpu_instances.js",
    "https://instances.vantage.sh/",
  ],
  asOf: "2026-01-21",
  note:
    "tsaol/aws-gpu's copy of instances.vantage.sh data (commit of 2026-01-21); on-demand prices checked against " +
    "the skypilot-catalog v8 rows for g4dn.xlarge, g4dn.12xlarge and g5.12xlarge (the same figures); no spot prices",
};

type Row = [type: string, onDemand: number];

function onDemandOnly(rows: readonly Row[]): Record<string, RegionPrice> {
  return Object.fromEntries(rows.map(([type, onDemand]) => [type, { onDemand, spot: null }]));
}

function fromGpuInstances(instances: readonly GpuInstance[]): Record<string, RegionPrice> {
  return Object.fromEntries(instances.map((i) => [i.type, { onDemand: i.onDemandUsdPerHour, spot: i.spotUsdPerHour }]));
}

const US_EAST_1_SOURCE = GPU_INSTANCES[0]?.source ?? VANTAGE;

/** Every region the planner prices, us-east-1 first. */
export const REGIONS: readonly Region[] = [
  {
    name: "us-east-1",
    displayName: "US East (N. Virginia)",
    prices: fromGpuInstances(GPU_INSTANCES),
    source: US_EAST_1_SOURCE,
    spotSource: US_EAST_1_SOURCE,
  },
  {
    name: "us-west-2",
    displayName: "US West (Oregon)",
    source: VANTAGE,
    spotSource: null,
    prices: onDemandOnly([
      ["g4dn.xlarge", 0.526],
      ["g4dn.2xlarge", 0.752],
      ["g4dn.4xlarge", 1.204],
      ["g4dn.8xlarge", 2.176],
      ["g4dn.12xlarge", 3.912],
      ["g4dn.16xlarge", 4.352],
      ["g4dn.metal", 7.824],
      ["g5.xlarge", 1.006],
      ["g5.2xlarge", 1.212],
      ["g5.4xlarge", 1.624],
      ["g5.8xlarge", 2.448],
      ["g5.12xlarge", 5.672],
      ["g5.16xlarge", 4.096],
      ["g5.24xlarge", 8.144],
      ["g5.48xlarge", 16.288],
      ["g6.xlarge", 0.8048],
      ["g6.2xlarge", 0.9776],
      ["g6.4xlarge", 1.3232],
      ["g6.8xlarge", 2.0144],
      ["g6.12xlarge", 4.6016],
      ["g6.16xlarge", 3.3968],
      ["g6.24xlarge", 6.6752],
      ["g6.48xlarge", 13.3504],
      ["gr6.4xlarge", 1.5392],
      ["gr6.8xlarge", 2.4464],
      ["g6e.xlarge", 1.861],
      ["g6e.2xlarge", 2.24208],
      ["g6e.4xlarge", 3.00424],
      ["g6e.8xlarge", 4.52856],
      ["g6e.12xlarge", 10.49264],
      ["g6e.16xlarge", 7.57719],
      ["g6e.24xlarge", 15.06559],
      ["g6e.48xlarge", 30.13118],
      ["p4d.24xlarge", 21.95764],
      ["p4de.24xlarge", 27.44705],
      ["p5.4xlarge", 6.88],
      ["p5.48xlarge", 55.04],
      ["p5en.48xlarge", 63.296],
      ["p6-b200.48xlarge", 113.9328],
    ]),
  },
  {
    name: "eu-west-1",
    displayName: "Europe (Ireland)",
    source: VANTAGE,
    spotSource: null,
    prices: onDemandOnly([
      ["g4dn.xlarge", 0.587],
      ["g4dn.2xlarge", 0.838],
      ["g4dn.4xlarge", 1.342],
      ["g4dn.8xlarge", 2.426],
      ["g4dn.12xlarge", 4.362],
      ["g4dn.16xlarge", 4.853],
      ["g4dn.metal", 8.724],
      ["g5.xlarge", 1.123],
      ["g5.2xlarge", 1.35296],
      ["g5.4xlarge", 1.81287],
      ["g5.8xlarge", 2.73271],
      ["g5.12xlarge", 6.33167],
      ["g5.16xlarge", 4.57237],
      ["g5.24xlarge", 9.09117],
      ["g5.48xlarge", 18.18233],
      ["p4d.24xlarge", 23.71569],
    ]),
  },
  {
    name: "ap-northeast-1",
    displayName: "Asia Pacific (Tokyo)",
    source: VANTAGE,
    spotSource: null,
    prices: onDemandOnly([
      ["g4dn.xlarge", 0.71],
      ["g4dn.2xlarge", 1.015],
      ["g4dn.4xlarge", 1.625],
      ["g4dn.8xlarge", 2.938],
      ["g4dn.12xlarge", 5.281],
      ["g4dn.16xlarge", 5.875],
      ["g4dn.metal", 10.562],
      ["g5.xlarge", 1.459],
      ["g5.2xlarge", 1.75776],
      ["g5.4xlarge", 2.35528],
      ["g5.8xlarge", 3.55033],
      ["g5.12xlarge", 8.22609],
      ["g5.16xlarge", 5.94042],
      ["g5.24xlarge", 11.81123],
      ["g5.48xlarge", 23.62246],
      ["g6.xlarge", 1.1672],
      ["g6.2xlarge", 1.41781],
      ["g6.4xlarge", 1.91903],
      ["g6.8xlarge", 2.92148],
      ["g6.12xlarge", 6.67369],
      ["g6.16xlarge", 4.92637],
      ["g6.24xlarge", 9.68103],
      ["g6.48xlarge", 19.36206],
      ["gr6.4xlarge", 2.2323],
      ["gr6.8xlarge", 3.54801],
      ["g6e.xlarge", 2.699],
      ["g6e.2xlarge", 3.25168],
      ["g6e.4xlarge", 4.35703],
      ["g6e.8xlarge", 6.56775],
      ["g6e.12xlarge", 15.21742],
      ["g6e.16xlarge", 10.98917],
      ["g6e.24xlarge", 21.84956],
      ["g6e.48xlarge", 43.69912],
      ["p4d.24xlarge", 30.09784],
      ["p4de.24xlarge", 37.6223],
      ["p5.4xlarge", 8.6],
      ["p5.48xlarge", 68.8],
      ["p5en.48xlarge", 79.12],
    ]),
  },
];

/** Region names, in {@link REGIONS} order. */
export const REGION_NAMES = REGIONS.map((r) => r.name) as [string, ...string[]];

/** The region named, or undefined for one the catalog does not price. */
export function findRegion(name: string): Region | undefined {
  return REGIONS.find((r) => r.name === name);
}

/** Regions that offer an instance type, in {@link REGIONS} order. */
export function regionsOffering(instanceType: string): string[] {
  return REGIONS.filter((r) => r.prices[instanceType] !== undefined).map((r) => r.name);
}

/**
 * The instance rows of a region: only the types it offers, at its prices. Where the region has no
 * spot ranges yet, a spot plan uses us-east-1's range as its estimate (what every region got before
 * regions were priced), and the plan says so.
 */
export function regionInstances(name: string): GpuInstance[] {
  const region = findRegion(name);
  if (region === undefined) throw new Error(`region catalog: no region named "${name}"`);
  return GPU_INSTANCES.flatMap((i) => {
    const price = region.prices[i.type];
    if (price === undefined) return [];
    const spot = region.spotSource === null ? i.spotUsdPerHour : price.spot;
    const source = region.spotSource === null ? region.source : i.source;
    return [{ ...i, onDemandUsdPerHour: price.onDemand, spotUsdPerHour: spot, source }];
  });
}
