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
  /** Spot range across the region's zones, or null where the source lists none or it is not read yet (see spotSource). */
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
    "the skypilot-catalog v8 rows of every type whose spot range was read (the same figures); no spot prices",
};

// skypilot-catalog's AWS table at the commit the us-east-1 rows were read from: one row per type, region and zone,
// with "Price" (on-demand) and "SpotPrice". A region's range is the min and max SpotPrice over its own zones; Local
// Zones (us-west-2's usw2-lax1-az*, opt-in, priced far below the region's zones) are left out, as a stack's subnet
// never sits in one. The on-demand "Price" of every row read here equals the figure VANTAGE gives above.
const SKY_SPOT: Source = {
  url: "https://github.com/skypilot-org/skypilot-catalog/blob/00148f2af3672e2229b4f7bf8157d5a3f36e3c35/catalogs/v8/aws/vms.csv",
  asOf: "2026-01-21",
  note:
    "skypilot-catalog v8 aws/vms.csv at commit 00148f2 (the commit the us-east-1 rows come from), read 2026-11-30; " +
    "spot range = min and max SpotPrice over the region's zones, Local Zones left out",
};

/** Type, on-demand USD/h, and the spot [min, max] over the region's zones; no third entry = spot not read for it. */
type Row = [type: string, onDemand: number, spot?: readonly [min: number, max: number]];

