/**
 * A cold-start estimate before `up`: seconds per phase (boot, driver, image, weights, load, compile,
 * first token) from the plan's sizes and the documented rates in components/catalog/bandwidths.ts.
 * Pure arithmetic. Every figure is an estimate until a real run measures it (`npm run smoke -- --since-up`).
 */
import { AMI_FAMILIES, type AmiFamilyName } from "../catalog/amis";
import { COLD_START_FIGURES as F, type ColdStartFigure } from "../catalog/bandwidths";
import { type EngineName, streamsFromObjectStore } from "../engines";

/**
 * Where the machine comes up: an AWS instance from an image family, reading its weights from the source or (with
 * `aws.weightsCache: s3`) from the account's in-region S3 mirror, as a single machine or a fleet's replica (which,
 * on the mirror, also unpacks the compile cache the fleet's first replica shared); or a machine that already runs.
 */
export type ColdStartSite =
  | {
      readonly kind: "aws";
      readonly ami: AmiFamilyName;
      readonly weightsCache?: "off" | "s3";
      readonly fleet?: boolean;
    }
  | { readonly kind: "machine" };

/** Phase names, in the order the bootstrap runs them. */
export const COLD_START_PHASES = ["boot", "driver", "image", "weights", "load", "compile", "first token"] as const;

/** One phase's estimate. */
export interface ColdStartPhase {
  readonly name: (typeof COLD_START_PHASES)[number];
  /** Seconds, to one decimal. */
  readonly seconds: number;
  /** The figures and sources behind it, in words. */
  readonly basis: string;
}

/** The estimate a plan carries. */
export interface ColdStartEstimate {
  readonly phases: readonly ColdStartPhase[];
  /** Sum of the phases, to one decimal. */
  readonly totalSeconds: number;
  /** The weights phase read from an in-region S3 mirror instead, seconds. */
  readonly mirrorWeightsSeconds: number;
  /** The total with the weights from the mirror. */
  readonly mirrorTotalSeconds: number;
  /**
   * A stopped machine started again: boot, then the engine from the image and weights already on its
   * disk (the same EBS volume, so no first-read penalty), compiling from the cache; CUDA graphs are
   * captured again in every new process. No driver, image or weights phase.
   */
  readonly warmRestartSeconds: number;
  /**
   * Present when the weights come from the S3 mirror (`aws.weightsCache: s3`), where the phases and total above
   * already read them: the first machine, which finds the mirror without the model and seeds it from the source
   * (and, on a fleet, compiles cold where later replicas unpack its compile cache).
   */
  readonly seeding?: { readonly weightsSeconds: number; readonly totalSeconds: number };
  /** Always "estimate". */
  readonly kind: "estimate";
}

/** The plan fields the estimate reads; a whole Plan is one. */
export interface ColdStartPlan {
  readonly engine: EngineName;
  readonly serve: { readonly weights: { readonly source: "hf" | "ollama"; readonly expectedBytes: number } };
  readonly performance: { readonly ttftSeconds: number };
}

const round1 = (x: number): number => Math.round(x * 10) / 10;
const gb = (bytes: number): string => `${(bytes / 1e9).toFixed(1)} GB`;
const mbps = (f: ColdStartFigure): string => `${Math.round(f.value / 1e6)} MB/s`;
const cite = (f: ColdStartFigure): string =>
  `${f.assumed ? "assumed" : "per"} ${typeof f.source.url === "string" ? f.source.url : (f.source.url[0] ?? "")}`;

const IMAGE_BYTES: Record<EngineName, ColdStartFigure> = {
  vllm: F.vllmImageBytes,
  sglang: F.sglangImageBytes,
  ollama: F.ollamaImageBytes,
};
const ENGINE_START: Record<EngineName, ColdStartFigure> = {
  vllm: F.vllmEngineStart,
  sglang: F.sglangEngineStart,
  ollama: F.ollamaEngineStart,
};

function bootPhase(site: ColdStartSite): ColdStartPhase {
  if (site.kind === "machine") return { name: "boot", seconds: 0, basis: "your machine is already running" };
  return { name: "boot", seconds: F.ec2Boot.value, basis: `EC2 launch to bootstrap start (${cite(F.ec2Boot)})` };
}

function driverPhase(site: ColdStartSite): ColdStartPhase {
  if (site.kind === "machine") return { name: "driver", seconds: 0, basis: "your machine has its driver" };
  if (AMI_FAMILIES[site.ami].hasDriver)
    return { name: "driver", seconds: 0, basis: `${site.ami} ships the driver, Docker and the container toolkit` };
  return {
    name: "driver",
    seconds: F.driverInstall.value,
    basis: `${site.ami}: driver, Docker, container toolkit and one reboot (${cite(F.driverInstall)})`,
  };
}

function imagePhase(engine: EngineName): ColdStartPhase {
  const bytes = IMAGE_BYTES[engine];
  return {
    name: "image",
    seconds: round1(bytes.value / F.imagePullRate.value),
    basis:
      `${gb(bytes.value)} image (${cite(bytes)}) at ${mbps(F.imagePullRate)} (${cite(F.imagePullRate)}); ` +
      "a machine that has pulled it before skips this",
  };
}

