/**
 * Cheapest-fit choice over small synthetic catalogs, so each rule is visible in one row:
 * exact memory boundary, price order, ties, spot, price limits, host RAM, GPU splits.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { GpuInstance, GpuModel } from "../components/catalog/gpus";
import { MODELS, type QwenModel } from "../components/catalog/models";
import {
  evaluateInstance,
  sizeOver,
  type Candidate,
  type Rejection,
  type SizingInput,
} from "../components/sizing/sizing";
import { ENGINES } from "../components/engines";
import type { Engine } from "../components/engines/types";

const SRC = { url: "synthetic test row", asOf: "2026-11-29" };
/** Speed figures of a synthetic GPU; these tests rank by price ("cost"), so only their presence matters here. */
const SPEED = { memoryGBps: 1000, fp16Tflops: 100, bf16Tflops: 100, fp8Tflops: 200, source: SRC };
const PCIE4 = { kind: "pcie", generation: 4, source: SRC } as const;

/** Synthetic GPUs: memory chosen per test. */
const GPUS: Record<string, GpuModel> = {
  small: { name: "small", architecture: "Ada", computeCapability: 8.9, usableMiB: 4096, source: SRC, speed: SPEED },
  exact: { name: "exact", architecture: "Ada", computeCapability: 8.9, usableMiB: 4097, source: SRC, speed: SPEED },
  big: { name: "big", architecture: "Hopper", computeCapability: 9.0, usableMiB: 80 * 1024, source: SRC, speed: SPEED },
  turing: {
    name: "turing",
    architecture: "Turing",
    computeCapability: 7.5,
    usableMiB: 80 * 1024,
    source: SRC,
    speed: { ...SPEED, bf16Tflops: null, fp8Tflops: null },
  },
};
const lookup = (name: string): GpuModel => {
  const g = GPUS[name];
  assert.ok(g, name);
  return g;
};

function inst(
  type: string,
  gpu: string,
  gpuCount: number,
  price: number,
  extra: Partial<GpuInstance> = {},
): GpuInstance {
  return {
    type,
    family: type.split(".")[0] ?? type,
    gpu,
    gpuCount,
    vcpus: 8,
    ramGiB: 1024,
    nvmeGB: 0,
    onDemandUsdPerHour: price,
    spotUsdPerHour: { min: price / 4, max: price / 2 },
    source: SRC,
    interconnect: PCIE4,
    ...extra,
  };
}

const isFit = (r: Candidate | Rejection): r is Candidate => "instance" in r;

/**
 * A model and engine whose numbers can be worked by hand: weights are a published 1 GiB GGUF,
 * KV is 2 x 1 layer x 1 head x 128 x 2 bytes = 512 B/token, overhead is 1 GiB, utilization 0.5.
 * At 1,024 tokens: (1 GiB + 0.5 MiB + 1 GiB) / 0.5 = 4097 MiB exactly.
 */
const TINY: QwenModel = {
  ...(MODELS[0] as QwenModel),
  id: "Tiny",
  arch: {
    layers: 1,
    hiddenSize: 128,
    intermediateSize: 256,
    attentionHeads: 1,
    kvHeads: 1,
    headDim: 128,
    vocabSize: 1000,
    tiedEmbeddings: true,
    moe: null,
  },
  ollama: { q4_K_M: { tag: "tiny:q4_K_M", sizeGB: 2 ** 30 / 1e9 } },
};
const TINY_ENGINE: Engine = {
  ...ENGINES.ollama,
  name: "tiny",
  memory: { ...ENGINES.ollama.memory, utilization: 0.5, overheadGiB: () => 1 },
};
const tinyInput: SizingInput = {
  model: TINY,
  engine: TINY_ENGINE,
  quantization: "q4_K_M",
  context: 1024,
  concurrency: 1,
  spot: false,
  objective: "cost",
  minTokensPerSecond: 20,
};

