/**
 * What `npm run smoke` was asked to do: flags (as node's parseArgs hands them over) validated into
 * a typed options object, the endpoint taken from Pulumi stack outputs, and what to send to turn
 * Qwen3's thinking on or off for each engine. Pure; the script reads argv, stdin and the
 * environment and passes them in.
 */
import { z } from "zod";
import { UserError } from "../errors/userError";
import { didYouMean } from "../errors/zodErrors";
import { readinessTimeoutSeconds, STATUS_URL_PATH } from "../machine/render";

/** Engines whose thinking switches we know. */
export const SMOKE_ENGINES = ["vllm", "sglang", "ollama"] as const;
/** An engine the smoke checks know how to address. */
export type SmokeEngine = (typeof SMOKE_ENGINES)[number];

/** How the served model thinks: Qwen3 hybrid (switchable), thinking-only (2507 Thinking) or instruct-only (2507 Instruct, Coder). */
export const THINKING_MODES = ["hybrid", "thinking", "instruct"] as const;
/** A model's thinking behaviour, as the user declares it. */
export type ThinkingMode = (typeof THINKING_MODES)[number];

/** Benchmark bounds, with the flags' limits. */
export const BENCH_LIMITS = {
  streams: { default: 4, min: 1, max: 64 },
  durationSeconds: { default: 30, min: 0.1, max: 600 },
  maxTokens: { default: 128, min: 1, max: 32768 },
  maxRequests: { default: 1000, min: 1, max: 100_000 },
} as const;

/** Per-request timeout bounds in seconds; thinking on a small GPU can take minutes. */
export const TIMEOUT_LIMITS = { default: 300, min: 1, max: 3600 } as const;

/** --wake-timeout bounds in seconds; the default comes from the stack's plan ({@link wakeTimeoutSeconds}). */
export const WAKE_TIMEOUT_LIMITS = { default: 20 * 60, min: 0, max: 4 * 3600 } as const;

/** Where the endpoint comes from. */
export type EndpointSource =
  | { readonly kind: "flags" }
  /** `pulumi stack output --json --show-secrets`, from a file or "-" for stdin. */
  | { readonly kind: "outputs"; readonly from: string }
  /** A named stack of this project, read with `pulumi stack output --stack`. */
  | { readonly kind: "stack"; readonly stack: string };

/** What the run does. */
export type SmokeMode = "checks" | "bench" | "since-up";

/** Validated options for one smoke run. */
export interface SmokeOptions {
  readonly mode: SmokeMode;
  readonly source: EndpointSource;
  /** Overrides for what the source gives. */
  readonly url?: string;
  readonly apiKey?: string;
  readonly model?: string;
  readonly engine: SmokeEngine;
  readonly thinkingMode: ThinkingMode;
  /** Whether --engine and --thinking-mode were given; otherwise a stack's plan may supply them. */
  readonly explicit: { readonly engine: boolean; readonly thinkingMode: boolean };
  readonly tools: boolean;
  readonly timeoutSeconds: number;
  readonly streams: number;
  readonly durationSeconds: number;
  readonly maxTokens: number;
  readonly maxRequests: number;
  /** Write the run's figures here as JSON. */
  readonly jsonPath?: string;
  /** --wake-timeout: how long to wait for a fleet to wake, seconds; absent takes the plan's estimate. */
  readonly wakeTimeoutSeconds?: number;
}

/** The flag values as node's parseArgs returns them (strings and booleans, all optional). */
export interface RawSmokeFlags {
  readonly url?: string;
  readonly "api-key"?: string;
  readonly model?: string;
  readonly stack?: string;
  readonly outputs?: string;
  readonly engine?: string;
  readonly "thinking-mode"?: string;
  readonly "no-tools"?: boolean;
  readonly timeout?: string;
  readonly bench?: boolean;
  readonly streams?: string;
  readonly duration?: string;
  readonly "max-tokens"?: string;
  readonly "max-requests"?: string;
  readonly json?: string;
  readonly "since-up"?: boolean;
  readonly "wake-timeout"?: string;
}

