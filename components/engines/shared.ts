/**
 * Pieces the Hugging Face engines (vLLM, SGLang) share: which repo to load and the YaRN override.
 */
import type { QwenModel } from "../catalog/models";
import { FORMAT_SPECS, type Quantization } from "../catalog/quantizations";
import type { ServeInput, WeightsSource } from "./types";

/** The Hugging Face repo for a model in a format; the plan only asks for formats that exist. */
export function hfWeights(model: QwenModel, quant: Quantization): WeightsSource {
  const repo = FORMAT_SPECS[quant].kind === "hf" ? model.hf[quant as keyof typeof model.hf] : undefined;
  if (repo === undefined) throw new Error(`no Hugging Face repo for ${model.id} in ${quant}`);
  return { source: "hf", ref: repo };
}

/** YaRN rope parameters in the transformers 5 shape (rope_theta repeated inside, as vLLM's docs show). */
export function yarnRopeParameters(input: ServeInput): Record<string, string | number> | null {
  if (input.yarn === null) return null;
  const theta = input.model.arch.ropeTheta;
  if (theta === undefined)
    throw new Error(`${input.model.id} has no rope_theta in the catalog, so YaRN cannot be configured`);
  return {
    rope_type: "yarn",
    factor: input.yarn.factor,
    original_max_position_embeddings: input.yarn.originalMaxPositionEmbeddings,
    rope_theta: theta,
  };
}

/** Flags that only appear when a value is set. */
export function when(cond: boolean, ...args: string[]): string[] {
  return cond ? args : [];
}

/** The load format of the Run:ai Model Streamer, which vLLM and SGLang both name so. */
export const RUNAI_STREAMER = "runai_streamer";

/**
 * A Hugging Face engine's argv with the model at `modelAt` replaced by an object-store folder: the Run:ai streamer's
 * load format follows it, and --revision (with its value) goes, since the folder is one revision's files.
 */
export function objectStoreArgv(planned: readonly string[], modelAt: number, uri: string): string[] {
  if (!/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\/(?:[^\s/]+\/)+$/.test(uri))
    throw new Error(`not an s3:// model folder (bucket, key prefix, trailing slash): ${JSON.stringify(uri)}`);
  if (modelAt < 1 || modelAt >= planned.length || (planned[modelAt] ?? "").startsWith("-"))
    throw new Error(`no model argument at position ${modelAt} of ${JSON.stringify(planned)}`);
  if (planned.includes("--load-format")) throw new Error("the planned argv already names a --load-format");
  const out: string[] = [];
  for (let i = 0; i < planned.length; i++) {
    const arg = planned[i] ?? "";
    if (arg === "--revision") {
      i++;
      continue;
    }
    out.push(...(i === modelAt ? [uri, "--load-format", RUNAI_STREAMER] : [arg]));
  }
  return out;
}