function priced(rows: readonly Row[]): Record<string, RegionPrice> {
  return Object.fromEntries(
    rows.map(([type, onDemand, spot]) => [
      type,
      { onDemand, spot: spot === undefined ? null : { min: spot[0], max: spot[1] } },
    ]),
  );
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
    // Spot read for every offered type; p5.4xlarge has none: its four us-west-2 rows (usw2-az1..az4) leave SpotPrice
    // empty, as us-east-1's do. The ranges here are SKY_SPOT's, but spotSource stays null (spot plans keep the
    // us-east-1 estimate) because a region with a spot source must price spot for every type it offers.
    spotSource: null,
    prices: priced([
      ["g4dn.xlarge", 0.526, [0.2386, 0.2479]],
      ["g4dn.2xlarge", 0.752, [0.295, 0.3202]],
      ["g4dn.4xlarge", 1.204, [0.4307, 0.4866]],
      ["g4dn.8xlarge", 2.176, [0.7485, 0.8529]],
      ["g4dn.12xlarge", 3.912, [1.6658, 1.7536]],
      ["g4dn.16xlarge", 4.352, [0.884, 1.4338]],
      ["g4dn.metal", 7.824, [2.9735, 3.2342]],
      ["g5.xlarge", 1.006, [0.4829, 0.5134]],
      ["g5.2xlarge", 1.212, [0.3727, 0.4155]],
      ["g5.4xlarge", 1.624, [0.5516, 0.6044]],
      ["g5.8xlarge", 2.448, [0.9206, 0.9322]],
      ["g5.12xlarge", 5.672, [2.757, 3.3699]],
      ["g5.16xlarge", 4.096, [1.3853, 1.6345]],
      ["g5.24xlarge", 8.144, [3.388, 3.7211]],
      ["g5.48xlarge", 16.288, [7.7435, 8.0904]],
      ["g6.xlarge", 0.8048, [0.39, 0.4541]],
      ["g6.2xlarge", 0.9776, [0.4811, 0.5966]],
      ["g6.4xlarge", 1.3232, [0.5368, 0.8978]],
      ["g6.8xlarge", 2.0144, [0.9181, 1.1655]],
      ["g6.12xlarge", 4.6016, [2.3163, 2.5757]],
      ["g6.16xlarge", 3.3968, [1.2101, 1.3873]],
      ["g6.24xlarge", 6.6752, [2.1984, 3.3743]],
      ["g6.48xlarge", 13.3504, [4.3901, 4.6137]],
      ["gr6.4xlarge", 1.5392, [0.528, 0.5878]],
      ["gr6.8xlarge", 2.4464, [0.7904, 1.2441]],
      ["g6e.xlarge", 1.861, [0.6538, 1.5145]],
      ["g6e.2xlarge", 2.24208, [0.948, 1.6578]],
      ["g6e.4xlarge", 3.00424, [1.0972, 1.8534]],
      ["g6e.8xlarge", 4.52856, [1.4936, 1.6674]],
      ["g6e.12xlarge", 10.49264, [3.1053, 6.4585]],
      ["g6e.16xlarge", 7.57719, [2.4627, 2.6431]],
      ["g6e.24xlarge", 15.06559, [4.8261, 5.6908]],
      ["g6e.48xlarge", 30.13118, [10.1607, 19.9005]],
      ["p4d.24xlarge", 21.95764, [7.9992, 9.7315]],
      ["p4de.24xlarge", 27.44705, [10.3338, 11.0144]],
      ["p5.4xlarge", 6.88],
      ["p5.48xlarge", 55.04, [12.6935, 16.1301]],
      ["p5en.48xlarge", 63.296, [15.482, 23.893]],
      ["p6-b200.48xlarge", 113.9328, [23.0826, 28.442]],
    ]),
  },
  {
    name: "eu-west-1",
    displayName: "Europe (Ireland)",
    source: VANTAGE,
    // Every offered type has spot rows in eu-west-1; p4d.24xlarge has one zone only (euw1-az2), so min = max.
    spotSource: SKY_SPOT,
    prices: priced([
      ["g4dn.xlarge", 0.587, [0.3147, 0.3317]],
      ["g4dn.2xlarge", 0.838, [0.3888, 0.3974]],
      ["g4dn.4xlarge", 1.342, [0.684, 0.7099]],
      ["g4dn.8xlarge", 2.426, [1.0511, 1.1419]],
      ["g4dn.12xlarge", 4.362, [1.8367, 2.0048]],
      ["g4dn.16xlarge", 4.853, [1.2535, 1.2636]],
      ["g4dn.metal", 8.724, [3.809, 4.7539]],
      ["g5.xlarge", 1.123, [0.5727, 0.5765]],
      ["g5.2xlarge", 1.35296, [0.6179, 0.6191]],
      ["g5.4xlarge", 1.81287, [0.8461, 0.9139]],
      ["g5.8xlarge", 2.73271, [1.2429, 1.2727]],
      ["g5.12xlarge", 6.33167, [2.816, 3.2163]],
      ["g5.16xlarge", 4.57237, [1.2971, 1.859]],
      ["g5.24xlarge", 9.09117, [3.2242, 3.6433]],
      ["g5.48xlarge", 18.18233, [8.0117, 8.1388]],
      ["p4d.24xlarge", 23.71569, [9.7598, 9.7598]],
    ]),
  },
  {
    name: "ap-northeast-1",
    displayName: "Asia Pacific (Tokyo)",
    source: VANTAGE,
    // Every offered type has spot rows in ap-northeast-1. Several max values equal the on-demand price: the zone's spot
    // price sat at the on-demand cap. p5.4xlarge (apne1-az1) and p5en.48xlarge (apne1-az4) have one zone only, so
    // min = max, and p5.4xlarge's one price is the on-demand cap.
    spotSource: SKY_SPOT,
    prices: priced([
      ["g4dn.xlarge", 0.71, [0.284, 0.2853]],
      ["g4dn.2xlarge", 1.015, [0.4728, 0.4823]],
      ["g4dn.4xlarge", 1.625, [0.4586, 0.826]],
      ["g4dn.8xlarge", 2.938, [0.5692, 1.3657]],
      ["g4dn.12xlarge", 5.281, [2.2067, 2.5545]],
      ["g4dn.16xlarge", 5.875, [1.074, 1.2192]],
      ["g4dn.metal", 10.562, [3.1004, 4.8146]],
      ["g5.xlarge", 1.459, [0.6318, 0.6822]],
      ["g5.2xlarge", 1.75776, [0.816, 0.8775]],
      ["g5.4xlarge", 2.35528, [0.9302, 0.9352]],
      ["g5.8xlarge", 3.55033, [1.2223, 2.1136]],
      ["g5.12xlarge", 8.22609, [2.4678, 8.2261]],
      ["g5.16xlarge", 5.94042, [1.0371, 1.545]],
      ["g5.24xlarge", 11.81123, [11.8112, 11.8112]],
      ["g5.48xlarge", 23.62246, [23.6225, 23.6225]],
      ["g6.xlarge", 1.1672, [0.5647, 0.5708]],
      ["g6.2xlarge", 1.41781, [0.754, 0.8206]],
      ["g6.4xlarge", 1.91903, [0.6381, 0.6951]],
      ["g6.8xlarge", 2.92148, [1.1272, 1.1847]],
      ["g6.12xlarge", 6.67369, [2.2954, 2.3597]],
      ["g6.16xlarge", 4.92637, [1.9585, 2.3574]],
      ["g6.24xlarge", 9.68103, [1.8266, 2.7186]],
      ["g6.48xlarge", 19.36206, [3.7244, 8.9657]],
      ["gr6.4xlarge", 2.2323, [0.4926, 0.6302]],
      ["gr6.8xlarge", 3.54801, [0.74, 1.1402]],
      ["g6e.xlarge", 2.699, [1.2059, 1.2105]],
      ["g6e.2xlarge", 3.25168, [1.4316, 1.6086]],
      ["g6e.4xlarge", 4.35703, [1.4714, 1.7929]],
      ["g6e.8xlarge", 6.56775, [1.874, 2.1258]],
      ["g6e.12xlarge", 15.21742, [4.4528, 5.3051]],
      ["g6e.16xlarge", 10.98917, [2.0359, 2.2699]],
      ["g6e.24xlarge", 21.84956, [6.5533, 7.4038]],
      ["g6e.48xlarge", 43.69912, [12.4345, 15.6543]],
      ["p4d.24xlarge", 30.09784, [7.5205, 30.0978]],
      ["p4de.24xlarge", 37.6223, [15.9785, 37.6223]],
      ["p5.4xlarge", 8.6, [8.6, 8.6]],
      ["p5.48xlarge", 68.8, [23.1449, 68.8]],
      ["p5en.48xlarge", 79.12, [31.6303, 31.6303]],
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
    const source = region.name === DEFAULT_REGION ? i.source : rowSource(region);
    return [{ ...i, onDemandUsdPerHour: price.onDemand, spotUsdPerHour: spot, source }];
  });
}

/** Where a region's rows come from: its on-demand source, plus its spot source where it has one. */
function rowSource(region: Region): Source {
  const spot = region.spotSource;
  if (spot === null) return region.source;
  return {
    url: [...[spot.url].flat(), ...[region.source.url].flat()],
    // The older date: a reader re-checks from the staler of the two figures.
    asOf: [spot.asOf, region.source.asOf].sort()[0] ?? spot.asOf,
    note: `spot: ${spot.note ?? "see url"}; on-demand: ${region.source.note ?? "see url"}`,
  };
}
