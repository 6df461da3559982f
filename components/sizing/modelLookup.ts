/**
 * Resolve what a user types for a model to one catalog entry: the canonical name, any Hugging Face
 * repo, any Ollama tag or alias, in any case. Spellings that name a weight format imply it.
 */
import { distance } from "fastest-levenshtein";
import { GGUF_QUANTS, HF_FORMATS, MODELS, type QwenModel } from "../catalog/models";
import type { Quantization } from "../catalog/quantizations";
import { UserError } from "../errors/userError";

/** A model spelling resolved against the catalog. */
export interface ResolvedModel {
  /** The catalog entry. */
  readonly model: QwenModel;
  /** The quantization the spelling names (e.g. `Qwen/Qwen3-8B-FP8`, `qwen3:8b-q8_0`), if any. */
  readonly impliedQuantization?: Quantization;
}

/** Lower-case, trim, and drop the prefixes people paste from URLs. */
export function normalizeModelSpelling(s: string): string {
  return s
    .trim()
    .toLowerCase()
    .replace(/\s+/g, "-")
    .replace(/^(https?:\/\/)?(www\.)?(huggingface\.co|hf\.co)\//, "")
    .replace(/^(https?:\/\/)?(www\.)?ollama\.com\/library\//, "")
    .replace(/^qwen\//, "");
}

function buildIndex(models: readonly QwenModel[]): Map<string, ResolvedModel> {
  const index = new Map<string, ResolvedModel>();
  const add = (spelling: string, entry: ResolvedModel): void => {
    const key = normalizeModelSpelling(spelling);
    const seen = index.get(key);
    if (seen !== undefined && (seen.model !== entry.model || seen.impliedQuantization !== entry.impliedQuantization)) {
      throw new Error(`model catalog: spelling "${key}" names both ${seen.model.id} and ${entry.model.id}`);
    }
    index.set(key, entry);
  };
  for (const model of models) {
    add(model.id, { model });
    for (const alias of model.aliases) add(alias, { model });
    for (const f of HF_FORMATS) {
      const repo = model.hf[f];
      // The plain repo is the BF16 checkpoint, but naming it should not force BF16 on Ollama users.
      if (repo !== undefined) add(repo, f === "bf16" ? { model } : { model, impliedQuantization: f });
    }
    for (const q of GGUF_QUANTS) {
      const tag = model.ollama[q];
      if (tag !== undefined) add(tag.tag, { model, impliedQuantization: q });
    }
  }
  return index;
}

const INDEX = buildIndex(MODELS);

/** Every spelling the resolver accepts, normalized. */
export function knownSpellings(): string[] {
  return [...INDEX.keys()].sort();
}

/** Canonical model names, in catalog order. */
export function modelIds(): string[] {
  return MODELS.map((m) => m.id);
}

/** The size in a spelling ("qwen3-7b" -> 7, "Qwen3-30B-A3B" -> 30), ignoring the "qwen3" prefix. */
function sizeIn(s: string): number | undefined {
  const m = /(\d+(?:\.\d+)?)b/.exec(normalizeModelSpelling(s).replace(/^qwen3(-coder)?[-:]?/, ""));
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

/** The closest canonical names to a spelling, for "did you mean"; edit distance, then size. */
export function nearestModels(input: string, count = 3): string[] {
  const needle = normalizeModelSpelling(input);
  const size = sizeIn(input);
  const best = new Map<string, number>();
  for (const [spelling, entry] of INDEX) {
    const d = distance(needle, spelling);
    const prev = best.get(entry.model.id);
    if (prev === undefined || d < prev) best.set(entry.model.id, d);
  }
  // Among equally close names, the one nearest in size is the likelier intent (qwen3-7b -> 8B before 4B).
  const sizeGap = (id: string): number => {
    const other = sizeIn(id);
    return size === undefined || other === undefined ? Infinity : Math.abs(Math.log(size / other));
  };
  return [...best.entries()]
    .sort((a, b) => a[1] - b[1] || sizeGap(a[0]) - sizeGap(b[0]) || a[0].localeCompare(b[0]))
    .slice(0, count)
    .map(([id]) => id);
}

/** Resolve a spelling, or throw a {@link UserError} that lists the nearest names. */
export function resolveModel(input: string): ResolvedModel {
  const hit = INDEX.get(normalizeModelSpelling(input));
  if (hit !== undefined) return hit;
  const near = nearestModels(input);
  throw new UserError({
    key: "model",
    value: input,
    problem: "not a Qwen3 model we know.",
    hint: `Did you mean ${near.join(", ")}? Names, Hugging Face repos (Qwen/Qwen3-8B-FP8) and Ollama tags (qwen3:8b) all work.`,
    choices: modelIds(),
  });
}
