/**
 * The throughput model: how fast a sized choice generates, from the model's shape and the GPU's
 * datasheet. Decode is memory-bound at small batches: each step reads the weights a token touches
 * and every sequence's KV cache, so time per step is bytes over bandwidth. At large batches the
 * step becomes compute-bound (FLOPs per token x batch). Tensor parallelism splits the bytes and the
 * FLOPs over the ranks and pays two all-reduces per layer over the instance's interconnect.
 * Each engine's efficiency figures scale the datasheet; test/throughput.test.ts states the error
 * against published measurements. Pure arithmetic.
 */
import type { GpuModel } from "../catalog/gpus";
import type { Interconnect } from "../catalog/interconnect";
import type { QwenModel } from "../catalog/models";
import { FORMAT_SPECS, type Quantization } from "../catalog/quantizations";
import type { Engine } from "../engines/types";
import { FP8_W8A8_MIN_CC } from "../footprint/hardware";
import { kvBytesPerToken, paramCounts, weightBytes } from "../footprint/memory";

/** Prompt length the plan quotes time to first token for. */
export const TTFT_PROMPT_TOKENS = 1000;

/** One sized choice, as the throughput model needs it. */
export interface SpeedInput {
  readonly model: QwenModel;
  readonly quantization: Quantization;
  readonly engine: Engine;
  readonly gpu: GpuModel;
  readonly interconnect: Interconnect;
  /** Tensor-parallel size (1 for layer-split engines). */
  readonly tensorParallel: number;
  /** GPUs the engine uses; a layer split runs them one after another. */
  readonly gpusUsed: number;
  /** Compute dtype the engine runs in. */
  readonly dtype: "bfloat16" | "float16";
  /** Bytes of a GGUF checkpoint whose size the model catalog does not list (a measured file), else absent. */
  readonly checkpointBytes?: number;
}

/** Time of one decode step for a batch, split by cause, ms. */
export interface StepTime {
  /** Reading weights and KV cache at the achieved bandwidth. */
  readonly memoryMs: number;
  /** Matrix and attention FLOPs at the achieved TFLOPS. */
  readonly computeMs: number;
  /** Tensor-parallel all-reduces. */
  readonly communicationMs: number;
  /** The engine's fixed cost per step. */
  readonly overheadMs: number;
  /** max(memory, compute) + communication + overhead. */
  readonly totalMs: number;
}

/**
 * Tensor-parallel all-reduce cost per call: a fixed latency per ring hop and the link's achieved
 * one-way bandwidth. NCCL's ring all-reduce takes 2(n-1) steps and moves 2(n-1)/n of the buffer
 * per GPU (https://github.com/NVIDIA/nccl-tests/blob/master/doc/PERFORMANCE.md, read 2026-11-30).
 * The latencies are assumptions of the order NCCL reports for small messages: a few microseconds
 * per hop on NVLink, several on PCIe through the host bridge.
 */
export const ALL_REDUCE = {
  nvlink: { baseUs: 6, perHopUs: 0.6, oneWayShare: 0.5, efficiency: 0.7 },
  pcie: { baseUs: 10, perHopUs: 4, oneWayShare: 1, efficiency: 0.5 },
} as const;

/** One-way x16 PCIe bandwidth per generation, GB/s (PCI-SIG: 8, 16 and 32 GT/s per lane, 128b/130b). */
export const PCIE_X16_GBPS: Readonly<Record<3 | 4 | 5, number>> = { 3: 15.75, 4: 31.5, 5: 63 };

const GB = 1e9;

/**
 * Share of the engine's bandwidth efficiency that 4-bit weight-only kernels (AWQ and GPTQ through
 * Marlin) reach in decode: they unpack and rescale every weight, so they do not stream at the rate
 * 16- and 8-bit weights do. Fitted to the ratio of Qwen's own AWQ and FP8 figures for Qwen3-8B and
 * Qwen3-32B on one H20 (144.11/150.25 and 47.67/46.17 tokens/s at input 1: AWQ reads about 0.55 of
 * FP8's bytes yet runs no faster); a ratio on one machine and engine cancels their own efficiency.
 */
export const FOUR_BIT_DECODE_FACTOR = 0.55;

/**
 * Fraction of a MoE layer's experts that a batch of tokens touches, with routing taken as uniform:
 * 1 - (1 - k/E)^tokens. One sequence reads only its k experts; a large batch reads nearly all of them.
 */
export function expertsTouched(experts: number, activeExperts: number, tokens: number): number {
  return 1 - (1 - activeExperts / experts) ** tokens;
}

/** Bytes per parameter of the linear layers and of the 16-bit rest, for a format. */
function bytesPerParam(
  model: QwenModel,
  quant: Quantization,
  checkpointBytes?: number,
): { linear: number; rest: number } {
  const spec = FORMAT_SPECS[quant];
  if (spec.kind === "hf") return { linear: spec.linearBits / 8, rest: 2 };
  // A GGUF's published size covers every tensor; spread it evenly.
  const even = (checkpointBytes ?? weightBytes(model, quant)) / paramCounts(model.arch).total;
  return { linear: even, rest: even };
}