/** What the process knows besides its flags. */
export interface SmokeContext {
  /** True when stdin is a terminal, i.e. nothing is piped in. */
  readonly stdinIsTTY: boolean;
  /** OPENAI_API_KEY, so a key can stay off the command line. */
  readonly envApiKey?: string;
}

function oneOf<T extends string>(flag: string, raw: string | undefined, choices: readonly T[], fallback: T): T {
  if (raw === undefined) return fallback;
  const hit = choices.find((c) => c === raw.trim().toLowerCase());
  if (hit === undefined)
    throw new UserError({
      key: flag,
      value: raw,
      problem: "not a known choice.",
      hint: `${didYouMean(raw, choices)}Pick one of the choices below.`,
      choices,
    });
  return hit;
}

function bounded(
  flag: string,
  raw: string | undefined,
  lim: { default: number; min: number; max: number },
  integer: boolean,
): number {
  if (raw === undefined) return lim.default;
  const n = Number(raw);
  const kind = integer ? "a whole number" : "a number";
  if (raw.trim() === "" || !Number.isFinite(n) || (integer && !Number.isInteger(n))) {
    throw new UserError({
      key: flag,
      value: raw,
      problem: `not ${kind}.`,
      hint: `Give ${kind} from ${lim.min} to ${lim.max} (default ${lim.default}).`,
    });
  }
  if (n < lim.min || n > lim.max) {
    throw new UserError({
      key: flag,
      value: raw,
      problem: `out of range.`,
      hint: `Give ${kind} from ${lim.min} to ${lim.max} (default ${lim.default}).`,
    });
  }
  return n;
}

/** Normalise an OpenAI base URL: http(s), ending in /v1, no trailing slash. */
export function normalizeBaseUrl(flag: string, raw: string): string {
  const trimmed = raw.trim().replace(/\/+$/, "");
  let parsed: URL;
  try {
    parsed = new URL(trimmed);
  } catch {
    throw new UserError({
      key: flag,
      value: raw,
      problem: "not a URL.",
      hint: "Give the OpenAI base URL, e.g. http://203.0.113.7:8080/v1.",
    });
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new UserError({
      key: flag,
      value: raw,
      problem: "not an http or https URL.",
      hint: "Give the OpenAI base URL, e.g. http://203.0.113.7:8080/v1.",
    });
  }
  if (!parsed.pathname.endsWith("/v1")) {
    throw new UserError({
      key: flag,
      value: raw,
      problem: "does not end in /v1.",
      hint: "Give the OpenAI base URL, the one clients use, e.g. http://203.0.113.7:8080/v1.",
    });
  }
  return trimmed;
}

const BENCH_ONLY = ["streams", "duration", "max-tokens", "max-requests"] as const;

