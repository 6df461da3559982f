/**
 * The memory model against published measurements. Each row cites where the figure was measured;
 * a failure here means our weights or KV arithmetic drifted from what real engines report.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MODELS, type QwenModel } from "../components/catalog/models";
import type { Quantization } from "../components/catalog/quantizations";
import { GB, GIB, kvBytesPerToken, kvHeadsPerGpu, weightBytes } from "../components/footprint/memory";
import { vllmStyleOverheadGiB } from "../components/engines/vllm";

const MIB = 2 ** 20;
const model = (id: string): QwenModel => {
  const m = MODELS.find((x) => x.id === id);
  assert.ok(m, id);
  return m;
};

describe("weights vs Qwen's speed benchmark", () => {
  // https://github.com/QwenLM/Qwen3/blob/main/docs/source/getting_started/speed_benchmark.md (checked 2026-11-30):
  // Transformers GPU memory at a 1-token
  // input, MiB. The measurement is weights plus a small runtime allocation, so ours must sit below it
  // by no more than 700 MiB (the 20 rows show 130-680 MiB), for every size and format Qwen measured.
  const rows: [string, Quantization, number][] = [
    ["Qwen3-0.6B", "bf16", 1394],
    ["Qwen3-0.6B", "fp8", 1217],
    ["Qwen3-0.6B", "gptq-int8", 986],
    ["Qwen3-1.7B", "bf16", 3412],
    ["Qwen3-1.7B", "fp8", 2726],
    ["Qwen3-1.7B", "gptq-int8", 2229],
    ["Qwen3-4B", "bf16", 7973],
    ["Qwen3-4B", "fp8", 5281],
    ["Qwen3-4B", "awq", 2915],
    ["Qwen3-8B", "bf16", 15947],
    ["Qwen3-8B", "fp8", 9323],
    ["Qwen3-8B", "awq", 6177],
    ["Qwen3-14B", "bf16", 28402],
    ["Qwen3-14B", "fp8", 16012],
    ["Qwen3-14B", "awq", 9962],
    ["Qwen3-32B", "bf16", 62751],
    ["Qwen3-32B", "fp8", 33379],
    ["Qwen3-32B", "awq", 19109],
    ["Qwen3-30B-A3B", "bf16", 58462],
    ["Qwen3-30B-A3B", "fp8", 30296],
  ];
  for (const [id, q, measuredMiB] of rows) {
    it(`${id} ${q}: measured ${measuredMiB} MiB`, () => {
      const ours = weightBytes(model(id), q) / MIB;
      const gap = measuredMiB - ours;
      assert.ok(gap > 0 && gap <= 700, `ours ${ours.toFixed(0)} MiB, gap ${gap.toFixed(0)} MiB`);
    });
  }

  it("the brief's headline figures: 8B BF16 ~15.9 GB, FP8 ~9.3 GB, 30B-A3B BF16 ~58.5 GB (within 4%)", () => {
    const within = (x: number, target: number): boolean => Math.abs(x / target - 1) < 0.04;
    assert.ok(within(weightBytes(model("Qwen3-8B"), "bf16") / MIB, 15947));
    assert.ok(within(weightBytes(model("Qwen3-8B"), "fp8") / MIB, 9323));
    assert.ok(within(weightBytes(model("Qwen3-30B-A3B"), "bf16") / MIB, 58462));
  });
});

describe("weights vs engine logs", () => {
  it("vLLM 0.8.5 'Model loading took 14.2474 GiB' per rank for Qwen3-30B-A3B BF16 at TP 4 (vllm-project/vllm#17469): within 2%", () => {
    const perRank = weightBytes(model("Qwen3-30B-A3B"), "bf16") / 4 / GIB;
    assert.ok(Math.abs(perRank / 14.2474 - 1) < 0.02, `${perRank}`);
  });

  it("Ollama 'memory.weights.total=132.3 GiB' for qwen3:235b q4_K_M (ollama/ollama#10810): the 142 GB tag, within 1%", () => {
    const ours = weightBytes(model("Qwen3-235B-A22B"), "q4_K_M") / GIB;
    assert.ok(Math.abs(ours / 132.3 - 1) < 0.01, `${ours}`);
  });

  it("llama.cpp 'file size = 17.35 GiB' for Qwen3-30B-A3B Q4_K_M (ggml-org/llama.cpp#13217): the 19 GB tag, within 3%", () => {
    const ours = weightBytes(model("Qwen3-30B-A3B"), "q4_K_M") / GIB;
    assert.ok(Math.abs(ours / 17.35 - 1) < 0.03, `${ours}`);
  });

  // Tags without a published size use bits-per-parameter estimates. Checked against every published
  // size for models of 4B and up (below that, embeddings dominate and every tag has a published size).
  it("GGUF bits-per-parameter estimates land within 5% of every published tag size (models >= 4B)", () => {
    for (const m of MODELS.filter((x) => x.params.totalB >= 4)) {
      for (const [q, t] of Object.entries(m.ollama)) {
        if (t?.sizeGB === undefined) continue;
        const withoutSize: QwenModel = { ...m, ollama: { [q]: { tag: t.tag } } };
        const est = weightBytes(withoutSize, q as Quantization) / GB;
        assert.ok(
          Math.abs(est / t.sizeGB - 1) < 0.05,
          `${t.tag}: estimated ${est.toFixed(2)} GB, published ${t.sizeGB}`,
        );
      }
    }
  });
});

describe("KV cache per token", () => {
  // 2 (K and V) x layers x KV heads x head_dim 128 x 2 bytes, with layers and KV heads from each model's
  // config.json (https://huggingface.co/Qwen/<id>/blob/main/config.json): 0.6B and 1.7B 28 x 8, 4B and 8B 36 x 8,
  // 14B 40 x 8, 32B 64 x 8, 30B-A3B 48 x 4, 235B-A22B 94 x 4. E.g. 8B: 2 x 36 x 8 x 128 x 2 = 147,456 B = 144 KiB.
  const table: [string, number][] = [
    ["Qwen3-0.6B", 112],
    ["Qwen3-1.7B", 112],
    ["Qwen3-4B", 144],
    ["Qwen3-8B", 144],
    ["Qwen3-14B", 160],
    ["Qwen3-32B", 256],
    ["Qwen3-30B-A3B", 96],
    ["Qwen3-235B-A22B", 188],
  ];
  for (const [id, kib] of table) {
    it(`${id}: ${kib} KiB per token at 16-bit`, () => assert.equal(kvBytesPerToken(model(id).arch, 2), kib * 1024));
  }

  it("Ollama logged memory.required.kv=752.0 MiB for qwen3:235b at 4,096 tokens (ollama/ollama#10810)", () => {
    assert.equal((kvBytesPerToken(model("Qwen3-235B-A22B").arch, 2) * 4096) / MIB, 752);
  });

  it("SGLang logged 'K size: 8.23 GB' for 367,404 tokens of Qwen3-235B-A22B-FP8 at TP 4 (vllm-project/vllm#21348)", () => {
    const kOnly = kvBytesPerToken(model("Qwen3-235B-A22B").arch, 2, 4) / 2;
    assert.equal(((kOnly * 367404) / GIB).toFixed(2), "8.23");
  });

  it("vLLM logged 8.11 GiB of KV memory as 178,880 tokens for the same model at TP 4: within 1.5%", () => {
    const tokens = (8.11 * GIB) / kvBytesPerToken(model("Qwen3-235B-A22B").arch, 2, 4);
    assert.ok(Math.abs(tokens / 178880 - 1) < 0.015, `${tokens}`);
  });

  it("KV heads replicate once TP exceeds them: 30B-A3B's 4 heads give 4, 2, 1, 1 per GPU and 24 KiB per token at TP 4 and 8 (vllm qwen3.py)", () => {
    const arch = model("Qwen3-30B-A3B").arch; // 4 KV heads
    assert.deepEqual(
      [1, 2, 4, 8].map((tp) => kvHeadsPerGpu(arch, tp)),
      [4, 2, 1, 1],
    );
    // 2 x 48 layers x 1 head x 128 x 2 bytes = 24,576 B at TP 4; TP 8 still holds one whole head per GPU.
    assert.deepEqual(
      [4, 8].map((tp) => kvBytesPerToken(arch, 2, tp)),
      [24_576, 24_576],
    );
  });
});

describe("engine runtime overhead", () => {
  // vLLM start-up logs for 7B-34B models report non-torch 0.30-0.39 GiB + activation peak 1.01-2.53 GiB
  // + CUDA graphs 0.17-1.40 GiB (vllm-project/vllm#11251, #15815, #14452; gpustack/runner#251), i.e. 1.5-4.3 GiB.
  it("stays inside the range vLLM logs show for every dense model of 4B and up, at TP 1 and 2", () => {
    for (const m of MODELS.filter((x) => x.arch.moe === null && x.params.totalB >= 4)) {
      for (const tp of [1, 2]) {
        const o = vllmStyleOverheadGiB(m.arch, tp);
        assert.ok(o >= 1.5 && o <= 4.3, `${m.id} TP ${tp}: ${o.toFixed(2)} GiB`);
      }
    }
  });
});