/**
 * Weight bytes one decode step reads on all GPUs together for a batch of `tokens` tokens: every
 * linear layer of a dense model; for MoE the attention and the experts the batch touches; the LM
 * head; norms and routers. The input embedding is a lookup, not a read of the table.
 */
export function weightBytesRead(
  model: QwenModel,
  quant: Quantization,
  tokens: number,
  checkpointBytes?: number,
): number {
  const p = paramCounts(model.arch);
  const b = bytesPerParam(model, quant, checkpointBytes);
  const a = model.arch;
  const head = a.tiedEmbeddings ? p.embedding : p.lmHead;
  let linear = p.linear;
  if (a.moe !== null) {
    const experts = a.layers * a.moe.experts * 3 * a.hiddenSize * a.moe.expertIntermediateSize;
    linear = p.linear - experts + experts * expertsTouched(a.moe.experts, a.moe.activeExperts, tokens);
  }
  return linear * b.linear + (head + p.other) * b.rest;
}

/** FLOPs of one token's forward pass at a context position: 2 per active weight, plus attention over the context. */
export function flopsPerToken(model: QwenModel, contextTokens: number): number {
  const p = paramCounts(model.arch);
  const a = model.arch;
  const head = a.tiedEmbeddings ? p.embedding : p.lmHead;
  const activeLinear = p.active - p.embedding - p.lmHead - p.other;
  // QK^T and attention x V: 2 FLOPs per multiply-add, per query head, per context position.
  const attention = 4 * a.layers * a.attentionHeads * a.headDim * contextTokens;
  return 2 * (activeLinear + head) + attention;
}

/**
 * Dense TFLOPS the format computes at on this GPU: FP8 runs W8A8 on FP8 tensor cores from compute
 * capability 8.9; weight-only formats (AWQ, GPTQ, GGUF, FP8 below 8.9) dequantize and multiply in 16 bit.
 */
export function effectiveTflops(gpu: GpuModel, quant: Quantization, dtype: "bfloat16" | "float16"): number {
  const s = gpu.speed;
  if (quant === "fp8" && gpu.computeCapability >= FP8_W8A8_MIN_CC && s.fp8Tflops !== null) return s.fp8Tflops;
  if (dtype === "bfloat16" && s.bf16Tflops !== null) return s.bf16Tflops;
  return s.fp16Tflops;
}

/** Achieved memory bandwidth of one GPU for this engine and format, bytes/s. */
function bandwidth(input: SpeedInput): number {
  const e = input.engine.speed;
  const arch = e.architectureFactor[input.gpu.architecture] ?? 1;
  const spec = FORMAT_SPECS[input.quantization];
  const fourBit = spec.kind === "hf" && spec.linearBits < 8 ? FOUR_BIT_DECODE_FACTOR : 1;
  return input.gpu.speed.memoryGBps * GB * e.bandwidthEfficiency * arch * fourBit;
}

/** Achieved compute of one GPU for this engine, FLOP/s. */
function compute(input: SpeedInput): number {
  return effectiveTflops(input.gpu, input.quantization, input.dtype) * 1e12 * input.engine.speed.computeEfficiency;
}

/** Time of one all-reduce of `bytes` over `ranks` GPUs, ms. */
export function allReduceMs(link: Interconnect, ranks: number, bytes: number): number {
  if (ranks <= 1) return 0;
  const c = link.kind === "nvlink" ? ALL_REDUCE.nvlink : ALL_REDUCE.pcie;
  const oneWayGBps =
    link.kind === "nvlink" ? link.perGpuGBps * c.oneWayShare : PCIE_X16_GBPS[link.generation] * c.oneWayShare;
  const latencyUs = c.baseUs + 2 * (ranks - 1) * c.perHopUs;
  const moved = (2 * (ranks - 1) * bytes) / ranks;
  return latencyUs / 1000 + (moved / (oneWayGBps * GB * c.efficiency)) * 1000;
}

/** Tensor-parallel traffic for a forward pass over `tokens` tokens: two all-reduces of the hidden state per layer, ms. */
function communicationMs(input: SpeedInput, tokens: number): number {
  if (input.tensorParallel <= 1) return 0;
  const a = input.model.arch;
  const bytes = tokens * a.hiddenSize * 2;
  return 2 * a.layers * allReduceMs(input.interconnect, input.tensorParallel, bytes);
}

/**
 * One decode step with `batch` sequences each at `contextTokens` of context. Under tensor
 * parallelism each rank reads its share of the weights and KV; expert parallelism spreads whole
 * experts instead, which reads the same bytes per rank on average (uneven routing makes the busiest
 * rank slower, which this model does not see). A layer split runs its GPUs in turn, so it reads
 * everything at one GPU's bandwidth.
 */
