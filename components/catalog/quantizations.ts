/**
 * Weight formats: what each stores per parameter and what the GPU must support to run it.
 * Pure data with sources; the sizing rules in `components/footprint/hardware.ts` read it.
 */
import type { Source } from "./source";
import { GGUF_QUANTS, HF_FORMATS, type GgufQuant, type HfFormat } from "./models";

/** Every quantization a user can ask for, across engines. */
export const QUANTIZATIONS = [...HF_FORMATS, ...GGUF_QUANTS] as const;
/** One quantization name. */
export type Quantization = HfFormat | GgufQuant;

/** How a Hugging Face checkpoint format stores weights. */
export interface HfFormatSpec {
  /** Safetensors checkpoints, loaded by vLLM and SGLang. */
  readonly kind: "hf";
  /** Bits per parameter of the quantized linear layers, scales and zero points included. */
  readonly linearBits: number;
  /**
   * Block or group size along the sharded dimension: a tensor-parallel shard of a quantized
   * linear layer must be a whole number of blocks. 0 when the format has no blocks.
   */
  readonly blockSize: number;
  /** Lowest compute capability whose kernels run the format at all. */
  readonly minComputeCapability: number;
  /** Whether checkpoints of tied-embedding models carry their own 16-bit LM head. */
  readonly untiesEmbeddings: boolean;
  /** Why the numbers are what they are. */
  readonly source: Source;
}

/** How an Ollama GGUF quantization stores weights. */
export interface GgufFormatSpec {
  /** GGUF files, loaded by Ollama (llama.cpp). */
  readonly kind: "gguf";
  /** Average bits per parameter over the whole file, for tags whose size no source gives. */
  readonly estimatedBitsPerParam: number;
  /** Lowest compute capability llama.cpp's CUDA backend supports. */
  readonly minComputeCapability: number;
  /** Where the estimate comes from. */
  readonly source: Source;
}

const QWEN_QUANT_DOCS: Source = {
  url: [
    "https://qwen.readthedocs.io/en/stable/deployment/vllm.html",
    "https://huggingface.co/Qwen/Qwen3-8B-FP8",
    "https://huggingface.co/docs/transformers/quantization/finegrained_fp8",
    "https://docs.vllm.ai/en/v0.32.0/features/quantization/",
  ],
  asOf: "2026-11-29",
  note: "Qwen3 FP8 is fine-grained, block-wise (weight_block_size 128x128) with BF16 embeddings and LM head; AWQ and GPTQ use group size 128",
};

/** Format specs, keyed by quantization name. */
export const FORMAT_SPECS: { readonly [Q in Quantization]: Q extends HfFormat ? HfFormatSpec : GgufFormatSpec } = {
  // Embeddings, LM head and norms stay 16-bit in every Qwen checkpoint; linearBits covers only the linear layers.
  bf16: {
    kind: "hf",
    linearBits: 16,
    blockSize: 0,
    minComputeCapability: 7.0,
    untiesEmbeddings: false,
    source: QWEN_QUANT_DOCS,
  },
  // One fp32 scale per 128x128 block adds 32/16384 bits per weight. Qwen's speed benchmark measures the FP8
  // builds of the tied 0.6B/1.7B/4B one embedding matrix (BF16) larger than the formula without it.
  fp8: {
    kind: "hf",
    linearBits: 8 + 32 / 16384,
    blockSize: 128,
    minComputeCapability: 8.0,
    untiesEmbeddings: true,
    source: QWEN_QUANT_DOCS,
  },
  // Group 128: one fp16 scale and one packed 4-bit zero point per group.
  awq: {
    kind: "hf",
    linearBits: 4 + (16 + 4) / 128,
    blockSize: 128,
    minComputeCapability: 7.5,
    untiesEmbeddings: false,
    source: QWEN_QUANT_DOCS,
  },
  "gptq-int4": {
    kind: "hf",
    linearBits: 4 + (16 + 4) / 128,
    blockSize: 128,
    minComputeCapability: 6.0,
    untiesEmbeddings: false,
    source: QWEN_QUANT_DOCS,
  },
  "gptq-int8": {
    kind: "hf",
    linearBits: 8 + (16 + 8) / 128,
    blockSize: 128,
    minComputeCapability: 6.0,
    untiesEmbeddings: false,
    source: QWEN_QUANT_DOCS,
  },
  // Averages from published tag sizes: qwen3:4b-instruct-2507 q4_K_M 2.5 GB, q8_0 4.3 GB, fp16 8.1 GB for 4.02B params.
  q4_K_M: {
    kind: "gguf",
    estimatedBitsPerParam: 5.0,
    minComputeCapability: 5.0,
    source: {
      url: "https://ollama.com/library/qwen3/tags",
      asOf: "2025-09-01",
      note: "2.5 GB x 8 / 4.02B = 4.98 bits (sizes read from a copy of the page)",
    },
  },
  q8_0: {
    kind: "gguf",
    estimatedBitsPerParam: 8.6,
    minComputeCapability: 5.0,
    source: {
      url: "https://ollama.com/library/qwen3/tags",
      asOf: "2025-09-01",
      note: "4.3 GB x 8 / 4.02B = 8.56 bits; 33 GB / 30.5B = 8.66 (sizes read from a copy of the page)",
    },
  },
  fp16: {
    kind: "gguf",
    estimatedBitsPerParam: 16.1,
    minComputeCapability: 5.0,
    source: {
      url: "https://ollama.com/library/qwen3/tags",
      asOf: "2025-09-01",
      note: "8.1 GB x 8 / 4.02B = 16.1 bits (sizes read from a copy of the page)",
    },
  },
};