/** Validate flags into options; every mistake is a UserError naming the flag. */
export function parseSmokeOptions(flags: RawSmokeFlags, ctx: SmokeContext): SmokeOptions {
  const bench = flags.bench === true;
  const sinceUp = flags["since-up"] === true;
  if (bench && sinceUp) {
    throw new UserError({
      key: "--since-up",
      value: "true",
      problem: "cannot be combined with --bench.",
      hint: "Run the benchmark and the cold-start report as two commands.",
    });
  }
  if (!bench) {
    for (const f of BENCH_ONLY) {
      if (flags[f] !== undefined)
        throw new UserError({
          key: `--${f}`,
          value: flags[f],
          problem: "only applies with --bench.",
          hint: `Add --bench, or drop --${f}.`,
        });
    }
  }
  if (flags.stack !== undefined && flags.outputs !== undefined) {
    throw new UserError({
      key: "--outputs",
      value: flags.outputs,
      problem: "cannot be combined with --stack.",
      hint: "Read the outputs one way: --stack <name> or --outputs <file|->.",
    });
  }
  if (flags.stack !== undefined && flags.stack.trim() === "")
    throw new UserError({
      key: "--stack",
      value: flags.stack,
      problem: "is empty.",
      hint: "Name a stack of this project, e.g. --stack dev.",
    });
  if (flags.outputs !== undefined && flags.outputs.trim() === "")
    throw new UserError({
      key: "--outputs",
      value: flags.outputs,
      problem: "is empty.",
      hint: "Give a file, or - for stdin.",
    });

  const url = flags.url === undefined ? undefined : normalizeBaseUrl("--url", flags.url);
  const apiKey = flags["api-key"] ?? (ctx.envApiKey !== undefined && ctx.envApiKey !== "" ? ctx.envApiKey : undefined);
  if (apiKey !== undefined && apiKey.trim() === "")
    throw new UserError({
      key: "--api-key",
      value: "",
      problem: "is empty.",
      hint: "Give the endpoint's API key (or set OPENAI_API_KEY).",
    });
  if (flags.model !== undefined && flags.model.trim() === "")
    throw new UserError({
      key: "--model",
      value: "",
      problem: "is empty.",
      hint: "Give the model name clients send, or leave --model out to use the first one /v1/models lists.",
    });

  let source: EndpointSource;
  if (flags.stack !== undefined) source = { kind: "stack", stack: flags.stack.trim() };
  else if (flags.outputs !== undefined) source = { kind: "outputs", from: flags.outputs };
  else if (url !== undefined) source = { kind: "flags" };
  // A pipe on stdin with no --url is `pulumi stack output --json --show-secrets | npm run smoke`.
  else if (!ctx.stdinIsTTY) source = { kind: "outputs", from: "-" };
  else {
    throw new UserError({
      key: "--url",
      value: "",
      problem: "no endpoint given.",
      hint: "Give --url <base ending in /v1> with --api-key <key>, or --stack <name>, or pipe `pulumi stack output --json --show-secrets` in.",
    });
  }
  if (source.kind === "flags" && apiKey === undefined) {
    throw new UserError({
      key: "--api-key",
      value: "",
      problem: "missing.",
      hint: "Give --api-key <key> (or set OPENAI_API_KEY) with --url.",
    });
  }

  const base = {
    mode: bench ? "bench" : sinceUp ? "since-up" : "checks",
    source,
    engine: oneOf("--engine", flags.engine, SMOKE_ENGINES, "vllm"),
    thinkingMode: oneOf("--thinking-mode", flags["thinking-mode"], THINKING_MODES, "hybrid"),
    explicit: { engine: flags.engine !== undefined, thinkingMode: flags["thinking-mode"] !== undefined },
    tools: flags["no-tools"] !== true,
    timeoutSeconds: bounded("--timeout", flags.timeout, TIMEOUT_LIMITS, false),
    streams: bounded("--streams", flags.streams, BENCH_LIMITS.streams, true),
    durationSeconds: bounded("--duration", flags.duration, BENCH_LIMITS.durationSeconds, false),
    maxTokens: bounded("--max-tokens", flags["max-tokens"], BENCH_LIMITS.maxTokens, true),
    maxRequests: bounded("--max-requests", flags["max-requests"], BENCH_LIMITS.maxRequests, true),
  } satisfies Partial<SmokeOptions>;
  if (flags.json !== undefined && flags.json.trim() === "")
    throw new UserError({
      key: "--json",
      value: "",
      problem: "is empty.",
      hint: "Give a file to write the figures to, e.g. --json bench.json.",
    });
  return {
    ...base,
    ...(url !== undefined ? { url } : {}),
    ...(apiKey !== undefined ? { apiKey } : {}),
    ...(flags.model !== undefined ? { model: flags.model.trim() } : {}),
    ...(flags.json !== undefined ? { jsonPath: flags.json } : {}),
    ...(flags["wake-timeout"] !== undefined
      ? { wakeTimeoutSeconds: bounded("--wake-timeout", flags["wake-timeout"], WAKE_TIMEOUT_LIMITS, false) }
      : {}),
  };
}

/** A field that may be absent, and is treated as absent when it has the wrong shape. */
const optionalOf = <T extends z.ZodType>(t: T) => t.optional().catch(undefined);

