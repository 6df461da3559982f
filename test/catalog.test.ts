/**
 * Catalog integrity: every row is complete, sourced and dated; the catalogs cover what the product
 * promises; parameter counts derived from the architecture match the model cards.
 */
import assert from "node:assert/strict";
import {
  DEFAULT_REGION,
  findRegion,
  REGION_NAMES,
  REGIONS,
  regionInstances,
  regionsOffering,
} from "../components/catalog/regions";
import { readdirSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import {
  GPU_INSTANCES,
  GPU_MODELS,
  NVSWITCH_INSTANCES,
  awsGpu,
  fabricNeed,
  plainUbuntuRefusal,
} from "../components/catalog/gpus";
import { FAMILY_INTERCONNECTS } from "../components/catalog/interconnect";
import { MODELS } from "../components/catalog/models";
import { WORKSTATION_GPUS } from "../components/catalog/workstationGpus";
import { FORMAT_SPECS, QUANTIZATIONS } from "../components/catalog/quantizations";
import { paramCounts } from "../components/footprint/memory";
import { citationProblems, DATE } from "./helpers/citations";

describe("model catalog", () => {
  it("covers every open-weight Qwen3 model, the 2507 releases and Coder-30B", () => {
    assert.deepEqual(
      MODELS.map((m) => m.id),
      [
        "Qwen3-0.6B",
        "Qwen3-1.7B",
        "Qwen3-4B",
        "Qwen3-8B",
        "Qwen3-14B",
        "Qwen3-32B",
        "Qwen3-30B-A3B",
        "Qwen3-235B-A22B",
        "Qwen3-4B-Instruct-2507",
        "Qwen3-4B-Thinking-2507",
        "Qwen3-30B-A3B-Instruct-2507",
        "Qwen3-30B-A3B-Thinking-2507",
        "Qwen3-235B-A22B-Instruct-2507",
        "Qwen3-235B-A22B-Thinking-2507",
        "Qwen3-Coder-30B-A3B-Instruct",
      ],
    );
  });

  for (const m of MODELS) {
    it(`${m.id}: sourced, dated, and internally consistent`, () => {
      assert.ok(m.sources.length > 0);
      for (const s of m.sources) {
        assert.match(s.asOf, DATE, `${m.id} source date`);
        for (const u of [s.url].flat()) assert.match(u, /^https:\/\/\S+$/, `${m.id} source url`);
      }
      // Every Qwen3 model ships BF16 and FP8 from Qwen itself, and repos live under Qwen/.
      assert.equal(m.hf.bf16, `Qwen/${m.id}`);
      assert.equal(m.hf.fp8, `Qwen/${m.id}-FP8`);
      for (const repo of Object.values(m.hf)) assert.match(repo ?? "", /^Qwen\/Qwen3-/);
      // Ollama always gets an explicit quant tag, never a moving alias.
      for (const [q, t] of Object.entries(m.ollama)) assert.ok(t?.tag.endsWith(`-${q}`), `${m.id} ${q} tag ${t?.tag}`);
      assert.ok(m.ollama.q4_K_M !== undefined, "q4_K_M is the Ollama default and must exist");
      assert.ok(m.context.native <= m.context.max);
      assert.equal(m.arch.attentionHeads % m.arch.kvHeads, 0);
      assert.equal(m.thinking === "hybrid", m.release === "2504");
    });
  }

  it("records tool parsers per model: qwen3_coder only for Coder", () => {
    for (const m of MODELS) {
      const coder = m.id.includes("Coder");
      assert.equal(m.vllmToolParser, coder ? "qwen3_coder" : "hermes", m.id);
      assert.equal(m.sglangToolParser, coder ? "qwen3_coder" : "qwen25", m.id);
    }
  });

  // Model-card figures (billions). Derived counts must agree within 2%: proves the architecture
  // fields (layers, heads, widths, experts, tying) are transcribed right, since weights and KV follow from them.
  for (const m of MODELS) {
    it(`${m.id}: parameters from config match the card (${m.params.totalB}B / ${m.params.activeB}B active)`, () => {
      const p = paramCounts(m.arch);
      assert.ok(Math.abs(p.total / 1e9 / m.params.totalB - 1) < 0.02, `total ${p.total / 1e9}`);
      assert.ok(Math.abs(p.active / 1e9 / m.params.activeB - 1) < 0.02, `active ${p.active / 1e9}`);
    });
  }

  it("non-embedding counts match the cards that state them (8B 6.95B, 14B 13.2B, 0.6B 0.44B, 30B-A3B 29.9B)", () => {
    const nonEmb = (id: string): number => {
      const m = MODELS.find((x) => x.id === id);
      assert.ok(m);
      const p = paramCounts(m.arch);
      return (p.total - p.embedding - p.lmHead) / 1e9;
    };
    assert.ok(Math.abs(nonEmb("Qwen3-8B") - 6.95) < 0.02);
    assert.ok(Math.abs(nonEmb("Qwen3-14B") - 13.2) < 0.05);
    assert.ok(Math.abs(nonEmb("Qwen3-0.6B") - 0.44) < 0.01);
    assert.ok(Math.abs(nonEmb("Qwen3-30B-A3B") - 29.9) < 0.05);
  });
});

describe("GPU catalog", () => {
  it("covers the inference families the product promises, p5.4xlarge included", () => {
    const families = new Set(GPU_INSTANCES.map((i) => i.family));
    for (const f of ["g4dn", "g5", "g6", "gr6", "g6e", "g7e", "p4d", "p4de", "p5", "p5en", "p6-b200"])
      assert.ok(families.has(f), f);
    assert.ok(GPU_INSTANCES.some((i) => i.type === "p5.4xlarge" && i.gpuCount === 1));
  });

  it("has one row per type, each complete, priced and sourced", () => {
    assert.equal(new Set(GPU_INSTANCES.map((i) => i.type)).size, GPU_INSTANCES.length);
    for (const i of GPU_INSTANCES) {
      const gpu = awsGpu(i.gpu);
      assert.ok(i.type.startsWith(`${i.family}.`), i.type);
      assert.ok([1, 2, 4, 8].includes(i.gpuCount), i.type);
      assert.ok(i.vcpus > 0 && i.ramGiB > 0 && i.nvmeGB > 0, i.type);
      assert.ok(i.onDemandUsdPerHour > 0, i.type);
      if (i.spotUsdPerHour !== null)
        assert.ok(i.spotUsdPerHour.min <= i.spotUsdPerHour.max && i.spotUsdPerHour.max <= i.onDemandUsdPerHour, i.type);
      assert.match(i.source.asOf, DATE);
      assert.ok(gpu.usableMiB > 10000);
    }
  });

  it("prices a few rows exactly as the reference snapshot lists them", () => {
    const price = (t: string): number | undefined => GPU_INSTANCES.find((i) => i.type === t)?.onDemandUsdPerHour;
    assert.equal(price("g4dn.xlarge"), 0.526);
    assert.equal(price("g6e.xlarge"), 1.861);
    assert.equal(price("p5.48xlarge"), 55.04);
    assert.equal(price("p6-b200.48xlarge"), 113.9328);
  });

  it("gives each GPU model its compute capability and a dated source", () => {
    const cc = Object.fromEntries(Object.values(GPU_MODELS).map((g) => [g.name, g.computeCapability]));
    assert.deepEqual(cc, {
      T4: 7.5,
      A10G: 8.6,
      L4: 8.9,
      L40S: 8.9,
      "RTX-PRO-6000": 12.0,
      "A100-40GB": 8.0,
      "A100-80GB": 8.0,
      H100: 9.0,
      H200: 9.0,
      B200: 10.0,
    });
    for (const g of Object.values(GPU_MODELS)) assert.match(g.source.asOf, DATE);
  });

  it("rejects an instance row naming a GPU the table lacks", () => {
    assert.throws(() => awsGpu("V100"), /no GPU model named "V100"/);
  });
});

describe("NVSwitch instances", () => {
  it("p4d, p4de, p5.48xlarge and p5en need the fabric manager; p6-b200 the NVLink subnet manager too; single-GPU p5 and g-families nothing", () => {
    assert.deepEqual(
      Object.fromEntries(
        [
          "p4d.24xlarge",
          "p4de.24xlarge",
          "p5.4xlarge",
          "p5.48xlarge",
          "p5en.48xlarge",
          "p6-b200.48xlarge",
          "g6e.48xlarge",
          "g7e.48xlarge",
        ].map((t) => [t, fabricNeed(t)]),
      ),
      {
        "p4d.24xlarge": "fabric-manager",
        "p4de.24xlarge": "fabric-manager",
        "p5.4xlarge": "none",
        "p5.48xlarge": "fabric-manager",
        "p5en.48xlarge": "fabric-manager",
        "p6-b200.48xlarge": "fabric-manager+nvlsm",
        "g6e.48xlarge": "none",
        "g7e.48xlarge": "none",
      },
    );
    for (const t of Object.keys(NVSWITCH_INSTANCES))
      assert.ok(
        GPU_INSTANCES.some((i) => i.type === t),
        `${t} is not a catalog instance`,
      );
  });

  it("plain Ubuntu is refused only where the NVLink subnet manager is needed, naming the type and the way out", () => {
    assert.equal(
      plainUbuntuRefusal("p6-b200.48xlarge"),
      "p6-b200.48xlarge needs NVIDIA's NVLink subnet manager (nvlsm) besides the fabric manager, which " +
        "the bootstrap cannot install on plain Ubuntu; use the Deep Learning AMI",
    );
    assert.equal(plainUbuntuRefusal("p5.48xlarge"), null);
    assert.equal(plainUbuntuRefusal("g6e.xlarge"), null);
  });
});

describe("format specs", () => {
  it("describe every quantization, with a dated source", () => {
    for (const q of QUANTIZATIONS) {
      const s = FORMAT_SPECS[q];
      assert.match(s.source.asOf, DATE, q);
      assert.ok(s.minComputeCapability >= 5 && s.minComputeCapability <= 8, q);
    }
  });
});

/** Every object exported (at any depth) by a catalog module that carries a date: a row's source. */
function sourcesIn(value: unknown, where: string, out: [string, Record<string, unknown>][], seen: Set<unknown>): void {
  if (value === null || typeof value !== "object" || seen.has(value)) return;
  seen.add(value);
  const record = value as Record<string, unknown>;
  if ("asOf" in record) out.push([where, record]);
  for (const [key, inner] of Object.entries(record)) sourcesIn(inner, `${where}.${key}`, out, seen);
}

describe("catalog sources", () => {
  it("every source in every catalog file is a public https URL (or a list of them) with a real YYYY-MM-DD date", async () => {
    const dir = path.resolve(__dirname, "..", "components", "catalog");
    const found: [string, Record<string, unknown>][] = [];
    const seen = new Set<unknown>();
    for (const file of readdirSync(dir).filter((f) => f.endsWith(".ts"))) {
      const exports = (await import(path.join(dir, file))) as Record<string, unknown>;
      for (const [name, value] of Object.entries(exports)) sourcesIn(value, `${file}:${name}`, found, seen);
    }
    // Models, GPUs, instances, NVSwitch rows, workstation cards, AMIs, images and formats: 51 distinct today.
    assert.ok(found.length >= 40, `only ${found.length} sources found`);
    const bad = found.flatMap(([where, s]) => citationProblems(where, s));
    assert.deepEqual(bad, []);
  });
});

describe("region catalog", () => {
  it("lists us-east-1 first and at least one US west, one EU and one Asia-Pacific region", () => {
    assert.deepEqual(REGION_NAMES, ["us-east-1", "us-west-2", "eu-west-1", "ap-northeast-1"]);
    assert.equal(DEFAULT_REGION, "us-east-1");
  });

  it("every region row names a GPU_INSTANCES type, priced above 0 with spot min <= max, and is sourced over https with a date", () => {
    const types = new Set(GPU_INSTANCES.map((i) => i.type));
    for (const r of REGIONS) {
      assert.ok(Object.keys(r.prices).length > 0, r.name);
      for (const [type, price] of Object.entries(r.prices)) {
        assert.ok(types.has(type), `${r.name} ${type}`);
        assert.ok(price.onDemand > 0, `${r.name} ${type}`);
        if (price.spot !== null) assert.ok(price.spot.min > 0 && price.spot.min <= price.spot.max, `${r.name} ${type}`);
      }
      for (const source of [r.source, ...(r.spotSource === null ? [] : [r.spotSource])]) {
        for (const url of [source.url].flat()) assert.match(url, /^https:\/\//, r.name);
        assert.match(source.asOf, DATE, r.name);
      }
    }
  });

  it("us-east-1 is exactly GPU_INSTANCES, so plans that name no region are unchanged", () => {
    const rows = regionInstances("us-east-1");
    assert.deepEqual(rows, [...GPU_INSTANCES]);
  });

  it("prices and offers a few rows exactly as the snapshot lists them", () => {
    const od = (region: string, type: string): number | undefined => findRegion(region)?.prices[type]?.onDemand;
    assert.equal(od("us-west-2", "g6e.xlarge"), 1.861);
    assert.equal(od("eu-west-1", "g5.12xlarge"), 6.33167);
    assert.equal(od("ap-northeast-1", "g5.12xlarge"), 8.22609);
    assert.equal(od("ap-northeast-1", "p5.48xlarge"), 68.8);
    assert.equal(od("eu-west-1", "g6e.xlarge"), undefined);
    assert.deepEqual(regionsOffering("g7e.2xlarge"), ["us-east-1"]);
    assert.deepEqual(regionsOffering("g4dn.xlarge"), ["us-east-1", "us-west-2", "eu-west-1", "ap-northeast-1"]);
  });

  // Rows of skypilot-catalog catalogs/v8/aws/vms.csv at commit 00148f2af3672e2229b4f7bf8157d5a3f36e3c35 (SpotPrice column):
  //   g5.xlarge,...,1.123,0.576500,eu-west-1,euw1-az1 / 1.123,0.574600,...,euw1-az2 / 1.123,0.572700,...,euw1-az3
  //   g4dn.xlarge,...,0.526,0.246400,us-west-2,usw2-az1 / 0.247900 usw2-az2 / 0.238600 usw2-az3
  //     (and 0.063100 / 0.072300 in the Local Zones usw2-lax1-az1/az2, left out of the range)
  //   p4d.24xlarge,...,30.09784,30.097800,ap-northeast-1,apne1-az1 / 30.09784,7.520500,...,apne1-az4
  //   p4d.24xlarge,...,23.71569,9.759800,eu-west-1,euw1-az2 (its only eu-west-1 zone)
  //   g6e.xlarge,...,2.699,1.210500,ap-northeast-1,apne1-az1 / 2.699,1.205900,...,apne1-az4
  //   p6-b200.48xlarge,...,113.9328,28.442000,us-west-2,usw2-az1 / 25.106000 usw2-az2 / 23.082600 usw2-az4
  //   p5.4xlarge,...,6.88,,us-west-2,usw2-az1 (SpotPrice empty, and likewise in usw2-az2, az3 and az4)
  it("stores spot ranges as the min and max over the region's zones in the skypilot-catalog rows, null where no zone lists one", () => {
    const spot = (region: string, type: string) => findRegion(region)?.prices[type]?.spot;
    assert.deepEqual(spot("eu-west-1", "g5.xlarge"), { min: 0.5727, max: 0.5765 });
    assert.deepEqual(spot("us-west-2", "g4dn.xlarge"), { min: 0.2386, max: 0.2479 });
    assert.deepEqual(spot("ap-northeast-1", "p4d.24xlarge"), { min: 7.5205, max: 30.0978 });
    assert.deepEqual(spot("eu-west-1", "p4d.24xlarge"), { min: 9.7598, max: 9.7598 });
    assert.deepEqual(spot("ap-northeast-1", "g6e.xlarge"), { min: 1.2059, max: 1.2105 });
    assert.deepEqual(spot("us-west-2", "p6-b200.48xlarge"), { min: 23.0826, max: 28.442 });
    assert.equal(spot("us-west-2", "p5.4xlarge"), null);
  });

  // plan.ts says a spot price is the region's own dearest zone whenever spotSource is set, so a region may only
  // be given one once every type it offers has its range (us-east-1 is GPU_INSTANCES, checked above).
  it("a region other than us-east-1 with a spot source has a spot range for every type it offers", () => {
    const sourced = REGIONS.filter((r) => r.name !== DEFAULT_REGION && r.spotSource !== null);
    assert.deepEqual(
      sourced.map((r) => r.name),
      ["eu-west-1", "ap-northeast-1"],
    );
    for (const r of sourced) {
      const missing = Object.entries(r.prices).filter(([, price]) => price.spot === null);
      assert.deepEqual(missing, [], r.name);
    }
  });

  it("eu-west-1 rows carry eu-west-1's own spot range and cite both sources; us-west-2 keeps the us-east-1 estimate", () => {
    const row = (region: string, type: string) => regionInstances(region).find((i) => i.type === type);
    const eu = row("eu-west-1", "g5.xlarge");
    assert.deepEqual(eu?.spotUsdPerHour, { min: 0.5727, max: 0.5765 });
    assert.equal(eu?.onDemandUsdPerHour, 1.123);
    const urls = [eu?.source.url ?? []].flat();
    assert.ok(
      urls.some((u) => u.includes("skypilot-catalog/blob/00148f2af3672e2229b4f7bf8157d5a3f36e3c35")),
      urls.join(),
    );
    assert.ok(
      urls.some((u) => u.includes("tsaol/aws-gpu")),
      urls.join(),
    );
    // us-west-2's recorded g4dn.xlarge range is not used while the region has no spot source: us-east-1's is.
    assert.deepEqual(row("us-west-2", "g4dn.xlarge")?.spotUsdPerHour, { min: 0.2, max: 0.2158 });
  });

  it("ap-northeast-1 rows carry ap-northeast-1's own spot range, not us-east-1's estimate", () => {
    const tokyo = regionInstances("ap-northeast-1").find((i) => i.type === "g6e.xlarge");
    // us-east-1's g6e.xlarge range is { min: 0.9154, max: 1.1975 }; these are the apne1-az1/az4 rows cited above.
    assert.deepEqual(tokyo?.spotUsdPerHour, { min: 1.2059, max: 1.2105 });
    assert.equal(tokyo?.onDemandUsdPerHour, 2.699);
  });
});

describe("GPU speed and interconnect rows", () => {
  const everyGpu = [...Object.values(GPU_MODELS), ...Object.values(WORKSTATION_GPUS)];

  it("every GPU model in both tables has positive bandwidth and FP16 TFLOPS and a public https dated source", () => {
    assert.equal(everyGpu.length, 15);
    for (const g of everyGpu) {
      assert.ok(g.speed.memoryGBps > 0 && g.speed.fp16Tflops > 0, g.name);
      assert.deepEqual(citationProblems(`${g.name}.speed.source`, g.speed.source), []);
    }
  });

  it("BF16 is null exactly below compute capability 8.0 and FP8 exactly below 8.9", () => {
    for (const g of everyGpu) {
      assert.equal(g.speed.bf16Tflops === null, g.computeCapability < 8.0, `${g.name} bf16`);
      assert.equal(g.speed.fp8Tflops === null, g.computeCapability < 8.9, `${g.name} fp8`);
    }
  });

  it("pins datasheet figures: bandwidth GB/s and dense FP16/BF16/FP8 TFLOPS as the cited sources give them", () => {
    const figures = Object.fromEntries(
      everyGpu.map((g) => [
        g.name,
        [g.speed.memoryGBps, g.speed.fp16Tflops, g.speed.bf16Tflops, g.speed.fp8Tflops] as const,
      ]),
    );
    assert.deepEqual(figures, {
      T4: [320, 65, null, null],
      A10G: [600, 70, 70, null],
      L4: [300, 121, 121, 242.5],
      L40S: [864, 362.05, 362.05, 733],
      "RTX-PRO-6000": [1597, 500, 500, 1000],
      "A100-40GB": [1555, 312, 312, null],
      "A100-80GB": [2039, 312, 312, null],
      H100: [3350, 989.5, 989.5, 1979],
      H200: [4800, 989.5, 989.5, 1979],
      B200: [8000, 2250, 2250, 4500],
      "RTX-3090": [936, 71, 71, null],
      "RTX-4090": [1008, 165.2, 165.2, 330.3],
      "RTX-5090": [1792, 209.5, 209.5, 419],
      "RTX-A6000": [768, 154.8, 154.8, null],
      "RTX-6000-Ada": [960, 364.2, 364.2, 728.5],
    });
  });

  it("every family in GPU_INSTANCES has an interconnect row, NVLink exactly on the p families, each sourced", () => {
    const families = [...new Set(GPU_INSTANCES.map((i) => i.family))];
    assert.deepEqual(Object.keys(FAMILY_INTERCONNECTS).sort(), [...families].sort());
    for (const f of families) {
      const link = FAMILY_INTERCONNECTS[f];
      assert.ok(link !== undefined, f);
      assert.equal(link.kind === "nvlink", f.startsWith("p"), f);
      assert.deepEqual(citationProblems(`${f}.interconnect`, link.source), []);
    }
    for (const i of GPU_INSTANCES) assert.equal(i.interconnect, FAMILY_INTERCONNECTS[i.family], i.type);
  });

  it("pins per-family links: p5 NVLink 4 through NVSwitch at 900 GB/s, g6e PCIe Gen4, and the rest", () => {
    const summary = Object.fromEntries(
      Object.entries(FAMILY_INTERCONNECTS).map(([f, l]) => [
        f,
        l.kind === "nvlink" ? `nvlink${l.generation} switched=${l.switched} ${l.perGpuGBps}` : `pcie${l.generation}`,
      ]),
    );
    assert.deepEqual(summary, {
      g4dn: "pcie3",
      g5: "pcie4",
      g6: "pcie4",
      gr6: "pcie4",
      g6e: "pcie4",
      g7e: "pcie5",
      p4d: "nvlink3 switched=true 600",
      p4de: "nvlink3 switched=true 600",
      p5: "nvlink4 switched=true 900",
      p5en: "nvlink4 switched=true 900",
      "p6-b200": "nvlink5 switched=true 1800",
    });
    assert.equal(GPU_INSTANCES.find((i) => i.type === "g6e.48xlarge")?.interconnect.kind, "pcie");
  });
});