function weightsPhase(plan: ColdStartPlan): ColdStartPhase {
  const w = plan.serve.weights;
  const rate = w.source === "hf" ? F.huggingFaceRate : F.ollamaRegistryRate;
  const from = w.source === "hf" ? "Hugging Face" : "the Ollama registry";
  return {
    name: "weights",
    seconds: round1(w.expectedBytes / rate.value),
    basis:
      `${gb(w.expectedBytes)} from ${from} at ${mbps(rate)} (${cite(rate)}); from an in-region S3 mirror at ` +
      `${mbps(F.s3Rate)} (${cite(F.s3Rate)})`,
  };
}

/** The weights phase from the in-region S3 mirror; the streaming engines read these bytes during their load instead. */
function mirrorWeightsPhase(plan: ColdStartPlan): ColdStartPhase {
  const bytes = plan.serve.weights.expectedBytes;
  const streams = streamsFromObjectStore(plan.engine);
  return {
    name: "weights",
    seconds: round1(bytes / F.s3Rate.value),
    basis:
      `${gb(bytes)} from the in-region S3 mirror at ${mbps(F.s3Rate)} (${cite(F.s3Rate)})` +
      (streams
        ? "; streamed into the engine as it loads, so counting the gp3 read of the load phase as well overstates it"
        : "; Ollama's blobs copied to disk"),
  };
}

function loadPhase(plan: ColdStartPlan): ColdStartPhase {
  const bytes = plan.serve.weights.expectedBytes;
  const start = ENGINE_START[plan.engine];
  return {
    name: "load",
    seconds: round1(start.value + bytes / F.ebsReadRate.value),
    basis:
      `engine start ${start.value} s (${cite(start)}) + ${gb(bytes)} read from gp3 at 500 MiB/s (${cite(F.ebsReadRate)}); ` +
      "written this boot, so no snapshot first-read penalty",
  };
}

function compilePhase(engine: EngineName): ColdStartPhase {
  if (engine === "vllm")
    return {
      name: "compile",
      seconds: round1(F.vllmCompileCold.value + F.vllmGraphCapture.value),
      basis:
        `torch.compile ${F.vllmCompileCold.value} s cold, ${F.vllmCompileCached.value} s with the cache ` +
        `(${cite(F.vllmCompileCold)}) + CUDA graph capture ${F.vllmGraphCapture.value} s (${cite(F.vllmGraphCapture)})`,
    };
  if (engine === "sglang")
    return {
      name: "compile",
      seconds: round1(F.sglangGraphCapture.value),
      basis: `CUDA graph capture ${F.sglangGraphCapture.value} s (${cite(F.sglangGraphCapture)}); no torch.compile by default`,
    };
  return { name: "compile", seconds: 0, basis: "llama.cpp compiles nothing at start" };
}

/** Compile time on a restart: vLLM's torch.compile from its on-disk cache plus graph capture; the others as cold. */
function warmCompileSeconds(engine: EngineName): number {
  if (engine === "vllm") return F.vllmCompileCached.value + F.vllmGraphCapture.value;
  return compilePhase(engine).seconds;
}

/**
 * The compile phase of a fleet replica on the mirror, which unpacks the compile cache the fleet's first replica
 * shared before its engine starts: vLLM's torch.compile from it, CUDA graphs captured again (as on a warm restart).
 * SGLang compiles nothing but its graphs by default, so it stays as cold.
 */
function sharedCompilePhase(engine: EngineName): ColdStartPhase {
  if (engine !== "vllm") return compilePhase(engine);
  return {
    name: "compile",
    seconds: round1(warmCompileSeconds(engine)),
    basis:
      `torch.compile ${F.vllmCompileCached.value} s from the fleet's compile cache in the S3 mirror ` +
      `(${cite(F.vllmCompileCached)}) + CUDA graph capture ${F.vllmGraphCapture.value} s ` +
      `(${cite(F.vllmGraphCapture)}); the first replica compiles cold, ${F.vllmCompileCold.value} s, and shares it`,
  };
}

/** The cold-start estimate for a plan served at a site. */
export function estimateColdStart(plan: ColdStartPlan, site: ColdStartSite): ColdStartEstimate {
  const mirrored = site.kind === "aws" && site.weightsCache === "s3";
  const source = weightsPhase(plan);
  const weights = mirrored ? mirrorWeightsPhase(plan) : source;
  const cold = compilePhase(plan.engine);
  const compile = mirrored && site.fleet === true ? sharedCompilePhase(plan.engine) : cold;
  const phases: ColdStartPhase[] = [
    bootPhase(site),
    driverPhase(site),
    imagePhase(plan.engine),
    weights,
    loadPhase(plan),
    compile,
    {
      name: "first token",
      seconds: round1(plan.performance.ttftSeconds),
      basis: "the plan's TTFT estimate for an idle server",
    },
  ];
  const total = round1(phases.reduce((a, p) => a + p.seconds, 0));
  const mirrorWeights = round1(plan.serve.weights.expectedBytes / F.s3Rate.value);
  // The first machine seeds the weights, and (on a fleet) compiles cold to share its cache.
  const sourceTotal = round1(total - weights.seconds + source.seconds - compile.seconds + cold.seconds);
  return {
    phases,
    totalSeconds: total,
    mirrorWeightsSeconds: mirrorWeights,
    mirrorTotalSeconds: mirrored ? total : round1(total - weights.seconds + mirrorWeights),
    ...(mirrored ? { seeding: { weightsSeconds: source.seconds, totalSeconds: sourceTotal } } : {}),
    warmRestartSeconds: round1(
      bootPhase(site).seconds +
        loadPhase(plan).seconds +
        warmCompileSeconds(plan.engine) +
        round1(plan.performance.ttftSeconds),
    ),
    kind: "estimate",
  };
}