describe("memory boundary", () => {
  it("a GPU with exactly the required 4097 MiB fits", () => {
    const r = evaluateInstance(tinyInput, inst("a.x", "exact", 1, 1), lookup);
    assert.ok(isFit(r));
    assert.equal(r.memory.requiredGiB * 1024, 4097);
  });
  it("one MiB less is rejected, with the need and the size in the reason", () => {
    const r = evaluateInstance(tinyInput, inst("a.x", "small", 1, 1), lookup);
    assert.deepEqual(r, {
      instanceType: "a.x",
      kind: "gpu-memory",
      pricePerHour: 1,
      reason: "needs 4.0 GiB per GPU, has 4.0",
      requiredGiB: 4097 / 1024,
    });
  });
});

/**
 * Layer splitting, worked by hand. TWO_LAYER is TINY with 2 layers and a published 2 GiB GGUF:
 * KV is 2 x 2 layers x 1 head x 128 x 2 bytes = 1,024 B/token, so 1,024 tokens take 1 MiB.
 * On one GPU: (2 GiB + 1 MiB + 1 GiB overhead) / 0.5 = 6,146 MiB, over the "exact" GPU's 4,097.
 * Over 2 GPUs each holds 1 of 2 layers: (1 GiB + 0.5 MiB + 1 GiB) / 0.5 = 4,097 MiB, which fits.
 */
const TWO_LAYER: QwenModel = {
  ...TINY,
  id: "TwoLayer",
  arch: { ...TINY.arch, layers: 2 },
  ollama: { q4_K_M: { tag: "two-layer:q4_K_M", sizeGB: (2 * 2 ** 30) / 1e9 } },
};

describe("layer splitting", () => {
  it("2 layers over 2 GPUs: each GPU holds 1 GiB of weights and 0.5 MiB of KV, needs 4,097 MiB, and fits", () => {
    const r = evaluateInstance({ ...tinyInput, model: TWO_LAYER }, inst("a.2x", "exact", 2, 1), lookup);
    assert.ok(isFit(r), JSON.stringify(r));
    assert.equal(r.gpusUsed, 2);
    assert.equal(r.tensorParallelSize, 1);
    assert.equal(r.memory.weightsGiB, 1);
    assert.equal(r.memory.weightsTotalGiB, 2);
    assert.equal(r.memory.kvCacheGiB * 1024, 0.5);
    assert.equal(r.memory.kvBytesPerTokenPerGpu, 512);
    assert.equal(r.memory.requiredGiB * 1024, 4097);
    assert.deepEqual(r.notes, []);
  });

  it("2 layers on 1 GPU of the same size need 6,146 MiB and are rejected", () => {
    const r = evaluateInstance({ ...tinyInput, model: TWO_LAYER }, inst("a.1x", "exact", 1, 1), lookup);
    assert.deepEqual(r, {
      instanceType: "a.1x",
      kind: "gpu-memory",
      pricePerHour: 1,
      reason: "needs 6.0 GiB per GPU, has 4.0",
      requiredGiB: 6146 / 1024,
    });
  });

  it("uses as few GPUs as hold the model: 2 of 4, and says so", () => {
    const r = evaluateInstance({ ...tinyInput, model: TWO_LAYER }, inst("a.4x", "exact", 4, 1), lookup);
    assert.ok(isFit(r), JSON.stringify(r));
    assert.equal(r.gpusUsed, 2);
    assert.deepEqual(r.notes, ["uses 2 of 4 GPUs"]);
  });

  it("1 layer cannot split: over 2 GPUs it still needs all 4,097 MiB on one, and is rejected", () => {
    const r = evaluateInstance(tinyInput, inst("a.2x", "small", 2, 1), lookup);
    assert.deepEqual(r, {
      instanceType: "a.2x",
      kind: "gpu-memory",
      pricePerHour: 1,
      reason: "needs 4.0 GiB per GPU split over 2 GPUs, has 4.0",
      requiredGiB: 4097 / 1024,
    });
  });
});

