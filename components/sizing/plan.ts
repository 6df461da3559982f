/**
 * The plan: one serialisable object that says what will run where, derived from a request.
 * The `plan` CLI prints it, the components consume it and the tests assert on it.
 */
import { AMI_FAMILY_NAMES } from "../catalog/amis";
import { awsGpu, type GpuInstance } from "../catalog/gpus";
import type { QwenModel, ThinkingMode } from "../catalog/models";
import { FORMAT_SPECS, type Quantization } from "../catalog/quantizations";
import { DEFAULT_REGION, findRegion, regionInstances, regionsOffering } from "../catalog/regions";
import { type ColdStartEstimate, type ColdStartSite, estimateColdStart } from "../coldstart/estimate";
import { ENGINE_NAMES, ENGINES, type EngineName } from "../engines";
import type { Engine } from "../engines/types";
import { UserError, type UserErrorParts } from "../errors/userError";
import { GIB, weightBytes, weightsArePublished } from "../footprint/memory";
import { interconnectLabel, TTFT_PROMPT_TOKENS } from "../throughput/speed";
import { checkMonthlyCost, HOURS_PER_MONTH } from "./costGuard";
import { resolveModel } from "./modelLookup";
import { DEFAULT_MIN_TOKENS_PER_SECOND, DEFAULT_OBJECTIVE, type Objective, type PlanRequest } from "./request";
import { sizeOver, type Candidate, type GpuLookup, type Rejection, type SizingInput } from "./sizing";

/** Hours in an average month, for monthly cost (kept in ./costGuard.ts with the guard that uses it). */
export { HOURS_PER_MONTH };
/** Region a plan is priced in when its request names none. */
export const PRICE_REGION = DEFAULT_REGION;
/** How many alternatives a plan lists. */
export const ALTERNATIVES_SHOWN = 5;

/** Share of the chosen cost per token another quantization must save before the plan mentions it. */
export const QUANTIZATION_SAVING_NOTED = 0.2;

/** Estimated speed and cost per token of one fit, rounded for reading. */
export interface SpeedFigures {
  /** Tokens/s one sequence sees with every sequence decoding at full context. */
  readonly tokensPerSecondPerSequence: number;
  /** Output tokens/s of all sequences together. */
  readonly aggregateTokensPerSecond: number;
  /** Time to first token for a {@link TTFT_PROMPT_TOKENS}-token prompt on an idle server, seconds. */
  readonly ttftSeconds: number;
  /** Dollars per million output tokens at the aggregate rate; null where the machine has no price. */
  readonly usdPerMillionOutputTokens: number | null;
  /** How the GPUs in use are linked, e.g. "PCIe Gen4" or "single GPU". */
  readonly interconnect: string;
  /** What limits a decode step. */
  readonly bound: "memory" | "compute";
}

/** The plan's speed estimate: the choice's figures and the point and rule they were ranked by. */
export interface PlanPerformance extends SpeedFigures {
  readonly objective: Objective;
  /** The per-sequence floor of the cost-per-token objective. */
  readonly minTokensPerSecond: number;
  /** Context per sequence and sequences in flight the figures assume: the request's sizing point. */
  readonly atContext: number;
  readonly atConcurrency: number;
  /** Prompt length of the TTFT figure. */
  readonly ttftPromptTokens: number;
  /** Always "estimate": no figure here was measured on this machine. */
  readonly kind: "estimate";
}

/** A fit, trimmed to what a reader compares. */
export interface PlanAlternative {
  readonly type: string;
  readonly gpu: string;
  readonly gpuCount: number;
  readonly pricePerHour: number;
  readonly tensorParallelSize: number;
  readonly perGpuGiB: number;
  readonly gpuMemoryGiB: number;
  readonly performance: SpeedFigures;
}

