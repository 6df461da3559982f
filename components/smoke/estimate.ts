/**
 * What the plan's throughput model predicts for one benchmark run: the stack's plan names the
 * model, engine, format, GPU and tensor-parallel layout; the bench settings give the streams and
 * lengths. `npm run smoke -- --bench` prints these beside what it measured, so every real run
 * checks the model. Pure: catalog lookups and arithmetic.
 */
import { GPU_INSTANCES } from "../catalog/gpus";
import type { Interconnect } from "../catalog/interconnect";
import { MODELS } from "../catalog/models";
import { QUANTIZATIONS, type Quantization } from "../catalog/quantizations";
import { KNOWN_GPUS } from "../catalog/workstationGpus";
import { ENGINES } from "../engines";
import { MACHINE_INTERCONNECT, MACHINE_TYPE } from "../sizing/machinePlan";
import { decodeStep, interconnectLabel, type SpeedInput, ttftSeconds } from "../throughput/speed";
import type { BenchEstimate } from "./report";

/**
 * The benchmark's one user message. Open-ended, so the model writes until max_tokens rather than
 * stopping early.
 */
export const BENCH_PROMPT = "Write a long story about a lighthouse keeper who finds a message in a bottle.";

/**
 * Tokens the server prefills for {@link BENCH_PROMPT}: an estimate, not a count from the tokenizer.
 * The text is 15 English words and a full stop, about 17 tokens in Qwen's byte-level BPE (about one
 * per common word; "lighthouse" may take two). Qwen3's chat template wraps one user message as
 * `<|im_start|>user\n ... <|im_end|>\n<|im_start|>assistant\n`, 8 more tokens (ids 151644, 872, 198,
 * 151645, 198, 151644, 77091, 198 in Qwen3-8B's tokenizer, as the HarryMayne/qwen_3_chat_templates
 * README prints them; template explained at https://huggingface.co/blog/qwen-3-chat-template-deep-dive,
 * both read 2026-11-30). The bench sends no system message and no thinking switch.
 */
export const BENCH_PROMPT_TOKENS = 25;

/** The plan fields the estimate needs; every one optional, since older stacks' plans lack some. */
export interface EstimatePlan {
  readonly model?: { readonly id?: string | undefined } | undefined;
  readonly engine?: string | undefined;
  readonly quantization?: string | undefined;
  readonly dtype?: string | undefined;
  readonly tensorParallelSize?: number | undefined;
  readonly gpusUsed?: number | undefined;
  readonly instance?: { readonly type?: string | undefined; readonly gpu?: string | undefined } | undefined;
}

/** The run the estimate is for. */
export interface EstimateRun {
  readonly streams: number;
  readonly maxTokens: number;
  /** Prompt tokens per request; {@link BENCH_PROMPT_TOKENS} unless given. */
  readonly promptTokens?: number;
}

const isQuantization = (q: string): q is Quantization => (QUANTIZATIONS as readonly string[]).includes(q);
const isEngine = (e: string): e is keyof typeof ENGINES => Object.hasOwn(ENGINES, e);

function interconnectFor(instanceType: string): Interconnect | undefined {
  if (instanceType === MACHINE_TYPE) return MACHINE_INTERCONNECT;
  return GPU_INSTANCES.find((i) => i.type === instanceType)?.interconnect;
}

/** The fields the estimate needs that a plan lacks, by their path in the plan. */
function lacking(plan: EstimatePlan): string[] {
  const fields: Record<string, unknown> = {
    "model.id": plan.model?.id,
    engine: plan.engine,
    quantization: plan.quantization,
    dtype: plan.dtype,
    tensorParallelSize: plan.tensorParallelSize,
    gpusUsed: plan.gpusUsed,
    "instance.type": plan.instance?.type,
    "instance.gpu": plan.instance?.gpu,
  };
  return Object.keys(fields).filter((k) => fields[k] === undefined);
}

/** The plan as the throughput model's input, or why it cannot be one. */
export function speedInputFromPlan(plan: EstimatePlan | undefined): SpeedInput | string {
  if (plan === undefined) return "the stack outputs carry no plan";
  const { engine: e, quantization: q, dtype, tensorParallelSize: tp, gpusUsed } = plan;
  const id = plan.model?.id;
  const type = plan.instance?.type;
  const gpuName = plan.instance?.gpu;
  if (
    id === undefined ||
    e === undefined ||
    q === undefined ||
    dtype === undefined ||
    tp === undefined ||
    gpusUsed === undefined ||
    type === undefined ||
    gpuName === undefined
  )
    return `the stack's plan lacks ${lacking(plan).join(", ")} (deployed by an older version)`;
  const model = MODELS.find((x) => x.id === id);
  if (model === undefined) return `model ${id} is not in this version's catalog`;
  if (!isEngine(e)) return `engine ${e} is not one this version knows`;
  if (!isQuantization(q)) return `quantization ${q} is not one this version knows`;
  if (dtype !== "bfloat16" && dtype !== "float16") return `dtype ${dtype} is not bfloat16 or float16`;
  const gpu = KNOWN_GPUS[gpuName];
  if (gpu === undefined) return `GPU ${gpuName} is not in this version's catalog`;
  const interconnect = interconnectFor(type);
  if (interconnect === undefined) return `instance type ${type} is not in this version's catalog`;
  return { model, quantization: q, engine: ENGINES[e], gpu, interconnect, tensorParallel: tp, gpusUsed, dtype };
}

/**
 * The model's figures for a run of `streams` sequences, each a prompt of `promptTokens` and up to
 * `maxTokens` of output: the decode step with every stream in flight at the midpoint context
 * (prompt + maxTokens / 2, as generationSeconds takes it), and TTFT for the prompt on an idle server.
 */
export function benchEstimate(plan: EstimatePlan | undefined, run: EstimateRun): BenchEstimate {
  const input = speedInputFromPlan(plan);
  if (typeof input === "string") return { missing: input };
  const promptTokens = run.promptTokens ?? BENCH_PROMPT_TOKENS;
  const contextTokens = promptTokens + run.maxTokens / 2;
  const step = decodeStep(input, run.streams, contextTokens);
  const perStream = 1000 / step.totalMs;
  return {
    tokensPerSecondPerStream: perStream,
    aggregateTokensPerSecond: perStream * run.streams,
    ttftSeconds: ttftSeconds(input, promptTokens),
    streams: run.streams,
    promptTokens,
    contextTokens,
    setup:
      `${input.model.id} ${input.quantization} on ${input.engine.name}, ` +
      `${input.gpusUsed} x ${input.gpu.name}, ${interconnectLabel(input.interconnect, input.gpusUsed)}`,
  };
}