describe("choice over a catalog", () => {
  const m8 = MODELS.find((m) => m.id === "Qwen3-8B");
  assert.ok(m8);
  const base: SizingInput = {
    model: m8,
    engine: ENGINES.vllm,
    quantization: "bf16",
    context: 32768,
    concurrency: 1,
    spot: false,
    objective: "cost",
    minTokensPerSecond: 20,
  };

  it("picks the cheapest fit and lists cheaper misfits first", () => {
    const { fits, rejected } = sizeOver(
      base,
      [inst("c.big", "big", 1, 5), inst("a.small", "small", 1, 1), inst("b.big", "big", 1, 3)],
      lookup,
    );
    assert.deepEqual(
      fits.map((f) => f.instance.type),
      ["b.big", "c.big"],
    );
    assert.deepEqual(
      rejected.map((r) => [r.instanceType, r.kind]),
      [["a.small", "gpu-memory"]],
    );
  });

  it("on a price tie prefers fewer GPUs", () => {
    const { fits } = sizeOver(base, [inst("a.four", "big", 4, 3), inst("z.one", "big", 1, 3)], lookup);
    assert.equal(fits[0]?.instance.type, "z.one");
  });

  it("uses the dearest spot zone for spot, and rejects types with no spot price", () => {
    const spotInput = { ...base, spot: true };
    const { fits, rejected } = sizeOver(
      spotInput,
      [inst("a.big", "big", 1, 8), inst("b.big", "big", 1, 3, { spotUsdPerHour: null })],
      lookup,
    );
    assert.equal(fits[0]?.pricePerHour, 4);
    assert.deepEqual(rejected, [
      { instanceType: "b.big", kind: "price", pricePerHour: null, reason: "no spot price listed for this type" },
    ]);
  });

  it("rejects fits over the price limit", () => {
    const { fits, rejected } = sizeOver({ ...base, maxPricePerHour: 4 }, [inst("a.big", "big", 1, 5)], lookup);
    assert.equal(fits.length, 0);
    assert.equal(rejected[0]?.reason, "$5.000/h is over the $4/h limit");
  });

  it("rejects hosts whose RAM cannot stage the weights", () => {
    const r = evaluateInstance(base, inst("a.big", "big", 1, 1, { ramGiB: 16 }), lookup);
    assert.deepEqual(r, {
      instanceType: "a.big",
      kind: "host-ram",
      pricePerHour: 1,
      reason: "host RAM 16 GiB cannot stage 15.3 GiB of weights (needs 17.3)",
    });
  });

  it("uses every GPU for tensor parallelism: 8 GPUs give TP 8", () => {
    const r = evaluateInstance(base, inst("a.8", "big", 8, 1), lookup);
    assert.ok(isFit(r));
    assert.equal(r.tensorParallelSize, 8);
    assert.equal(r.gpusUsed, 8);
  });

  it("lowers TP when the model forbids the largest one, and notes the idle GPUs", () => {
    const m4 = MODELS.find((m) => m.id === "Qwen3-4B");
    assert.ok(m4);
    const r = evaluateInstance({ ...base, model: m4, quantization: "fp8" }, inst("a.8", "big", 8, 1), lookup);
    assert.ok(isFit(r));
    assert.equal(r.tensorParallelSize, 4);
    assert.deepEqual(r.notes, [
      "4 of 8 GPUs idle: TP 8 splits the 9728-wide MLP into 1216-wide shards, not a multiple of the fp8 block size 128",
    ]);
  });

  it("turns on expert parallelism for MoE at TP > 1 only", () => {
    const moe = MODELS.find((m) => m.id === "Qwen3-30B-A3B");
    assert.ok(moe);
    const one = evaluateInstance({ ...base, model: moe }, inst("a.1", "big", 1, 1), lookup);
    const four = evaluateInstance({ ...base, model: moe }, inst("a.4", "big", 4, 1), lookup);
    assert.ok(isFit(one) && isFit(four));
    assert.deepEqual([one.expertParallel, four.expertParallel], [false, true]);
  });

  it("Ollama uses as few GPUs as hold the model", () => {
    const r = evaluateInstance(
      { ...base, engine: ENGINES.ollama, quantization: "q4_K_M" },
      inst("a.4", "big", 4, 1),
      lookup,
    );
    assert.ok(isFit(r));
    assert.equal(r.gpusUsed, 1);
    assert.deepEqual(r.notes, ["uses 1 of 4 GPUs"]);
  });

  it("the hardware verdict flows through: T4-class GPUs serve bf16 in fp16", () => {
    const r = evaluateInstance(base, inst("a.t", "turing", 1, 1), lookup);
    assert.ok(isFit(r));
    assert.equal(r.dtype, "float16");
  });
});