/** Everything downstream needs to serve one model on one machine. */
export interface Plan {
  /** Schema version of this object. */
  readonly version: 1;
  /** The request after defaults, in canonical names. */
  readonly request: {
    readonly model: string;
    readonly engine: EngineName;
    readonly quantization: Quantization;
    readonly context: number;
    readonly concurrency: number;
    readonly spot: boolean;
    /** AWS region whose prices and offered types were used. */
    readonly region: string;
    readonly maxPricePerHour: number | null;
    /** The monthly cost limit, USD, checked at 730 h (x replicas on a fleet). */
    readonly maxMonthlyCost: number | null;
    readonly families: readonly string[] | null;
    readonly instanceTypes: readonly string[] | null;
    readonly modelRevision: string | null;
    readonly objective: Objective;
    readonly minTokensPerSecond: number;
  };
  /** The model as the engine loads it. */
  readonly model: {
    readonly id: string;
    readonly thinking: ThinkingMode;
    /** Hugging Face repo (vLLM, SGLang) or null. */
    readonly repo: string | null;
    /** Ollama tag (Ollama) or null. */
    readonly ollamaTag: string | null;
    readonly paramsB: { readonly total: number; readonly active: number };
    readonly nativeContext: number;
    readonly moe: boolean;
  };
  readonly engine: EngineName;
  readonly quantization: Quantization;
  /** Compute dtype. */
  readonly dtype: "bfloat16" | "float16";
  /** Context length per sequence (vLLM --max-model-len, SGLang --context-length, OLLAMA_CONTEXT_LENGTH). */
  readonly contextLength: number;
  /** Sequences at full context the KV cache holds. */
  readonly concurrency: number;
  readonly tensorParallelSize: number;
  /** GPUs the engine uses. */
  readonly gpusUsed: number;
  /** MoE experts spread across ranks (vLLM --enable-expert-parallel). */
  readonly expertParallel: boolean;
  /** Static YaRN rope scaling, or null when the context is within the native window. */
  readonly yarn: { readonly factor: number; readonly originalMaxPositionEmbeddings: number } | null;
  /** The chosen instance. */
  readonly instance: {
    readonly type: string;
    readonly family: string;
    readonly gpu: string;
    readonly gpuCount: number;
    /** Usable memory per GPU, GiB. */
    readonly gpuMemoryGiB: number;
    readonly computeCapability: number;
    /** vCPUs; 0 on a described machine, where nobody told us. */
    readonly vcpus: number;
    /** Host RAM, GiB; 0 on a described machine whose RAM the config does not state. */
    readonly ramGiB: number;
    readonly market: "on-demand" | "spot";
    readonly pricePerHour: number;
    readonly priceRegion: string;
    readonly priceAsOf: string;
  };
  /** Memory per GPU, GiB. */
  readonly memory: {
    /** Estimated need per GPU, utilization headroom included. */
    readonly perGpuGiB: number;
    readonly gpuMemoryGiB: number;
    readonly weightsGiB: number;
    readonly kvCacheGiB: number;
    readonly overheadGiB: number;
    readonly utilization: number;
    readonly weightsTotalGiB: number;
    /** Whether the weight size is a published figure or an estimate from bits per parameter. */
    readonly weightsSize: "published" | "estimated";
    readonly kvBytesPerTokenPerGpu: number;
    readonly kvTokens: number;
  };
  /** Disk for weights and engine, GiB; targets add their OS. */
  readonly disk: { readonly weightsGiB: number; readonly engineGiB: number; readonly totalGiB: number };
  readonly cost: { readonly perHour: number; readonly perMonth: number };
  /** Estimated speed and cost per token (see components/throughput/speed.ts for the model). */
  readonly performance: PlanPerformance;
  /** Other fits, in the objective's order. */
  readonly alternatives: readonly PlanAlternative[];
  /** Instances that do not fit, cheapest first, each with its reason. */
  readonly rejected: readonly {
    readonly type: string;
    readonly pricePerHour: number | null;
    readonly reason: string;
  }[];
  /** What the machine will run, exactly; no secret values, only placeholders. */
  readonly serve: {
    /** Pinned engine image. */
    readonly image: string;
    readonly engineVersion: string;
    /** The engine's own command line, starting with the engine program. */
    readonly argv: readonly string[];
    readonly env: Readonly<Record<string, string>>;
    /** Engine port, reachable only from the host's 127.0.0.1 (or the Docker target's private network), behind the authenticating proxy. */
    readonly port: number;
    readonly healthPath: string;
    readonly openaiBasePath: "/v1";
    /** The `model` value clients send. */
    readonly servedModelName: string;
    /** Where the weights come from, the pinned revision if any, and their expected size. */
    readonly weights: {
      readonly source: "hf" | "ollama";
      readonly ref: string;
      readonly revision: string | null;
      readonly expectedBytes: number;
    };
    /** How clients authenticate; the key itself never appears in a plan. */
    readonly auth: "Authorization: Bearer <api-key>";
  };
  /** Cold start per phase, from sizes and documented rates (components/coldstart/estimate.ts); an estimate. */
  readonly coldStart: ColdStartEstimate;
  /** Things worth knowing about this choice. */
  readonly notes: readonly string[];
}

