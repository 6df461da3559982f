/**
 * The memory model: parameter counts from the architecture, weight bytes per format,
 * KV-cache bytes per token, and the activation term engines add. Pure arithmetic.
 */
import type { Architecture, QwenModel } from "../catalog/models";
import { FORMAT_SPECS, type Quantization } from "../catalog/quantizations";

/** Bytes in a GiB. */
export const GIB = 2 ** 30;
/** Bytes in a GB, the unit of published download sizes. */
export const GB = 1e9;

/** Parameter counts derived from config.json, split the way quantized checkpoints store them. */
export interface ParamCounts {
  /** Input embedding matrix. */
  readonly embedding: number;
  /** Output head; 0 when tied to the embedding. */
  readonly lmHead: number;
  /** Linear layers that quantized checkpoints quantize: attention projections and MLP or expert weights. */
  readonly linear: number;
  /** What stays 16-bit besides embeddings: norms and MoE routers. */
  readonly other: number;
  /** Everything. */
  readonly total: number;
  /** Parameters one token touches (differs from total only for MoE). */
  readonly active: number;
}

/** Count parameters from the architecture, as the model card counts them. */
export function paramCounts(arch: Architecture): ParamCounts {
  const h = arch.hiddenSize;
  const q = arch.attentionHeads * arch.headDim;
  const kv = arch.kvHeads * arch.headDim;
  // q, k, v and o projections; Qwen3 has no QKV bias.
  const attention = h * q + 2 * h * kv + q * h;
  // Per-head RMSNorm on q and k (QK-Norm), plus the two per-layer RMSNorms.
  const norms = 2 * arch.headDim + 2 * h;
  let mlp: number;
  let mlpActive: number;
  let router = 0;
  if (arch.moe === null) {
    mlp = 3 * h * arch.intermediateSize;
    mlpActive = mlp;
  } else {
    const expert = 3 * h * arch.moe.expertIntermediateSize;
    mlp = arch.moe.experts * expert;
    mlpActive = arch.moe.activeExperts * expert;
    router = h * arch.moe.experts;
  }
  const embedding = arch.vocabSize * h;
  const lmHead = arch.tiedEmbeddings ? 0 : arch.vocabSize * h;
  const linear = arch.layers * (attention + mlp);
  const other = arch.layers * (norms + router) + h;
  const total = embedding + lmHead + linear + other;
  const active = embedding + lmHead + arch.layers * (attention + mlpActive + norms + router) + h;
  return { embedding, lmHead, linear, other, total, active };
}

/** Bytes of weights for a model in a format, as loaded on the GPU (all shards together). */
export function weightBytes(model: QwenModel, quant: Quantization): number {
  const spec = FORMAT_SPECS[quant];
  const p = paramCounts(model.arch);
  if (spec.kind === "hf") {
    const lmHead = spec.untiesEmbeddings && model.arch.tiedEmbeddings ? p.embedding : p.lmHead;
    return (p.embedding + lmHead + p.other) * 2 + (p.linear * spec.linearBits) / 8;
  }
  const tag = model.ollama[quant as keyof typeof model.ollama];
  if (tag?.sizeGB !== undefined) return tag.sizeGB * GB;
  return (p.total * spec.estimatedBitsPerParam) / 8;
}

/** Whether {@link weightBytes} for a GGUF format is a published size or our estimate. */
export function weightsArePublished(model: QwenModel, quant: Quantization): boolean {
  const spec = FORMAT_SPECS[quant];
  if (spec.kind === "hf") return true;
  return model.ollama[quant as keyof typeof model.ollama]?.sizeGB !== undefined;
}

/**
 * KV heads one GPU holds under tensor parallelism. vLLM and SGLang partition KV heads while
 * there are at least as many as ranks, then replicate each head (Qwen3 model code asserts this).
 */
export function kvHeadsPerGpu(arch: Architecture, tensorParallel: number): number {
  return Math.max(1, arch.kvHeads / tensorParallel);
}

/** KV-cache bytes per token on one GPU: 2 (K and V) x layers x KV heads x head_dim x bytes. */
export function kvBytesPerToken(arch: Architecture, bytesPerElement: number, tensorParallel = 1): number {
  return 2 * arch.layers * kvHeadsPerGpu(arch, tensorParallel) * arch.headDim * bytesPerElement;
}

/**
 * Peak activation bytes for one forward pass over `tokens` tokens on one tensor-parallel rank,
 * plus fp32 logits for `sequences` sequences. An upper-bound shape rather than a trace:
 * the MLP's gate/up/act buffers (width split by TP) and a few hidden-size buffers.
 */
export function activationBytes(arch: Architecture, tensorParallel: number, tokens: number, sequences: number): number {
  const mlpWidth = arch.moe === null ? arch.intermediateSize : arch.moe.activeExperts * arch.moe.expertIntermediateSize;
  const perToken = (4 * mlpWidth) / tensorParallel + 6 * arch.hiddenSize;
  return tokens * perToken * 2 + sequences * arch.vocabSize * 4;
}

/** Bytes of the K and V projection weights, which tensor parallelism replicates once ranks outnumber KV heads. */
export function kvProjectionBytes(model: QwenModel, quant: Quantization): number {
  const spec = FORMAT_SPECS[quant];
  const a = model.arch;
  const params = a.layers * 2 * a.hiddenSize * a.kvHeads * a.headDim;
  return spec.kind === "hf" ? (params * spec.linearBits) / 8 : (params * spec.estimatedBitsPerParam) / 8;
}
