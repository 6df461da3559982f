/**
 * What a user asks for: the sizing request, validated with zod. The CLI and the stack config both
 * parse into this shape, so both report mistakes the same way.
 */
import { z } from "zod";
import { GPU_INSTANCES } from "../catalog/gpus";
import { QUANTIZATIONS } from "../catalog/quantizations";
import { DEFAULT_REGION, REGION_NAMES } from "../catalog/regions";
import { ENGINE_NAMES } from "../engines";
import { zodToUserError } from "../errors/zodErrors";

/** What a plan optimises: dollars per million output tokens above a speed floor (default), price alone, or speed. */
export const OBJECTIVES = ["cost-per-token", "cost", "speed"] as const;
/** One plan objective. */
export type Objective = (typeof OBJECTIVES)[number];
/** The objective a request without one gets. */
export const DEFAULT_OBJECTIVE: Objective = "cost-per-token";
/** Per-sequence decode speed the default objective requires unless told otherwise: a comfortable reading speed. */
export const DEFAULT_MIN_TOKENS_PER_SECOND = 20;

/** Default context length in tokens: Qwen3's native window. */
export const DEFAULT_CONTEXT = 32768;
/** Shortest context we plan for; below it thinking output does not fit. */
export const MIN_CONTEXT = 1024;
/** Most parallel full-context sequences we plan for. */
export const MAX_CONCURRENCY = 1024;

const FAMILIES = [...new Set(GPU_INSTANCES.map((i) => i.family))];
const TYPES = GPU_INSTANCES.map((i) => i.type);

/** A context length in tokens. */
export const ContextSchema = z
  .int("must be a whole number of tokens")
  .min(MIN_CONTEXT, `must be at least ${MIN_CONTEXT} tokens`);

/** Accept any case for quantization names (`Q4_K_M`, `FP8`), returning the canonical spelling. */
const quantization = z.preprocess((v) => {
  if (typeof v !== "string") return v;
  const hit = QUANTIZATIONS.find((q) => q.toLowerCase() === v.trim().toLowerCase());
  return hit ?? v;
}, z.enum(QUANTIZATIONS));

/** The sizing request schema. Unknown keys are errors, so typos never pass silently. */
export const PlanRequestSchema = z.strictObject({
  /** Model spelling: name, Hugging Face repo or Ollama tag. */
  model: z
    .string()
    .min(1)
    .describe(
      "Name a Qwen3 model: a name (Qwen3-8B), a Hugging Face repo (Qwen/Qwen3-8B-FP8) or an Ollama tag (qwen3:8b)",
    ),
  /** Inference engine. */
  engine: z.enum(ENGINE_NAMES).describe("Name the inference engine"),
  /** Weight format; defaults to the engine's default (bf16 or q4_K_M), or what the model spelling names. */
  quantization: quantization.optional().describe("Name a weight format, or leave it out for the engine's default"),
  /** Context length per sequence, tokens. */
  context: ContextSchema.default(DEFAULT_CONTEXT).describe(
    `Give the context length per sequence in tokens, at least ${MIN_CONTEXT} (default ${DEFAULT_CONTEXT})`,
  ),
  /** Sequences served in parallel at full context. */
  concurrency: z
    .int("must be a whole number")
    .min(1, "must be at least 1")
    .max(MAX_CONCURRENCY, `must be at most ${MAX_CONCURRENCY}`)
    .default(1)
    .describe(`Give the number of parallel full-context sequences, 1 to ${MAX_CONCURRENCY} (default 1)`),
  /** Only consider these instance families (e.g. g6e, p5). */
  families: z.array(z.enum(FAMILIES)).min(1).optional().describe("Give a list of instance families, e.g. g6e,p5"),
  /** Only consider these instance types. */
  instanceTypes: z
    .array(z.enum(TYPES))
    .min(1)
    .optional()
    .describe("Give a list of instance types, e.g. g6e.xlarge,g6e.2xlarge"),
  /** Upper bound on the hourly price, USD. */
  maxPricePerHour: z
    .number("must be a number of USD")
    .positive("must be above 0")
    .optional()
    .describe("Give the most you will pay per hour in USD, e.g. 2.5"),
  /** Upper bound on the plan's monthly cost at 730 h (times fleet.maxReplicas on a fleet), USD. */
  maxMonthlyCost: z
    .number("must be a number of USD")
    .positive("must be above 0")
    .optional()
    .describe(
      "Give the most you will pay per month in USD at 730 hours (times fleet.maxReplicas on a fleet), e.g. 1500",
    ),
  /** What to optimise among the machines that fit. */
  objective: z
    .enum(OBJECTIVES)
    .optional()
    .describe(
      `Name what to optimise: cost-per-token (default: $ per million output tokens among machines at least as fast as ` +
        "minTokensPerSecond), cost (cheapest per hour that fits) or speed (fastest per sequence within maxPricePerHour)",
    ),
  /** Per-sequence decode speed the cost-per-token objective requires, tokens/s. */
  minTokensPerSecond: z
    .number("must be a number of tokens per second")
    .positive("must be above 0")
    .optional()
    .describe(
      `Give the per-sequence tokens/s a machine must reach at full context and concurrency (default ${DEFAULT_MIN_TOKENS_PER_SECOND})`,
    ),
  /** AWS region whose prices and offered types the plan uses. */
  region: z.enum(REGION_NAMES).optional().describe(`Name an AWS region the catalog prices (default ${DEFAULT_REGION})`),
  /** Price for spot capacity instead of on-demand. */
  spot: z.boolean().default(false).describe("Give true for spot capacity or false for on-demand"),
  /** Pin the weights: a Hugging Face commit (40 hex) for vLLM/SGLang, an Ollama manifest digest (64 hex) for Ollama. */
  modelRevision: z
    .string()
    .regex(/^(?:[0-9a-f]{40}|[0-9a-f]{64})$/, "must be a 40-hex Hugging Face commit or a 64-hex Ollama digest")
    .optional()
    .describe("Give a Hugging Face commit (vLLM, SGLang) or an Ollama manifest digest (Ollama), lower-case hex"),
});

/**
 * A validated sizing request; targets that run the engine in a container network set bindHost, and a
 * target that runs several copies of the machine (the AWS fleet, at fleet.maxReplicas) sets replicas for maxMonthlyCost.
 */
export type PlanRequest = z.output<typeof PlanRequestSchema> & {
  readonly bindHost?: "127.0.0.1" | "0.0.0.0";
  readonly replicas?: number;
};
/** A sizing request as a user may write it (defaults optional). */
export type PlanRequestInput = z.input<typeof PlanRequestSchema>;

/** Validate a raw request, throwing a {@link UserError} on the first problem. */
export function parsePlanRequest(raw: unknown): PlanRequest {
  const r = PlanRequestSchema.safeParse(raw);
  if (!r.success) throw zodToUserError(r.error, raw, PlanRequestSchema);
  return r.data;
}