const round2 = (x: number): number => Math.round(x * 100) / 100;

/** The largest machine sizing considered for a request nothing fits, and what it lacked. */
export interface LargestOption {
  /** Instance type (the machine targets' stand-in type for a described machine). */
  readonly instanceType: string;
  /** GPU model name. */
  readonly gpu: string;
  readonly gpuCount: number;
  /** Memory one GPU has, GiB. */
  readonly gpuGiB: number;
  /** Memory one GPU would need, GiB, when GPU memory is what it lacked; null for any other rule. */
  readonly requiredGiB: number | null;
  /** Why it cannot serve, as the sizing rule words it ("needs 80.1 GiB per GPU at TP 1, has 22.4"). */
  readonly reason: string;
}

/** Nothing in the catalog (or on the described machine) can serve the request: a UserError with its facts as fields. */
export class NothingFitsError extends UserError {
  /** The largest option considered, or null when no instance passed the filters. */
  readonly largest: LargestOption | null;

  constructor(parts: UserErrorParts, largest: LargestOption | null) {
    super(parts);
    this.name = "NothingFitsError";
    this.largest = largest;
  }

  /** The same error under another key label, its fields kept. */
  override relabel(label: (key: string) => string): NothingFitsError {
    return new NothingFitsError(
      { key: label(this.key), value: this.value, problem: this.problem, hint: this.hint, choices: this.choices },
      this.largest,
    );
  }
}

/** Pick the quantization: explicit, else what the spelling names, else the engine default. */
function chooseQuantization(
  request: PlanRequest,
  engine: Engine,
  model: QwenModel,
  implied: Quantization | undefined,
): Quantization {
  const allowed: readonly Quantization[] = engine.quantizations;
  if (implied !== undefined && !allowed.includes(implied))
    throw unloadableSpelling(request.model, engine, model, implied);
  if (request.quantization !== undefined && implied !== undefined && request.quantization !== implied) {
    throw new UserError({
      key: "quantization",
      value: request.quantization,
      problem: `the model was given as "${request.model}", which names ${implied}.`,
      hint: `Drop the quantization setting, or name the model without a format suffix (${model.id}).`,
      choices: [implied],
    });
  }
  const quant =
    request.quantization ?? (implied !== undefined && allowed.includes(implied) ? implied : engine.quantizations[0]);
  if (!allowed.includes(quant)) {
    const kind = FORMAT_SPECS[quant].kind === "gguf" ? "an Ollama (GGUF) format" : "a Hugging Face format";
    throw new UserError({
      key: "quantization",
      value: quant,
      problem: `${quant} is ${kind}; ${engine.name} does not load it.`,
      hint: `Pick a quantization ${engine.name} loads, or switch engine.`,
      choices: allowed.filter((q) => available(model, q)),
    });
  }
  if (!available(model, quant)) {
    throw new UserError({
      key: "quantization",
      value: quant,
      problem: `Qwen publishes no ${quant} weights for ${model.id}.`,
      hint: `Pick a format published for ${model.id}.`,
      choices: allowed.filter((q) => available(model, q)),
    });
  }
  return quant;
}

/** The spellings that name a format: the plain name, then each format's repo or tag. */
function spellingsFor(model: QwenModel, formats: readonly Quantization[]): string[] {
  const named = formats.map((q) =>
    FORMAT_SPECS[q].kind === "hf"
      ? model.hf[q as keyof typeof model.hf]
      : model.ollama[q as keyof typeof model.ollama]?.tag,
  );
  return [model.id, ...named.filter((s): s is string => s !== undefined)];
}

/** A model spelling that names a format the engine cannot load: say which engines can, and what this one can. */
function unloadableSpelling(spelling: string, engine: Engine, model: QwenModel, implied: Quantization): UserError {
  const engines = ENGINE_NAMES.filter((e) => (ENGINES[e].quantizations as readonly Quantization[]).includes(implied));
  const formats = engine.quantizations.filter((q) => available(model, q));
  const kind = FORMAT_SPECS[implied].kind === "gguf" ? "an Ollama (GGUF) format" : "a Hugging Face format";
  return new UserError({
    key: "model",
    value: spelling,
    problem: `the name asks for ${implied} weights, ${kind} that ${engine.name} does not load.`,
    hint:
      `Serve ${implied} with engine ${engines.join(" or ")}, or keep ${engine.name} and name the model ` +
      `without the format (${model.id}); ${engine.name} loads ${formats.join(", ")} for it.`,
    choices: spellingsFor(model, formats),
  });
}

