/**
 * Hardware rules, one row per rule: dtype support by compute capability, FP8 paths, GGUF vs
 * safetensors per engine, and the tensor-parallel constraints vLLM and SGLang enforce.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { GPU_MODELS } from "../components/catalog/gpus";
import { MODELS, type QwenModel } from "../components/catalog/models";
import type { Quantization } from "../components/catalog/quantizations";
import { tensorParallelProblem } from "../components/footprint/hardware";
import { ENGINES } from "../components/engines";

const model = (id: string): QwenModel => {
  const m = MODELS.find((x) => x.id === id);
  assert.ok(m, id);
  return m;
};

describe("dtype and format rules", () => {
  const cases: {
    name: string;
    engine: keyof typeof ENGINES;
    model: string;
    quant: Quantization;
    gpu: keyof typeof GPU_MODELS;
    expect: object;
  }[] = [
    {
      name: "bf16 on Ada runs bf16",
      engine: "vllm",
      model: "Qwen3-8B",
      quant: "bf16",
      gpu: "L4",
      expect: { ok: true, dtype: "bfloat16" },
    },
    {
      name: "bf16 on T4 (CC 7.5) falls back to fp16 and says so",
      engine: "vllm",
      model: "Qwen3-8B",
      quant: "bf16",
      gpu: "T4",
      expect: {
        ok: true,
        dtype: "float16",
        note: "T4 (compute capability 7.5) has no bfloat16: serving BF16 weights in float16",
      },
    },
    {
      name: "fp8 on Ada runs W8A8",
      engine: "vllm",
      model: "Qwen3-8B",
      quant: "fp8",
      gpu: "L40S",
      expect: { ok: true, dtype: "bfloat16" },
    },
    {
      name: "dense fp8 on Ampere runs weight-only on vLLM",
      engine: "vllm",
      model: "Qwen3-8B",
      quant: "fp8",
      gpu: "A10G",
      expect: {
        ok: true,
        dtype: "bfloat16",
        note: "A10G (compute capability 8.6) has no FP8 tensor cores: FP8 runs weight-only (W8A16, FP8 Marlin)",
      },
    },
    {
      name: "FP8 MoE does not run on Ampere",
      engine: "vllm",
      model: "Qwen3-30B-A3B",
      quant: "fp8",
      gpu: "A100-80GB",
      expect: { ok: false, reason: "FP8 MoE needs compute capability >= 8.9, A100-80GB has 8.0" },
    },
    {
      name: "SGLang runs dense fp8 weight-only on Ampere too (Marlin)",
      engine: "sglang",
      model: "Qwen3-8B",
      quant: "fp8",
      gpu: "A10G",
      expect: {
        ok: true,
        dtype: "bfloat16",
        note: "A10G (compute capability 8.6) has no FP8 tensor cores: FP8 runs weight-only (W8A16, FP8 Marlin)",
      },
    },
    {
      name: "SGLang's pinned build has no kernels for T4",
      engine: "sglang",
      model: "Qwen3-8B",
      quant: "awq",
      gpu: "T4",
      expect: { ok: false, reason: "sglang needs compute capability >= 8.0, T4 has 7.5" },
    },
    {
      name: "fp8 below Ampere is refused",
      engine: "vllm",
      model: "Qwen3-8B",
      quant: "fp8",
      gpu: "T4",
      expect: { ok: false, reason: "fp8 needs compute capability >= 8.0, T4 has 7.5" },
    },
    {
      name: "AWQ runs on Turing in fp16",
      engine: "vllm",
      model: "Qwen3-8B",
      quant: "awq",
      gpu: "T4",
      expect: { ok: true, dtype: "float16" },
    },
    {
      name: "fp8 on Blackwell runs W8A8",
      engine: "sglang",
      model: "Qwen3-235B-A22B",
      quant: "fp8",
      gpu: "B200",
      expect: { ok: true, dtype: "bfloat16" },
    },
    {
      name: "vLLM refuses GGUF names",
      engine: "vllm",
      model: "Qwen3-8B",
      quant: "q4_K_M",
      gpu: "L4",
      expect: { ok: false, reason: "vllm does not load GGUF (q4_K_M); use ollama for GGUF quantizations" },
    },
    {
      name: "Ollama refuses safetensors formats",
      engine: "ollama",
      model: "Qwen3-8B",
      quant: "fp8",
      gpu: "L4",
      expect: { ok: false, reason: "ollama loads GGUF only; fp8 is a Hugging Face format (use vllm or sglang)" },
    },
    {
      name: "Ollama runs GGUF on T4",
      engine: "ollama",
      model: "Qwen3-8B",
      quant: "q4_K_M",
      gpu: "T4",
      expect: { ok: true, dtype: "float16" },
    },
  ];
  for (const c of cases) {
    it(c.name, () =>
      assert.deepEqual(ENGINES[c.engine].checkHardware(model(c.model), c.quant, GPU_MODELS[c.gpu]), c.expect),
    );
  }
});

describe("tensor-parallel rules", () => {
  const cases: { name: string; model: string; quant: Quantization; tp: number; ep: boolean; problem: string | null }[] =
    [
      { name: "TP 1 always works", model: "Qwen3-14B", quant: "bf16", tp: 1, ep: false, problem: null },
      {
        name: "TP must be a power of two",
        model: "Qwen3-8B",
        quant: "bf16",
        tp: 3,
        ep: false,
        problem: "TP 3 is not a power of two",
      },
      { name: "TP 8 divides 14B's 40 heads", model: "Qwen3-14B", quant: "bf16", tp: 8, ep: false, problem: null },
      {
        name: "TP 16 does not divide 40 heads",
        model: "Qwen3-14B",
        quant: "bf16",
        tp: 16,
        ep: false,
        problem: "TP 16 does not divide 40 attention heads",
      },
      {
        name: "TP 32 does not divide 0.6B's 16 heads",
        model: "Qwen3-0.6B",
        quant: "bf16",
        tp: 32,
        ep: false,
        problem: "TP 32 does not divide 16 attention heads",
      },
      {
        name: "TP 8 replicates 30B-A3B's 4 KV heads: allowed",
        model: "Qwen3-30B-A3B",
        quant: "bf16",
        tp: 8,
        ep: true,
        problem: null,
      },
      {
        name: "FP8 blocks: 4B's 9728-wide MLP over 8 ranks is 1216, not a multiple of 128",
        model: "Qwen3-4B",
        quant: "fp8",
        tp: 8,
        ep: false,
        problem: "TP 8 splits the 9728-wide MLP into 1216-wide shards, not a multiple of the fp8 block size 128",
      },
      {
        name: "FP8 blocks: 4B at TP 4 is 2432 = 19 x 128",
        model: "Qwen3-4B",
        quant: "fp8",
        tp: 4,
        ep: false,
        problem: null,
      },
      {
        name: "FP8 MoE without expert parallel: 30B-A3B experts 768/4 = 192 (the error Qwen documents)",
        model: "Qwen3-30B-A3B",
        quant: "fp8",
        tp: 4,
        ep: false,
        problem: "TP 4 splits the 768-wide MLP into 192-wide shards, not a multiple of the fp8 block size 128",
      },
      {
        name: "FP8 MoE with expert parallel keeps experts whole",
        model: "Qwen3-30B-A3B",
        quant: "fp8",
        tp: 4,
        ep: true,
        problem: null,
      },
      {
        name: "235B-A22B FP8 at TP 8 without EP hits 1536/8 = 192",
        model: "Qwen3-235B-A22B",
        quant: "fp8",
        tp: 8,
        ep: false,
        problem: "TP 8 splits the 1536-wide MLP into 192-wide shards, not a multiple of the fp8 block size 128",
      },
      {
        name: "AWQ group 128 applies too",
        model: "Qwen3-4B",
        quant: "awq",
        tp: 8,
        ep: false,
        problem: "TP 8 splits the 9728-wide MLP into 1216-wide shards, not a multiple of the awq block size 128",
      },
      {
        name: "GGUF has no TP constraint of its own",
        model: "Qwen3-4B",
        quant: "q4_K_M",
        tp: 8,
        ep: false,
        problem: null,
      },
    ];
  for (const c of cases) {
    it(c.name, () => assert.equal(tensorParallelProblem(model(c.model).arch, c.quant, c.tp, c.ep), c.problem));
  }
});
