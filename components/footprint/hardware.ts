/**
 * Hardware rules: which formats and dtypes a GPU can run, and which tensor-parallel sizes a model
 * allows. Pure functions over catalog rows; engines call them with their own allowances.
 */
import type { Architecture, QwenModel } from "../catalog/models";
import type { GpuModel } from "../catalog/gpus";
import { FORMAT_SPECS, type Quantization } from "../catalog/quantizations";

/** What the GPU and format allow, or why not. */
export type HardwareVerdict =
  | {
      readonly ok: true;
      /** Activation/compute dtype the engine runs with. */
      readonly dtype: "bfloat16" | "float16";
      /** A note for the plan, e.g. that FP8 runs weight-only on this GPU. */
      readonly note?: string;
    }
  | { readonly ok: false; readonly reason: string };

/** Lowest compute capability with native bfloat16 (Ampere). */
export const BF16_MIN_CC = 8.0;
/** Lowest compute capability with FP8 tensor cores, so FP8 runs as W8A8 (Ada, Hopper, Blackwell). */
export const FP8_W8A8_MIN_CC = 8.9;

/** Engine-specific allowances for Hugging Face formats. */
export interface HfHardwareOptions {
  /** Engine name, for messages. */
  readonly engine: string;
  /** Whether the engine runs dense FP8 checkpoints weight-only (FP8 Marlin, W8A16) below CC 8.9. */
  readonly fp8WeightOnlyBelowAda: boolean;
  /** Lowest compute capability the engine's pinned build has kernels for. */
  readonly minComputeCapability: number;
}

/**
 * Rules for safetensors checkpoints on vLLM-style engines:
 * - bf16 needs CC >= 8.0; below it we serve in float16 (vLLM's advice: `--dtype half`);
 * - FP8 runs W8A8 at CC >= 8.9; dense FP8 runs weight-only on Ampere where the engine allows it;
 *   FP8 MoE needs CC >= 8.9 (vLLM's FP8 MoE kernels are Ada/Hopper only);
 * - AWQ and GPTQ need their kernels' minimum capability and run in float16.
 */
export function hfHardware(
  model: QwenModel,
  quant: Quantization,
  gpu: GpuModel,
  opts: HfHardwareOptions,
): HardwareVerdict {
  const spec = FORMAT_SPECS[quant];
  const cc = gpu.computeCapability;
  const ccText = `compute capability ${cc.toFixed(1)}`;
  if (spec.kind !== "hf") {
    return { ok: false, reason: `${opts.engine} does not load GGUF (${quant}); use ollama for GGUF quantizations` };
  }
  if (cc < opts.minComputeCapability) {
    return {
      ok: false,
      reason: `${opts.engine} needs compute capability >= ${opts.minComputeCapability.toFixed(1)}, ${gpu.name} has ${cc.toFixed(1)}`,
    };
  }
  if (cc < spec.minComputeCapability) {
    return {
      ok: false,
      reason: `${quant} needs compute capability >= ${spec.minComputeCapability.toFixed(1)}, ${gpu.name} has ${cc.toFixed(1)}`,
    };
  }
  switch (quant) {
    case "bf16":
      return cc >= BF16_MIN_CC
        ? { ok: true, dtype: "bfloat16" }
        : {
            ok: true,
            dtype: "float16",
            note: `${gpu.name} (${ccText}) has no bfloat16: serving BF16 weights in float16`,
          };
    case "fp8":
      if (cc >= FP8_W8A8_MIN_CC) return { ok: true, dtype: "bfloat16" };
      if (model.arch.moe !== null) {
        return {
          ok: false,
          reason: `FP8 MoE needs compute capability >= ${FP8_W8A8_MIN_CC}, ${gpu.name} has ${cc.toFixed(1)}`,
        };
      }
      if (!opts.fp8WeightOnlyBelowAda) {
        return {
          ok: false,
          reason: `${opts.engine} runs FP8 only at compute capability >= ${FP8_W8A8_MIN_CC}, ${gpu.name} has ${cc.toFixed(1)}`,
        };
      }
      return {
        ok: true,
        dtype: "bfloat16",
        note: `${gpu.name} (${ccText}) has no FP8 tensor cores: FP8 runs weight-only (W8A16, FP8 Marlin)`,
      };
    default:
      return { ok: true, dtype: "float16" };
  }
}

/** Rules for GGUF on Ollama: llama.cpp's CUDA backend runs every quantization from its minimum capability. */
export function ggufHardware(quant: Quantization, gpu: GpuModel): HardwareVerdict {
  const spec = FORMAT_SPECS[quant];
  if (spec.kind !== "gguf") {
    return { ok: false, reason: `ollama loads GGUF only; ${quant} is a Hugging Face format (use vllm or sglang)` };
  }
  if (gpu.computeCapability < spec.minComputeCapability) {
    return {
      ok: false,
      reason: `GGUF on CUDA needs compute capability >= ${spec.minComputeCapability.toFixed(1)}, ${gpu.name} has ${gpu.computeCapability.toFixed(1)}`,
    };
  }
  return { ok: true, dtype: gpu.computeCapability >= BF16_MIN_CC ? "bfloat16" : "float16" };
}

/** Why a tensor-parallel size is not allowed, or null when it is. */
export function tensorParallelProblem(
  arch: Architecture,
  quant: Quantization,
  tp: number,
  expertParallel: boolean,
): string | null {
  if (!Number.isInteger(Math.log2(tp))) return `TP ${tp} is not a power of two`;
  if (arch.attentionHeads % tp !== 0) return `TP ${tp} does not divide ${arch.attentionHeads} attention heads`;
  if (arch.kvHeads % tp !== 0 && tp % arch.kvHeads !== 0)
    return `TP ${tp} neither divides nor is a multiple of ${arch.kvHeads} KV heads`;
  const spec = FORMAT_SPECS[quant];
  if (spec.kind === "hf" && spec.blockSize > 0) {
    // Each rank holds a slice of every column-parallel output; a quantized slice must be whole blocks.
    const width = arch.moe === null ? arch.intermediateSize : expertParallel ? null : arch.moe.expertIntermediateSize;
    if (width !== null && (width / tp) % spec.blockSize !== 0) {
      return `TP ${tp} splits the ${width}-wide MLP into ${width / tp}-wide shards, not a multiple of the ${quant} block size ${spec.blockSize}`;
    }
  }
  return null;
}