function available(model: QwenModel, q: Quantization): boolean {
  return FORMAT_SPECS[q].kind === "hf"
    ? model.hf[q as keyof typeof model.hf] !== undefined
    : model.ollama[q as keyof typeof model.ollama] !== undefined;
}

/** YaRN factor for a context: the stretch over the native window, rounded up to a quarter. */
export function yarnFactor(context: number, native: number): number {
  return Math.ceil((context / native) * 4) / 4;
}

function filterCatalog(request: PlanRequest, catalog: readonly GpuInstance[]): readonly GpuInstance[] {
  return catalog.filter(
    (i) =>
      (request.families === undefined || request.families.includes(i.family)) &&
      (request.instanceTypes === undefined || request.instanceTypes.includes(i.type)),
  );
}

function lighterFormats(engine: Engine, model: QwenModel, quant: Quantization): Quantization[] {
  const bits = (q: Quantization): number => {
    const s = FORMAT_SPECS[q];
    return s.kind === "hf" ? s.linearBits : s.estimatedBitsPerParam;
  };
  return engine.quantizations.filter((q) => available(model, q) && bits(q) < bits(quant));
}

/** Ways to need a smaller machine: lighter weights, a shorter context, fewer sequences. */
function lessDemanding(input: SizingInput): string[] {
  const { model, engine, quantization, context, concurrency } = input;
  const less: string[] = [];
  const lighter = lighterFormats(engine, model, quantization);
  if (lighter.length > 0) less.push(`a lighter quantization (${lighter.join(" or ")})`);
  if (context > 8192) less.push(`a shorter context (now ${context})`);
  if (concurrency > 1) less.push(`fewer parallel sequences (now ${concurrency})`);
  return less;
}

/** Instances that fit but cost more than the cap: the cap, not the model, is what to change. */
function overBudgetError(
  input: SizingInput,
  request: PlanRequest,
  cap: number,
  overBudget: readonly Rejection[],
): UserError {
  const { model, engine, quantization, context, concurrency } = input;
  // Rejections arrive cheapest first, so the first one is the cheapest instance that would fit.
  const cheapest = overBudget[0];
  const price = (cheapest?.pricePerHour ?? 0).toFixed(3);
  const filtered = request.families !== undefined || request.instanceTypes !== undefined;
  const other = [...(filtered ? ["more instance families or types"] : []), ...lessDemanding(input)];
  return new UserError({
    key: "maxPricePerHour",
    value: cap,
    problem:
      `no instance that can serve ${model.id} ${quantization} on ${engine.name} (context ${context} x ` +
      `${concurrency}) costs $${cap}/h or ` +
      `less${filtered ? " among the families and types allowed" : ""}.`,
    hint:
      `The cheapest that fits is ${cheapest?.instanceType ?? "none"} at $${price}/h ` +
      `${input.spot ? "spot" : "on-demand"}: raise the limit to at least ${price}` +
      `${other.length > 0 ? `, or try ${other.join(", ")}` : ""}.`,
  });
}

/** The largest option (most GPU memory in all; on a tie, the cheaper) and why it was rejected. */
function largestOption(
  considered: readonly GpuInstance[],
  rejected: readonly Rejection[],
  gpus: GpuLookup,
): LargestOption | null {
  const largest = [...considered].sort(
    (a, b) =>
      b.gpuCount * gpus(b.gpu).usableMiB - a.gpuCount * gpus(a.gpu).usableMiB ||
      a.onDemandUsdPerHour - b.onDemandUsdPerHour,
  )[0];
  if (largest === undefined) return null;
  const rejection = rejected.find((r) => r.instanceType === largest.type);
  return {
    instanceType: largest.type,
    gpu: largest.gpu,
    gpuCount: largest.gpuCount,
    gpuGiB: gpus(largest.gpu).usableMiB / 1024,
    requiredGiB: rejection?.requiredGiB ?? null,
    reason: rejection?.reason ?? "rejected",
  };
}

