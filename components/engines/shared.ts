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
