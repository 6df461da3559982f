/**
 * Sizing: for one model, engine, format, context and concurrency, find the cheapest GPU instance
 * that holds it, and say why every cheaper one does not. Pure: catalog rows in, a choice out.
 */
import { awsGpu, type GpuInstance, type GpuModel } from "../catalog/gpus";
import type { QwenModel } from "../catalog/models";
import type { Quantization } from "../catalog/quantizations";
import type { Engine } from "../engines/types";
import { estimateSpeed, type SpeedEstimate, usdPerMillionTokens } from "../throughput/speed";
import type { Objective } from "./request";
import { tensorParallelProblem } from "../footprint/hardware";
import { GIB, kvBytesPerToken, kvHeadsPerGpu, kvProjectionBytes, weightBytes } from "../footprint/memory";

/** Host memory kept for the OS and the engine process beyond the weights, GiB. */
export const HOST_RAM_RESERVE_GIB = 2;

/** What sizing needs to know. */
export interface SizingInput {
  readonly model: QwenModel;
  readonly engine: Engine;
  readonly quantization: Quantization;
  /** Context length per sequence, tokens. */
  readonly context: number;
  /** Sequences held in KV cache at full context at once. */
  readonly concurrency: number;
  /** Price spot capacity instead of on-demand. */
  readonly spot: boolean;
  /** Reject instances above this hourly price. */
  readonly maxPricePerHour?: number;
  /** How fits are ranked; today's cheapest-that-fits rule is "cost". */
  readonly objective: Objective;
  /** Per-sequence tokens/s the cost-per-token objective requires. */
  readonly minTokensPerSecond: number;
}

/** Per-GPU memory for one instance choice. All sizes GiB. */
export interface MemoryBreakdown {
  /** Weights on one GPU. */
  readonly weightsGiB: number;
  /** KV cache on one GPU for context x concurrency tokens. */
  readonly kvCacheGiB: number;
  /** CUDA context, activations, CUDA graphs on one GPU. */
  readonly overheadGiB: number;
  /** What the engine needs per GPU: (weights + KV + overhead) / utilization. */
  readonly requiredGiB: number;
  /** Memory one GPU has. */
  readonly gpuMemoryGiB: number;
  /** The engine's memory utilization fraction. */
  readonly utilization: number;
  /** Weights of the whole model, all GPUs together. */
  readonly weightsTotalGiB: number;
  /** KV-cache bytes per token on one GPU. */
  readonly kvBytesPerTokenPerGpu: number;
  /** Tokens the KV cache holds: context x concurrency. */
  readonly kvTokens: number;
}

/** An instance that can serve the request. */
export interface Candidate {
  readonly instance: GpuInstance;
  readonly gpu: GpuModel;
  /** Hourly price for the chosen market. */
  readonly pricePerHour: number;
  /** vLLM/SGLang tensor-parallel size; 1 for layer-split engines. */
  readonly tensorParallelSize: number;
  /** GPUs the engine uses (all for tensor parallelism; as few as fit for layer splits). */
  readonly gpusUsed: number;
  /** Whether MoE experts are spread across ranks instead of sharded (vLLM --enable-expert-parallel). */
  readonly expertParallel: boolean;
  /** Compute dtype. */
  readonly dtype: "bfloat16" | "float16";
  readonly memory: MemoryBreakdown;
  /** Estimated speed at the request's context and concurrency. */
  readonly speed: SpeedEstimate;
  /** Dollars per million output tokens at that speed, or null where the machine has no price. */
  readonly usdPerMillionTokens: number | null;
  /** Facts about this choice worth telling the user. */
  readonly notes: readonly string[];
}

/** Why an instance was rejected, by rule. */
export type RejectionKind = "price" | "hardware" | "gpu-memory" | "host-ram" | "over-budget" | "too-slow";

/** An instance that cannot, with the reason. */
export interface Rejection {
  readonly instanceType: string;
  /** Which rule rejected it. */
  readonly kind: RejectionKind;
  /** Hourly price for the chosen market, or null where none is listed. */
  readonly pricePerHour: number | null;
  readonly reason: string;
  /** Per-GPU memory need when memory was the reason (NothingFitsError.largest carries it). */
  readonly requiredGiB?: number;
}

/** Hourly price for the market, or null when the catalog lists none. */
export function priceFor(instance: GpuInstance, spot: boolean): number | null {
  if (!spot) return instance.onDemandUsdPerHour;
  // Spot prices vary by zone; plan with the dearest zone so the estimate is not optimistic.
  return instance.spotUsdPerHour?.max ?? null;
}

/** GiB with one decimal, for reasons. */
function gib(x: number): string {
  return x.toFixed(1);
}