function noFitError(
  input: SizingInput,
  request: PlanRequest,
  considered: readonly GpuInstance[],
  rejected: readonly Rejection[],
  gpus: GpuLookup,
): UserError {
  const { model, engine, quantization, context, concurrency } = input;
  const overBudget = rejected.filter((r) => r.kind === "over-budget");
  if (request.maxPricePerHour !== undefined && overBudget.length > 0)
    return overBudgetError(input, request, request.maxPricePerHour, overBudget);
  const relax: string[] = [];
  if (rejected.some((r) => r.kind === "gpu-memory" || r.kind === "host-ram")) relax.push(...lessDemanding(input));
  if (request.maxPricePerHour !== undefined) relax.push(`a higher price limit (now $${request.maxPricePerHour}/h)`);
  if (request.families !== undefined || request.instanceTypes !== undefined)
    relax.push("more instance families or types");
  const largest = largestOption(considered, rejected, gpus);
  const largestText =
    largest === null
      ? "No instance type passed the filters."
      : `The largest option, ${largest.instanceType} (${largest.gpuCount} x ${largest.gpu}, ${largest.gpuGiB.toFixed(1)} GiB each): ${largest.reason}.`;
  return new NothingFitsError(
    {
      key: "model",
      value: `${model.id} ${quantization} on ${engine.name}, context ${context} x ${concurrency}`,
      problem: "no instance in the catalog can serve this.",
      hint: `${largestText} To fit, try ${relax.length > 0 ? relax.join(", ") : "another model"}.`,
    },
    largest,
  );
}

const round1 = (x: number): number => Math.round(x * 10) / 10;

/** A fit's speed figures, rounded: tokens/s to 0.1, TTFT to 10 ms, dollars per million tokens to 0.001. */
function speedFigures(c: Candidate): SpeedFigures {
  const usd = c.usdPerMillionTokens;
  return {
    tokensPerSecondPerSequence: round1(c.speed.tokensPerSecondPerSequence),
    aggregateTokensPerSecond: round1(c.speed.aggregateTokensPerSecond),
    ttftSeconds: round2(c.speed.ttftSeconds),
    usdPerMillionOutputTokens: usd === null ? null : Math.round(usd * 1000) / 1000,
    interconnect: interconnectLabel(c.instance.interconnect, c.gpusUsed),
    bound: c.speed.bound,
  };
}

/**
 * The fits to choose from, best first. When the cost-per-token objective's default floor rules out
 * every fit, the fastest fits stand in (with a note); a floor the user set is refused instead.
 */
function pickRanked(
  input: SizingInput,
  request: PlanRequest,
  fits: readonly Candidate[],
  slow: readonly Candidate[],
): readonly Candidate[] {
  if (fits.length > 0 || slow.length === 0) return fits;
  if (request.minTokensPerSecond === undefined) return slow;
  const fastest = slow[0] as Candidate;
  const tps = fastest.speed.tokensPerSecondPerSequence.toFixed(1);
  throw new UserError({
    key: "minTokensPerSecond",
    value: request.minTokensPerSecond,
    problem:
      `no machine that can serve ${input.model.id} ${input.quantization} on ${input.engine.name} reaches ` +
      `${request.minTokensPerSecond} tokens/s per sequence at context ${input.context} x ${input.concurrency} (estimated).`,
    hint:
      `The fastest that fits is ${fastest.instance.type} at about ${tps} tokens/s: lower minTokensPerSecond to ` +
      `${tps} or less, or try ${[...lessDemanding(input), "the speed objective (the fastest within your price)"].join(", ")}.`,
  });
}

/** What the reader should know about the choice's speed. */
function speedNotes(input: SizingInput, chosen: Candidate, belowFloor: boolean): string[] {
  const notes: string[] = [];
  const tps = chosen.speed.tokensPerSecondPerSequence.toFixed(1);
  if (belowFloor)
    notes.push(
      `no machine that fits reaches ${input.minTokensPerSecond} tokens/s per sequence at ${input.context} x ` +
        `${input.concurrency}: this is the fastest (about ${tps}); a shorter context or fewer sequences are faster`,
    );
  const link = chosen.instance.interconnect;
  if (chosen.tensorParallelSize >= 4 && link.kind === "pcie")
    notes.push(
      `TP ${chosen.tensorParallelSize} all-reduces over PCIe Gen${link.generation} (no NVLink on ${chosen.instance.family}): ` +
        "the speed estimate includes that cost",
    );
  return notes;
}

/** Other published formats the engine loads, for the cheaper-format note. */
function otherFormats(input: SizingInput): Quantization[] {
  return input.engine.quantizations.filter((q) => q !== input.quantization && available(input.model, q));
}