/** The stack outputs the smoke client reads (index.ts exports more; the rest is ignored). */
const StackOutputsSchema = z.object({
  endpoint: z.string().min(1),
  apiKey: z.string().min(1),
  modelName: z.string().min(1).optional(),
  statusUrl: z.string().min(1).optional(),
  /**
   * This project's stacks export their plan, which declares the engine and the thinking mode, and
   * what the bench's speed estimate needs. Those fields are optional, each dropped when malformed,
   * so a plan from an older version still gives the engine and thinking mode.
   */
  plan: z
    .object({
      engine: z.enum(SMOKE_ENGINES),
      model: z.object({ thinking: z.enum(THINKING_MODES), id: optionalOf(z.string()) }),
      quantization: optionalOf(z.string()),
      dtype: optionalOf(z.string()),
      tensorParallelSize: optionalOf(z.int().min(1)),
      gpusUsed: optionalOf(z.int().min(1)),
      instance: optionalOf(z.object({ type: optionalOf(z.string()), gpu: optionalOf(z.string()) })),
      disk: optionalOf(z.object({ engineGiB: z.number().positive() })),
      serve: optionalOf(z.object({ weights: z.object({ expectedBytes: z.number().positive() }) })),
      /** The plan's cold-start estimate (absent in plans from before it was added). */
      coldStart: optionalOf(
        z.object({
          phases: z.array(z.object({ name: z.string(), seconds: z.number(), basis: z.string() })),
          totalSeconds: z.number(),
          mirrorTotalSeconds: z.number(),
        }),
      ),
    })
    .optional()
    .catch(undefined),
  /** A fleet's replica counts (components/targets/awsFleet.ts); its presence says the endpoint is a fleet. */
  replicas: optionalOf(z.object({ min: z.number(), max: z.number(), desired: z.number() })),
});

/** The endpoint as a stack describes it. */
export type StackOutputs = z.output<typeof StackOutputsSchema>;

/** Read `pulumi stack output --json --show-secrets` (already JSON-parsed), naming what is missing. */
export function parseStackOutputs(doc: unknown, from: string): StackOutputs {
  const r = StackOutputsSchema.safeParse(doc);
  if (!r.success) {
    const missing = r.error.issues.map((i) => i.path.join(".")).filter((p) => p !== "");
    throw new UserError({
      key: from,
      value: missing.length > 0 ? missing.join(", ") : "not an object",
      problem: "the stack outputs lack the endpoint.",
      hint: "Expected the JSON of `pulumi stack output --json --show-secrets` with endpoint and apiKey (a stack that has finished `pulumi up`).",
    });
  }
  // Without --show-secrets Pulumi prints the literal "[secret]" in place of the key.
  if (r.data.apiKey === "[secret]") {
    throw new UserError({
      key: from,
      value: "[secret]",
      problem: "apiKey is hidden.",
      hint: "Add --show-secrets: `pulumi stack output --json --show-secrets`.",
    });
  }
  return r.data;
}

/** The endpoint one run talks to, after merging stack outputs with flag overrides. */
export interface SmokeTarget {
  /** OpenAI base URL ending in /v1. */
  readonly baseUrl: string;
  readonly apiKey: string;
  /** Null: take the first id /v1/models lists. */
  readonly model: string | null;
  /** The bootstrap status document. */
  readonly statusUrl: string;
}

/** Take the engine and thinking mode from a stack's plan where the flags did not set them. */
export function withPlanDefaults(o: SmokeOptions, outputs: StackOutputs | null): SmokeOptions {
  const plan = outputs?.plan;
  if (plan === undefined) return o;
  return {
    ...o,
    engine: o.explicit.engine ? o.engine : plan.engine,
    thinkingMode: o.explicit.thinkingMode ? o.thinkingMode : plan.model.thinking,
  };
}