/** Memory for a given split; `share` is the fraction of layers or the tensor-parallel rank's share. */
function breakdown(input: SizingInput, gpu: GpuModel, tp: number, layerShare: number): MemoryBreakdown {
  const { model, engine, quantization, context, concurrency } = input;
  const arch = model.arch;
  const weightsTotal = weightBytes(model, quantization);
  const kvTokens = context * concurrency;
  let weights: number;
  let kvPerToken: number;
  if (engine.memory.split === "tensor") {
    // K/V projections replicate once ranks outnumber KV heads; everything else shards evenly.
    const kvProj = kvProjectionBytes(model, quantization);
    weights = (weightsTotal - kvProj) / tp + (kvProj * kvHeadsPerGpu(arch, tp)) / arch.kvHeads;
    kvPerToken = kvBytesPerToken(arch, engine.memory.kvBytesPerElement, tp);
  } else {
    weights = weightsTotal * layerShare;
    kvPerToken = kvBytesPerToken(arch, engine.memory.kvBytesPerElement) * layerShare;
  }
  const weightsGiB = weights / GIB;
  const kvCacheGiB = (kvPerToken * kvTokens) / GIB;
  const overheadGiB = engine.memory.overheadGiB(arch, tp);
  return {
    weightsGiB,
    kvCacheGiB,
    overheadGiB,
    requiredGiB: (weightsGiB + kvCacheGiB + overheadGiB) / engine.memory.utilization,
    gpuMemoryGiB: gpu.usableMiB / 1024,
    utilization: engine.memory.utilization,
    weightsTotalGiB: weightsTotal / GIB,
    kvBytesPerTokenPerGpu: kvPerToken,
    kvTokens,
  };
}

/** The largest tensor-parallel size the instance's GPUs and the model allow. */
function largestTensorParallel(
  input: SizingInput,
  gpuCount: number,
): { tp: number; expertParallel: boolean; skipped: string[] } {
  const skipped: string[] = [];
  for (let tp = 2 ** Math.floor(Math.log2(gpuCount)); tp >= 1; tp /= 2) {
    const expertParallel = input.model.arch.moe !== null && tp > 1;
    const problem = tensorParallelProblem(input.model.arch, input.quantization, tp, expertParallel);
    if (problem === null) return { tp, expertParallel, skipped };
    skipped.push(problem);
  }
  return { tp: 1, expertParallel: false, skipped };
}

/** Looks up a GPU model by name; the AWS table by default, a synthetic one in tests. */
export type GpuLookup = (name: string) => GpuModel;

/** Decide whether one instance can serve the request. */
export function evaluateInstance(
  input: SizingInput,
  instance: GpuInstance,
  gpus: GpuLookup = awsGpu,
): Candidate | Rejection {
  const gpu: GpuModel = gpus(instance.gpu);
  const price = priceFor(instance, input.spot);
  const reject = (kind: RejectionKind, reason: string, requiredGiB?: number): Rejection =>
    requiredGiB === undefined
      ? { instanceType: instance.type, kind, pricePerHour: price, reason }
      : { instanceType: instance.type, kind, pricePerHour: price, reason, requiredGiB };
  if (price === null) return reject("price", "no spot price listed for this type");

  const verdict = input.engine.checkHardware(input.model, input.quantization, gpu);
  if (!verdict.ok) return reject("hardware", verdict.reason);
  const notes: string[] = verdict.note === undefined ? [] : [verdict.note];

  let tp = 1;
  let gpusUsed = 1;
  let expertParallel = false;
  let memory: MemoryBreakdown;
  if (input.engine.memory.split === "tensor") {
    const choice = largestTensorParallel(input, instance.gpuCount);
    tp = choice.tp;
    gpusUsed = tp;
    expertParallel = choice.expertParallel;
    if (tp < instance.gpuCount)
      notes.push(
        `${instance.gpuCount - tp} of ${instance.gpuCount} GPUs idle: ${choice.skipped[0] ?? `TP ${instance.gpuCount} not allowed`}`,
      );
    memory = breakdown(input, gpu, tp, 1);
    if (memory.requiredGiB > memory.gpuMemoryGiB) {
      return reject(
        "gpu-memory",
        `needs ${gib(memory.requiredGiB)} GiB per GPU at TP ${tp}, has ${gib(memory.gpuMemoryGiB)}`,
        memory.requiredGiB,
      );
    }
  } else {
    const layers = input.model.arch.layers;
    let fit: MemoryBreakdown | undefined;
    let last: MemoryBreakdown | undefined;
    for (let n = 1; n <= instance.gpuCount && fit === undefined; n++) {
      last = breakdown(input, gpu, 1, Math.ceil(layers / n) / layers);
      if (last.requiredGiB <= last.gpuMemoryGiB) {
        fit = last;
        gpusUsed = n;
      }
    }
    if (fit === undefined || last === undefined) {
      const m = last ?? breakdown(input, gpu, 1, 1);
      const over = instance.gpuCount > 1 ? ` split over ${instance.gpuCount} GPUs` : "";
      return reject(
        "gpu-memory",
        `needs ${gib(m.requiredGiB)} GiB per GPU${over}, has ${gib(m.gpuMemoryGiB)}`,
        m.requiredGiB,
      );
    }
    memory = fit;
    if (gpusUsed < instance.gpuCount) notes.push(`uses ${gpusUsed} of ${instance.gpuCount} GPUs`);
  }

  const ramNeed = memory.weightsTotalGiB + HOST_RAM_RESERVE_GIB;
  if (instance.ramGiB < ramNeed) {
    return reject(
      "host-ram",
      `host RAM ${instance.ramGiB} GiB cannot stage ${gib(memory.weightsTotalGiB)} GiB of weights (needs ${gib(ramNeed)})`,
    );
  }
  if (input.maxPricePerHour !== undefined && price > input.maxPricePerHour) {
    return reject("over-budget", `$${price.toFixed(3)}/h is over the $${input.maxPricePerHour}/h limit`);
  }
  const speed = estimateSpeed(
    {
      model: input.model,
      quantization: input.quantization,
      engine: input.engine,
      gpu,
      interconnect: instance.interconnect,
      tensorParallel: tp,
      gpusUsed,
      dtype: verdict.dtype,
    },
    input.concurrency,
    input.context,
  );
  return {
    instance,
    gpu,
    pricePerHour: price,
    tensorParallelSize: tp,
    gpusUsed,
    expertParallel,
    dtype: verdict.dtype,
    memory,
    speed,
    usdPerMillionTokens: usdPerMillionTokens(price, speed.aggregateTokensPerSecond),
    notes,
  };
}