/** A note when another format serves the same request at least 20% cheaper per million output tokens. */
function cheaperQuantization(
  input: SizingInput,
  considered: readonly GpuInstance[],
  gpus: GpuLookup,
  chosen: Candidate,
): string | null {
  const mine = chosen.usdPerMillionTokens;
  if (mine === null) return null;
  let best: { q: Quantization; c: Candidate; usd: number } | null = null;
  for (const q of otherFormats(input)) {
    const { fits } = sizeOver({ ...input, quantization: q, objective: "cost-per-token" }, considered, gpus);
    const c = fits[0];
    const usd = c?.usdPerMillionTokens ?? null;
    if (c !== undefined && usd !== null && (best === null || usd < best.usd)) best = { q, c, usd };
  }
  if (best === null || best.usd > mine * (1 - QUANTIZATION_SAVING_NOTED)) return null;
  const saving = Math.round((1 - best.usd / mine) * 100);
  return (
    `${best.q} would cost ${saving}% less per million output tokens: ${best.c.instance.type} at ` +
    `$${best.c.pricePerHour.toFixed(3)}/h, about $${best.usd.toFixed(3)} per million against $${mine.toFixed(3)} ` +
    `(estimates; set quantization to ${best.q} to use it)`
  );
}

/** maxMonthlyCost against the choice, at the request's replicas; the cheapest fit is named as a way down. */
function guardMonthlyCost(request: PlanRequest, limit: number, chosen: Candidate, all: readonly Candidate[]): void {
  const cheapest = all.reduce((a, c) => (c.pricePerHour < a.pricePerHour ? c : a), chosen);
  checkMonthlyCost({
    limit,
    instanceType: chosen.instance.type,
    perHour: chosen.pricePerHour,
    replicas: request.replicas ?? 1,
    objective: request.objective ?? DEFAULT_OBJECTIVE,
    cheapest: cheapest === chosen ? null : { type: cheapest.instance.type, perHour: cheapest.pricePerHour },
  });
}

/** Where sizing looks for machines: the AWS tables by default. */
export interface PlanCatalog {
  /** Instance rows to choose from. */
  readonly instances?: readonly GpuInstance[];
  /** GPU model lookup for those rows. */
  readonly gpus?: GpuLookup;
  /**
   * Where the machine boots, for the cold-start estimate. Default: the AWS catalog boots the default image
   * family (the Deep Learning AMI); a catalog the caller gives is a described machine's (planForMachine),
   * which is already running with its driver.
   */
  readonly site?: ColdStartSite;
}

/** The site a plan's cold start assumes when the catalog names none. */
function siteOf(catalog: PlanCatalog): ColdStartSite {
  if (catalog.site !== undefined) return catalog.site;
  return catalog.instances === undefined ? { kind: "aws", ami: AMI_FAMILY_NAMES[0] } : { kind: "machine" };
}

/** A named instance type the region does not offer fails here, naming the regions that do. */
function checkOffered(request: PlanRequest, region: string): void {
  const offered = regionInstances(region);
  const missingType = request.instanceTypes?.find((t) => !offered.some((i) => i.type === t));
  if (missingType !== undefined) {
    throw new UserError({
      key: "instanceTypes",
      value: missingType,
      problem: `${missingType} is not offered in ${region} (per the catalog).`,
      hint: `Choose another instance type, or a region that offers it: ${regionsOffering(missingType).join(", ")}.`,
    });
  }
}