export function decodeStep(input: SpeedInput, batch: number, contextTokens: number): StepTime {
  const tp = input.tensorParallel;
  const split = input.engine.memory.split === "tensor" ? tp : 1;
  const weights = weightBytesRead(input.model, input.quantization, batch, input.checkpointBytes) / split;
  const kvPerToken = kvBytesPerToken(input.model.arch, input.engine.memory.kvBytesPerElement, split);
  const kv = kvPerToken * contextTokens * batch;
  const memoryMs = ((weights + kv) / bandwidth(input)) * 1000;
  const computeMs = ((batch * flopsPerToken(input.model, contextTokens)) / split / compute(input)) * 1000;
  const communicationMsValue = communicationMs(input, batch);
  const overheadMs = stepOverheadMs(input);
  return {
    memoryMs,
    computeMs,
    communicationMs: communicationMsValue,
    overheadMs,
    totalMs: Math.max(memoryMs, computeMs) + communicationMsValue + overheadMs,
  };
}

/** The engine's fixed cost per forward pass: the step itself plus, for MoE, each expert layer's. */
function stepOverheadMs(input: SpeedInput): number {
  const e = input.engine.speed;
  return e.stepOverheadMs + (input.model.arch.moe === null ? 0 : e.moeLayerOverheadMs * input.model.arch.layers);
}

/** Time to process `batch` prompts of `promptTokens` each in one pass (alone on the server when batch is 1), seconds. */
export function prefillSeconds(input: SpeedInput, promptTokens: number, batch = 1): number {
  const split = input.engine.memory.split === "tensor" ? input.tensorParallel : 1;
  const tokens = promptTokens * batch;
  // Causal attention: on average each prompt token attends to half its prompt.
  const flops = tokens * flopsPerToken(input.model, promptTokens / 2);
  const computeMs = (flops / split / compute(input)) * 1000;
  const weights = weightBytesRead(input.model, input.quantization, tokens, input.checkpointBytes);
  const memoryMs = (weights / split / bandwidth(input)) * 1000;
  const ms = Math.max(computeMs, memoryMs) + communicationMs(input, tokens) + stepOverheadMs(input);
  return ms / 1000;
}

/** Time to first token for a request on an idle server: the prefill plus the engine's fixed request cost, seconds. */
export function ttftSeconds(input: SpeedInput, promptTokens: number): number {
  return prefillSeconds(input, promptTokens) + input.engine.speed.requestOverheadMs / 1000;
}

/** Seconds to prefill `batch` prompts together and then generate `outputTokens` for each. */
export function generationSeconds(input: SpeedInput, promptTokens: number, outputTokens: number, batch = 1): number {
  // The context grows from the prompt to prompt + output; the step at the midpoint stands for the mean.
  const step = decodeStep(input, batch, promptTokens + outputTokens / 2);
  return prefillSeconds(input, promptTokens, batch) + (outputTokens * step.totalMs) / 1000;
}

/** The figures a plan shows for a choice. */
export interface SpeedEstimate {
  /** Tokens per second one sequence sees while all `concurrency` decode at full context. */
  readonly tokensPerSecondPerSequence: number;
  /** Output tokens per second of all sequences together. */
  readonly aggregateTokensPerSecond: number;
  /** Time to first token for a {@link TTFT_PROMPT_TOKENS}-token prompt on an idle server, seconds. */
  readonly ttftSeconds: number;
  /** Whether the decode step is limited by memory bandwidth or by compute. */
  readonly bound: "memory" | "compute";
  /** The decode step the figures come from. */
  readonly step: StepTime;
}

/** Estimate a choice at `concurrency` sequences, each holding `contextTokens` of context (the plan's sizing point). */
export function estimateSpeed(input: SpeedInput, concurrency: number, contextTokens: number): SpeedEstimate {
  const step = decodeStep(input, concurrency, contextTokens);
  const perSequence = 1000 / step.totalMs;
  return {
    tokensPerSecondPerSequence: perSequence,
    aggregateTokensPerSecond: perSequence * concurrency,
    ttftSeconds: ttftSeconds(input, TTFT_PROMPT_TOKENS),
    bound: step.computeMs > step.memoryMs ? "compute" : "memory",
    step,
  };
}

/** Dollars per million output tokens at a price per hour and an aggregate rate; null when the machine has no price. */
export function usdPerMillionTokens(pricePerHour: number, aggregateTokensPerSecond: number): number | null {
  if (pricePerHour <= 0 || aggregateTokensPerSecond <= 0) return null;
  return (pricePerHour / (aggregateTokensPerSecond * 3600)) * 1e6;
}

/** The interconnect as a reader names it, e.g. "NVSwitch (NVLink 4, 900 GB/s)" or "PCIe Gen4". */
export function interconnectLabel(link: Interconnect, gpusUsed: number): string {
  if (gpusUsed <= 1) return "single GPU";
  if (link.kind === "nvlink")
    return `${link.switched ? "NVSwitch" : "NVLink"} (NVLink ${link.generation}, ${link.perGpuGBps} GB/s per GPU)`;
  return `PCIe Gen${link.generation}${link.assumed === true ? " (assumed)" : ""}`;
}