function isCandidate(x: Candidate | Rejection): x is Candidate {
  return "instance" in x;
}

/** Order fits: cheaper first; on a tie fewer GPUs, then name, so the choice is stable. */
export function compareCandidates(a: Candidate, b: Candidate): number {
  return (
    a.pricePerHour - b.pricePerHour ||
    a.instance.gpuCount - b.instance.gpuCount ||
    a.instance.type.localeCompare(b.instance.type)
  );
}

const perSequence = (c: Candidate): number => c.speed.tokensPerSecondPerSequence;

/** Order fits for an objective; ties fall back to {@link compareCandidates}. */
export function rankFor(objective: Objective): (a: Candidate, b: Candidate) => number {
  if (objective === "cost") return compareCandidates;
  if (objective === "speed") return (a, b) => perSequence(b) - perSequence(a) || compareCandidates(a, b);
  return (a, b) => (a.usdPerMillionTokens ?? Infinity) - (b.usdPerMillionTokens ?? Infinity) || compareCandidates(a, b);
}

/** Sizing's verdicts: fits in the objective's order, misfits cheapest first, and fits below the speed floor. */
export interface SizingOutcome {
  readonly fits: Candidate[];
  readonly rejected: Rejection[];
  /** Fits the cost-per-token objective set aside as slower than its floor, fastest first. */
  readonly slow: Candidate[];
}

/** Evaluate every instance: the fits in the objective's order and the misfits with reasons (cheapest first). */
export function sizeOver(input: SizingInput, catalog: readonly GpuInstance[], gpus: GpuLookup = awsGpu): SizingOutcome {
  const results = catalog.map((i) => evaluateInstance(input, i, gpus));
  const all = results.filter(isCandidate);
  const floor = input.objective === "cost-per-token" ? input.minTokensPerSecond : 0;
  const fits = all.filter((c) => perSequence(c) >= floor).sort(rankFor(input.objective));
  const slow = all.filter((c) => perSequence(c) < floor).sort(rankFor("speed"));
  const tooSlow: Rejection[] = slow.map((c) => ({
    instanceType: c.instance.type,
    kind: "too-slow",
    pricePerHour: c.pricePerHour,
    reason:
      `about ${perSequence(c).toFixed(1)} tokens/s per sequence at ${input.context} x ${input.concurrency}, ` +
      `under the ${input.minTokensPerSecond} tokens/s floor`,
  }));
  const rejected = [...results.filter((r): r is Rejection => !isCandidate(r)), ...tooSlow].sort(
    (a, b) =>
      (a.pricePerHour ?? Infinity) - (b.pricePerHour ?? Infinity) || a.instanceType.localeCompare(b.instanceType),
  );
  return { fits, rejected, slow };
}