/** Merge flags over outputs; the status URL defaults to the proxy's path next to /v1. */
export function resolveTarget(o: SmokeOptions, outputs: StackOutputs | null): SmokeTarget {
  const baseUrl = o.url ?? (outputs === null ? undefined : normalizeBaseUrl("endpoint", outputs.endpoint));
  const apiKey = o.apiKey ?? outputs?.apiKey;
  if (baseUrl === undefined)
    throw new UserError({
      key: "--url",
      value: "",
      problem: "no endpoint given.",
      hint: "Give --url <base ending in /v1>.",
    });
  if (apiKey === undefined)
    throw new UserError({
      key: "--api-key",
      value: "",
      problem: "missing.",
      hint: "Give --api-key <key> (or set OPENAI_API_KEY).",
    });
  // Only trust the stack's statusUrl when the endpoint is the stack's too.
  const statusUrl =
    o.url === undefined && outputs?.statusUrl !== undefined
      ? outputs.statusUrl
      : `${baseUrl.replace(/\/v1$/, "")}${STATUS_URL_PATH}`;
  return { baseUrl, apiKey, model: o.model ?? outputs?.modelName ?? null, statusUrl };
}

/** True when the stack outputs describe a fleet and the endpoint is the stack's own (not a --url over it). */
export function isFleet(o: Pick<SmokeOptions, "url">, outputs: StackOutputs | null): boolean {
  return o.url === undefined && outputs?.replicas !== undefined;
}

/**
 * Seconds to wait for a fleet to wake: --wake-timeout, else the plan's readiness estimate (what
 * `pulumi up` waits for a new machine, counting a driver install so the limit is never short),
 * else {@link WAKE_TIMEOUT_LIMITS}.default.
 */
export function wakeTimeoutSeconds(o: Pick<SmokeOptions, "wakeTimeoutSeconds">, outputs: StackOutputs | null): number {
  if (o.wakeTimeoutSeconds !== undefined) return o.wakeTimeoutSeconds;
  const disk = outputs?.plan?.disk;
  const weights = outputs?.plan?.serve?.weights;
  if (disk === undefined || weights === undefined) return WAKE_TIMEOUT_LIMITS.default;
  const s = readinessTimeoutSeconds({ disk, serve: { weights } }, true);
  return Number.isFinite(s) ? s : WAKE_TIMEOUT_LIMITS.default;
}

/** Extra request fields and a user-message suffix that set thinking on or off. */
export interface ThinkingSwitch {
  readonly extraBody: Readonly<Record<string, unknown>>;
  /** Appended to the user message: Qwen3's soft switch, which hybrid models obey on any engine. */
  readonly userSuffix: string;
}

/**
 * What to send for thinking on or off. vLLM and SGLang pass chat_template_kwargs to Qwen's chat
 * template; Ollama's /v1 ignores both that and `think`, but maps reasoning_effort "none" to
 * thinking off. Turning it on sends the explicit switch only where it exists (hybrid on vLLM or
 * SGLang); thinking-only models think regardless.
 */
export function thinkingSwitch(engine: SmokeEngine, mode: ThinkingMode, on: boolean): ThinkingSwitch {
  if (on) {
    return {
      extraBody: mode === "hybrid" && engine !== "ollama" ? { chat_template_kwargs: { enable_thinking: true } } : {},
      userSuffix: "",
    };
  }
  const extraBody =
    engine === "ollama" ? { reasoning_effort: "none" } : { chat_template_kwargs: { enable_thinking: false } };
  return { extraBody, userSuffix: mode === "hybrid" ? " /no_think" : "" };
}

/** The checks, in the order they run. */
export const CHECK_IDS = ["models", "thinking", "thinking-off", "streaming", "tool-call", "no-key"] as const;
/** One smoke check. */
export type CheckId = (typeof CHECK_IDS)[number];

/** Why a check is skipped for these options, or null when it runs. Declared, never guessed from replies. */
export function skipReason(id: CheckId, o: Pick<SmokeOptions, "thinkingMode" | "tools">): string | null {
  if (id === "thinking" && o.thinkingMode === "instruct")
    return "instruct-only model (--thinking-mode instruct) has no reasoning to separate";
  if (id === "thinking-off" && o.thinkingMode === "thinking")
    return "thinking-only model (--thinking-mode thinking) cannot turn thinking off";
  if (id === "tool-call" && !o.tools) return "--no-tools given";
  return null;
}