/** Build the plan for a validated request over a catalog (the AWS catalog of the request's region by default). */
export function buildPlan(request: PlanRequest, catalog: PlanCatalog = {}): Plan {
  const region = request.region ?? DEFAULT_REGION;
  if (catalog.instances === undefined) checkOffered(request, region);
  const instances = catalog.instances ?? regionInstances(region);
  const gpus = catalog.gpus ?? awsGpu;
  const { model, impliedQuantization } = resolveModel(request.model);
  const engine: Engine = ENGINES[request.engine];
  const quantization = chooseQuantization(request, engine, model, impliedQuantization);
  const maxContext = engine.maxContext(model);
  if (request.context > maxContext) {
    const why =
      engine.name === "ollama" && model.context.max > maxContext
        ? ` (Ollama has no YaRN switch; vllm and sglang serve up to ${model.context.max})`
        : "";
    throw new UserError({
      key: "context",
      value: request.context,
      problem: `${model.id} on ${engine.name} serves at most ${maxContext} tokens${why}.`,
      hint: `Use a context between ${1024} and ${maxContext}.`,
    });
  }

  const input: SizingInput = {
    model,
    engine,
    quantization,
    context: request.context,
    concurrency: request.concurrency,
    spot: request.spot,
    ...(request.maxPricePerHour !== undefined ? { maxPricePerHour: request.maxPricePerHour } : {}),
    objective: request.objective ?? DEFAULT_OBJECTIVE,
    minTokensPerSecond: request.minTokensPerSecond ?? DEFAULT_MIN_TOKENS_PER_SECOND,
  };
  const considered = filterCatalog(request, instances);
  const { fits, rejected, slow } = sizeOver(input, considered, gpus);
  const ranked = pickRanked(input, request, fits, slow);
  const chosen: Candidate | undefined = ranked[0];
  if (chosen === undefined) throw noFitError(input, request, considered, rejected, gpus);
  if (request.maxMonthlyCost !== undefined)
    guardMonthlyCost(request, request.maxMonthlyCost, chosen, [...fits, ...slow]);

  const yarn =
    engine.memory.split === "tensor" && request.context > model.context.native
      ? {
          factor: yarnFactor(request.context, model.context.native),
          originalMaxPositionEmbeddings: model.context.native,
        }
      : null;
  const notes = [...chosen.notes, ...speedNotes(input, chosen, fits.length === 0)];
  const cheaperFormat = cheaperQuantization(input, considered, gpus, chosen);
  if (cheaperFormat !== null) notes.push(cheaperFormat);
  if (yarn !== null)
    notes.push(
      `context above ${model.context.native} uses static YaRN (factor ${yarn.factor}); Qwen notes it can lower quality on short prompts`,
    );
  if (!weightsArePublished(model, quantization))
    notes.push(
      `no published size for ${model.ollama[quantization as "q4_K_M"]?.tag ?? quantization}: weights estimated from bits per parameter`,
    );
  if (chosen.tensorParallelSize > model.arch.kvHeads)
    notes.push(
      `TP ${chosen.tensorParallelSize} exceeds ${model.arch.kvHeads} KV heads: each head is ` +
        `replicated, so KV cache per GPU stops shrinking at TP ${model.arch.kvHeads}`,
    );
  if (request.spot && findRegion(region)?.spotSource === null)
    notes.push(
      `no complete spot ranges for ${region} in the catalog: the spot price is the dearest ${DEFAULT_REGION} zone's, ` +
        "an estimate only; spot can be interrupted",
    );
  else if (request.spot)
    notes.push(`spot price is the dearest ${region} zone in the catalog snapshot; spot can be interrupted`);

  const revision = request.modelRevision ?? null;
  const weightsSource = engine.weights(model, quantization);
  if (revision !== null && (weightsSource.source === "hf") !== (revision.length === 40)) {
    throw new UserError({
      key: "modelRevision",
      value: revision,
      problem:
        weightsSource.source === "hf"
          ? "vLLM and SGLang pin a Hugging Face commit (40 hex)."
          : "Ollama pins a manifest digest (64 hex).",
      hint:
        weightsSource.source === "hf"
          ? `Use a commit of ${weightsSource.ref} from its Hugging Face history.`
          : `Use the digest \`ollama list\` or /api/tags reports for ${weightsSource.ref}.`,
    });
  }
  const command = engine.serve({
    model,
    quantization,
    dtype: chosen.dtype,
    dtypeFallback: FORMAT_SPECS[quantization].kind === "hf" && quantization === "bf16" && chosen.dtype === "float16",
    contextLength: request.context,
    concurrency: request.concurrency,
    tensorParallelSize: chosen.tensorParallelSize,
    expertParallel: chosen.expertParallel,
    yarn,
    revision: weightsSource.source === "hf" ? revision : null,
    // Every target runs the engine in its own container network (the machine targets publish
    // the port on the host's 127.0.0.1 only), so inside it the engine listens on all addresses.
    bindHost: request.bindHost ?? "0.0.0.0",
  });

  const m = chosen.memory;
  const weightsDiskGiB = weightBytes(model, quantization) / GIB;
  const diskTotal = Math.ceil((weightsDiskGiB * 1.2 + engine.installDiskGiB) / 10) * 10;
  const perHour = chosen.pricePerHour;
  const performance: PlanPerformance = {
    ...speedFigures(chosen),
    objective: input.objective,
    minTokensPerSecond: input.minTokensPerSecond,
    atContext: request.context,
    atConcurrency: request.concurrency,
    ttftPromptTokens: TTFT_PROMPT_TOKENS,
    kind: "estimate",
  };
  const expectedBytes = Math.round(weightBytes(model, quantization));
  const coldStart = estimateColdStart(
    { engine: request.engine, serve: { weights: { source: weightsSource.source, expectedBytes } }, performance },
    siteOf(catalog),
  );

  return {
    version: 1,
    request: {
      model: request.model,
      engine: request.engine,
      quantization,
      context: request.context,
      concurrency: request.concurrency,
      spot: request.spot,
      region,
      maxPricePerHour: request.maxPricePerHour ?? null,
      maxMonthlyCost: request.maxMonthlyCost ?? null,
      families: request.families ?? null,
      instanceTypes: request.instanceTypes ?? null,
      modelRevision: request.modelRevision ?? null,
      objective: input.objective,
      minTokensPerSecond: input.minTokensPerSecond,
    },
    model: {
      id: model.id,
      thinking: model.thinking,
      repo: FORMAT_SPECS[quantization].kind === "hf" ? (model.hf[quantization as keyof typeof model.hf] ?? null) : null,
      ollamaTag:
        FORMAT_SPECS[quantization].kind === "gguf"
          ? (model.ollama[quantization as keyof typeof model.ollama]?.tag ?? null)
          : null,
      paramsB: { total: model.params.totalB, active: model.params.activeB },
      nativeContext: model.context.native,
      moe: model.arch.moe !== null,
    },
    engine: request.engine,
    quantization,
    dtype: chosen.dtype,
    contextLength: request.context,
    concurrency: request.concurrency,
    tensorParallelSize: chosen.tensorParallelSize,
    gpusUsed: chosen.gpusUsed,
    expertParallel: chosen.expertParallel,
    yarn,
    instance: {
      type: chosen.instance.type,
      family: chosen.instance.family,
      gpu: chosen.gpu.name,
      gpuCount: chosen.instance.gpuCount,
      gpuMemoryGiB: round2(m.gpuMemoryGiB),
      computeCapability: chosen.gpu.computeCapability,
      vcpus: chosen.instance.vcpus,
      ramGiB: chosen.instance.ramGiB,
      market: request.spot ? "spot" : "on-demand",
      pricePerHour: perHour,
      priceRegion: region,
      priceAsOf: chosen.instance.source.asOf,
    },
    memory: {
      perGpuGiB: round2(m.requiredGiB),
      gpuMemoryGiB: round2(m.gpuMemoryGiB),
      weightsGiB: round2(m.weightsGiB),
      kvCacheGiB: round2(m.kvCacheGiB),
      overheadGiB: round2(m.overheadGiB),
      utilization: m.utilization,
      weightsTotalGiB: round2(m.weightsTotalGiB),
      weightsSize: weightsArePublished(model, quantization) ? "published" : "estimated",
      kvBytesPerTokenPerGpu: Math.round(m.kvBytesPerTokenPerGpu),
      kvTokens: m.kvTokens,
    },
    disk: { weightsGiB: round2(weightsDiskGiB), engineGiB: engine.installDiskGiB, totalGiB: diskTotal },
    cost: { perHour, perMonth: round2(perHour * HOURS_PER_MONTH) },
    performance,
    alternatives: ranked.slice(1, 1 + ALTERNATIVES_SHOWN).map((c) => ({
      type: c.instance.type,
      gpu: c.gpu.name,
      gpuCount: c.instance.gpuCount,
      pricePerHour: c.pricePerHour,
      tensorParallelSize: c.tensorParallelSize,
      perGpuGiB: round2(c.memory.requiredGiB),
      gpuMemoryGiB: round2(c.memory.gpuMemoryGiB),
      performance: speedFigures(c),
    })),
    rejected: rejected.map((r) => ({ type: r.instanceType, pricePerHour: r.pricePerHour, reason: r.reason })),
    serve: {
      image: engine.image,
      engineVersion: engine.version,
      argv: command.argv,
      env: command.env,
      port: engine.port,
      healthPath: engine.healthPath,
      openaiBasePath: engine.openaiBasePath,
      servedModelName: command.servedModelName,
      weights: {
        source: weightsSource.source,
        ref: weightsSource.ref,
        revision,
        expectedBytes,
      },
      auth: "Authorization: Bearer <api-key>",
    },
    coldStart,
    notes,
  };
}
