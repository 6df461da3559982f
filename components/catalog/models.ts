/**
 * The Qwen3 model catalog: architecture, parameter counts, context limits, thinking mode,
 * the Hugging Face repos Qwen published per weight format, and the Ollama library tags.
 *
 * Pure data. Sizing reads the architecture; engines read repos and tags.
 * Sources are cited per row, each a public URL with the date it was read.
 */
import type { Source } from "./source";

/** How a model handles `<think>` blocks: switchable, always on, or never. */
export type ThinkingMode = "hybrid" | "thinking" | "instruct";

/** Weight formats published on Hugging Face that vLLM and SGLang load. */
export const HF_FORMATS = ["bf16", "fp8", "awq", "gptq-int4", "gptq-int8"] as const;
/** One Hugging Face weight format. */
export type HfFormat = (typeof HF_FORMATS)[number];

/** GGUF quantizations the Ollama library publishes for Qwen3. */
export const GGUF_QUANTS = ["q4_K_M", "q8_0", "fp16"] as const;
/** One Ollama (GGUF) quantization. */
export type GgufQuant = (typeof GGUF_QUANTS)[number];

/** Mixture-of-experts shape; absent on dense models. */
export interface MoeSpec {
  /** Routed experts per layer. */
  readonly experts: number;
  /** Experts each token is routed to. */
  readonly activeExperts: number;
  /** Hidden width of one expert's MLP. */
  readonly expertIntermediateSize: number;
}

/** The config.json fields that size weights and KV cache. */
export interface Architecture {
  /** `num_hidden_layers`. */
  readonly layers: number;
  /** `hidden_size`. */
  readonly hiddenSize: number;
  /** `intermediate_size` of the dense MLP (unused by all-MoE models, kept for the record). */
  readonly intermediateSize: number;
  /** `num_attention_heads` (query heads). */
  readonly attentionHeads: number;
  /** `num_key_value_heads`. */
  readonly kvHeads: number;
  /** `head_dim`. */
  readonly headDim: number;
  /** `vocab_size` (padded). */
  readonly vocabSize: number;
  /** `tie_word_embeddings`: the LM head shares the embedding matrix. */
  readonly tiedEmbeddings: boolean;
  /** Mixture-of-experts shape, or null for a dense model. */
  readonly moe: MoeSpec | null;
  /** `rope_theta`, which YaRN overrides must repeat; absent where no source gives it. */
  readonly ropeTheta?: number | undefined;
}

/** An Ollama library tag and its download size, where the tags page gives one. */
export interface OllamaTag {
  /** Exact tag to pull, never a moving alias such as `qwen3:30b`. */
  readonly tag: string;
  /** Download size in GB (10^9 bytes) as listed on ollama.com; absent when not found in a source. */
  readonly sizeGB?: number;
}

/** One Qwen3 model as we serve it. */
export interface QwenModel {
  /** Canonical name, the Hugging Face repo name without the org. */
  readonly id: string;
  /** Release line: the April 2025 hybrids, the 2507 updates, or Coder. */
  readonly release: "2504" | "2507" | "coder";
  /** Thinking behaviour of the chat template. */
  readonly thinking: ThinkingMode;
  /** Architecture from config.json. */
  readonly arch: Architecture;
  /** Parameter counts from the model card, in billions. */
  readonly params: { readonly totalB: number; readonly activeB: number };
  /** Context limits in tokens. */
  readonly context: {
    /** Trained context; beyond it YaRN rope scaling is needed. */
    readonly native: number;
    /** Longest context we let vLLM/SGLang serve (with YaRN where above native). */
    readonly max: number;
    /** Context the Ollama GGUF declares; Ollama has no YaRN switch, so this is its ceiling. */
    readonly ollama: number;
  };
  /** Hugging Face repos published by Qwen, per weight format. */
  readonly hf: Readonly<Partial<Record<HfFormat, string>>>;
  /** Ollama tags per GGUF quantization. */
  readonly ollama: Readonly<Partial<Record<GgufQuant, OllamaTag>>>;
  /** Extra spellings users type, beyond those derived from the id, repos and tags. */
  readonly aliases: readonly string[];
  /** vLLM `--tool-call-parser` for this model. */
  readonly vllmToolParser: "hermes" | "qwen3_coder";
  /** SGLang `--tool-call-parser` for this model. */
  readonly sglangToolParser: "qwen25" | "qwen3_coder";
  /** Where the figures above come from. */
  readonly sources: readonly Source[];
}

const HEAD_DIM = 128;
/** rope_theta of every April 2025 Qwen3 config (reference §1.2). */
const ROPE_THETA_2504 = 1_000_000;
const VOCAB = 151936;
const CTX_2504 = { native: 32768, max: 131072, ollama: 40960 } as const;
const CTX_2507 = { native: 262144, max: 262144, ollama: 262144 } as const;

const SRC_REPORT: Source = {
  url: "https://arxiv.org/abs/2505.09388",
  asOf: "2025-05-14",
  note: "Qwen3 Technical Report, Tables 1-2: layers, Q/KV heads, tied embeddings, experts, context",
};
/** A model's own config.json on Hugging Face: the architecture fields above. */
function configJson(id: string, asOf: string, note: string): Source {
  return { url: `https://huggingface.co/Qwen/${id}/blob/main/config.json`, asOf, note };
}
/** The April 2025 dense and MoE configs, whose figures were read together. */
const config2504 = (id: string): Source =>
  configJson(
    id,
    "2026-01-09",
    "hidden/intermediate sizes, head_dim 128, vocab 151936, max_position_embeddings 40960; read from verbatim copies of the file",
  );
const SRC_CONTEXT: Source = {
  url: [
    "https://qwen.readthedocs.io/en/stable/deployment/vllm.html",
    "https://github.com/QwenLM/Qwen3/blob/main/docs/source/getting_started/concepts.md",
  ],
  asOf: "2026-01-09",
  note: "32,768 native, 131,072 with YaRN factor 4 (4B and larger); 2507: 262,144 native",
};
const SRC_HF_REPOS: Source = {
  url: "https://huggingface.co/Qwen",
  asOf: "2026-01-26",
  note:
    "each `hf` entry is the repo https://huggingface.co/<entry> under Qwen's organization; no Qwen/ " +
    "AWQ or GPTQ repos exist for 2507 and Coder. Listed first from xorbitsai/inference's model " +
    "registry",
};
const SRC_OLLAMA_TAGS: Source = {
  url: ["https://ollama.com/library/qwen3/tags", "https://ollama.com/library/qwen3-coder/tags"],
  asOf: "2025-09-01",
  note:
    "tag names and sizes, read from a copy of the tags pages (Aug-Sep 2025); sizes absent here were " +
    "not found in a source. Short tags (qwen3:30b, qwen3:235b, qwen3:4b) moved to 2507 builds, so we " +
    "always pull the explicit quant tag.",
};
const SRC_TOOLS: Source = {
  url: [
    "https://github.com/vllm-project/recipes/blob/main/Qwen/Qwen3-Coder-480B-A35B.md",
    "https://github.com/sgl-project/sglang/blob/main/python/sglang/srt/function_call/function_call_parser.py",
  ],
  asOf: "2026-11-29",
  note: "vLLM: hermes for Qwen3, qwen3_coder for Coder (v0.10.0+); SGLang: qwen25 and qwen3_coder",
};

function card(url: string | readonly string[], asOf: string, note: string): Source {
  return { url, asOf, note };
}

function dense(
  layers: number,
  hiddenSize: number,
  intermediateSize: number,
  attentionHeads: number,
  tiedEmbeddings: boolean,
): Architecture {
  return {
    layers,
    hiddenSize,
    intermediateSize,
    attentionHeads,
    kvHeads: 8,
    headDim: HEAD_DIM,
    vocabSize: VOCAB,
    tiedEmbeddings,
    moe: null,
    ropeTheta: ROPE_THETA_2504,
  };
}

/** Qwen3-30B-A3B shape, shared by its 2507 updates and (with its own intermediate size) Coder. */
const ARCH_30B_A3B: Architecture = {
  layers: 48,
  hiddenSize: 2048,
  intermediateSize: 6144,
  attentionHeads: 32,
  kvHeads: 4,
  headDim: HEAD_DIM,
  vocabSize: VOCAB,
  tiedEmbeddings: false,
  moe: { experts: 128, activeExperts: 8, expertIntermediateSize: 768 },
  ropeTheta: ROPE_THETA_2504,
};
/** Qwen3-235B-A22B shape, shared by its 2507 updates. */
const ARCH_235B_A22B: Architecture = {
  layers: 94,
  hiddenSize: 4096,
  intermediateSize: 12288,
  attentionHeads: 64,
  kvHeads: 4,
  headDim: HEAD_DIM,
  vocabSize: VOCAB,
  tiedEmbeddings: false,
  moe: { experts: 128, activeExperts: 8, expertIntermediateSize: 1536 },
  ropeTheta: ROPE_THETA_2504,
};

function tags(
  prefix: string,
  sizes: Partial<Record<GgufQuant, number | undefined>>,
): Partial<Record<GgufQuant, OllamaTag>> {
  const out: Partial<Record<GgufQuant, OllamaTag>> = {};
  for (const q of GGUF_QUANTS) {
    if (!(q in sizes)) continue;
    const sizeGB = sizes[q];
    out[q] = sizeGB === undefined ? { tag: `${prefix}-${q}` } : { tag: `${prefix}-${q}`, sizeGB };
  }
  return out;
}

const QWEN3_TOOLS = { vllmToolParser: "hermes", sglangToolParser: "qwen25" } as const;

/** Every open-weight Qwen3 model we serve. */
export const MODELS: readonly QwenModel[] = [
  {
    id: "Qwen3-0.6B",
    release: "2504",
    thinking: "hybrid",
    arch: dense(28, 1024, 3072, 16, true),
    params: { totalB: 0.6, activeB: 0.6 },
    // The report lists 32K for 0.6B and 1.7B: no YaRN extension.
    context: { native: 32768, max: 32768, ollama: 40960 },
    hf: { bf16: "Qwen/Qwen3-0.6B", fp8: "Qwen/Qwen3-0.6B-FP8", "gptq-int8": "Qwen/Qwen3-0.6B-GPTQ-Int8" },
    ollama: tags("qwen3:0.6b", { q4_K_M: 0.523, q8_0: 0.832, fp16: 1.5 }),
    aliases: ["qwen3:0.6b"],
    ...QWEN3_TOOLS,
    sources: [
      SRC_REPORT,
      config2504("Qwen3-0.6B"),
      SRC_HF_REPOS,
      SRC_OLLAMA_TAGS,
      card("https://huggingface.co/Qwen/Qwen3-0.6B", "2025-04-29", "0.6B params, 0.44B non-embedding, 32,768 context"),
    ],
  },
  {
    id: "Qwen3-1.7B",
    release: "2504",
    thinking: "hybrid",
    arch: dense(28, 2048, 6144, 16, true),
    params: { totalB: 1.7, activeB: 1.7 },
    context: { native: 32768, max: 32768, ollama: 40960 },
    hf: { bf16: "Qwen/Qwen3-1.7B", fp8: "Qwen/Qwen3-1.7B-FP8", "gptq-int8": "Qwen/Qwen3-1.7B-GPTQ-Int8" },
    ollama: tags("qwen3:1.7b", { q4_K_M: 1.4, q8_0: 2.2, fp16: 4.1 }),
    aliases: ["qwen3:1.7b"],
    ...QWEN3_TOOLS,
    sources: [
      SRC_REPORT,
      config2504("Qwen3-1.7B"),
      SRC_HF_REPOS,
      SRC_OLLAMA_TAGS,
      configJson(
        "Qwen3-1.7B",
        "2026-01-09",
        "hidden 2048, intermediate 6144 (read from a copy in zyzshishui/slime's model scripts)",
      ),
    ],
  },
  {
    id: "Qwen3-4B",
    release: "2504",
    thinking: "hybrid",
    arch: dense(36, 2560, 9728, 32, true),
    params: { totalB: 4.0, activeB: 4.0 },
    context: CTX_2504,
    hf: { bf16: "Qwen/Qwen3-4B", fp8: "Qwen/Qwen3-4B-FP8", awq: "Qwen/Qwen3-4B-AWQ" },
    // The bare qwen3:4b tag now points at a 2507 build; the explicit quant tags keep the April model. Sizes not found.
    ollama: tags("qwen3:4b", { q4_K_M: undefined, q8_0: undefined, fp16: undefined }),
    aliases: ["qwen3:4b"],
    ...QWEN3_TOOLS,
    sources: [SRC_REPORT, config2504("Qwen3-4B"), SRC_CONTEXT, SRC_HF_REPOS, SRC_OLLAMA_TAGS],
  },
  {
    id: "Qwen3-8B",
    release: "2504",
    thinking: "hybrid",
    arch: dense(36, 4096, 12288, 32, false),
    params: { totalB: 8.2, activeB: 8.2 },
    context: CTX_2504,
    hf: { bf16: "Qwen/Qwen3-8B", fp8: "Qwen/Qwen3-8B-FP8", awq: "Qwen/Qwen3-8B-AWQ" },
    ollama: tags("qwen3:8b", { q4_K_M: 5.2, q8_0: undefined, fp16: undefined }),
    aliases: ["qwen3:8b", "qwen3:latest", "qwen3"],
    ...QWEN3_TOOLS,
    sources: [
      SRC_REPORT,
      config2504("Qwen3-8B"),
      SRC_CONTEXT,
      SRC_HF_REPOS,
      SRC_OLLAMA_TAGS,
      card(
        "https://huggingface.co/Qwen/Qwen3-8B",
        "2026-11-30",
        "card: 8.2B params, 6.95B non-embedding, 36 layers, 32 Q / 8 KV heads (checked against a verbatim quote of the card)",
      ),
    ],
  },
  {
    id: "Qwen3-14B",
    release: "2504",
    thinking: "hybrid",
    arch: dense(40, 5120, 17408, 40, false),
    params: { totalB: 14.8, activeB: 14.8 },
    context: CTX_2504,
    hf: { bf16: "Qwen/Qwen3-14B", fp8: "Qwen/Qwen3-14B-FP8", awq: "Qwen/Qwen3-14B-AWQ" },
    ollama: tags("qwen3:14b", { q4_K_M: 9.3, q8_0: undefined, fp16: undefined }),
    aliases: ["qwen3:14b"],
    ...QWEN3_TOOLS,
    sources: [
      SRC_REPORT,
      config2504("Qwen3-14B"),
      SRC_CONTEXT,
      SRC_HF_REPOS,
      SRC_OLLAMA_TAGS,
      card(
        "https://huggingface.co/Qwen/Qwen3-14B",
        "2025-04-29",
        "card: 14.8B params, 13.2B non-embedding (read from OpenPipe/Qwen3-14B-Instruct's copy of the card)",
      ),
    ],
  },
  {
    id: "Qwen3-32B",
    release: "2504",
    thinking: "hybrid",
    arch: dense(64, 5120, 25600, 64, false),
    params: { totalB: 32.8, activeB: 32.8 },
    context: CTX_2504,
    hf: { bf16: "Qwen/Qwen3-32B", fp8: "Qwen/Qwen3-32B-FP8", awq: "Qwen/Qwen3-32B-AWQ" },
    ollama: tags("qwen3:32b", { q4_K_M: 20, q8_0: undefined, fp16: undefined }),
    aliases: ["qwen3:32b"],
    ...QWEN3_TOOLS,
    sources: [
      SRC_REPORT,
      config2504("Qwen3-32B"),
      SRC_CONTEXT,
      SRC_HF_REPOS,
      SRC_OLLAMA_TAGS,
      card(
        ["https://huggingface.co/Qwen/Qwen3-32B", "https://openrouter.ai/qwen/qwen3-32b"],
        "2025-04-29",
        "32.8B params (read on OpenRouter's model page)",
      ),
    ],
  },
  {
    id: "Qwen3-30B-A3B",
    release: "2504",
    thinking: "hybrid",
    arch: ARCH_30B_A3B,
    params: { totalB: 30.5, activeB: 3.3 },
    context: CTX_2504,
    hf: { bf16: "Qwen/Qwen3-30B-A3B", fp8: "Qwen/Qwen3-30B-A3B-FP8", "gptq-int4": "Qwen/Qwen3-30B-A3B-GPTQ-Int4" },
    ollama: tags("qwen3:30b-a3b", { q4_K_M: 19, q8_0: 33, fp16: 61 }),
    aliases: ["qwen3:30b-a3b", "qwen3:30b", "qwen3-30b"],
    ...QWEN3_TOOLS,
    sources: [
      SRC_REPORT,
      config2504("Qwen3-30B-A3B"),
      SRC_CONTEXT,
      SRC_HF_REPOS,
      SRC_OLLAMA_TAGS,
      card(
        "https://huggingface.co/Qwen/Qwen3-30B-A3B-Instruct-2507",
        "2025-07-30",
        "30.5B total / 3.3B active, 48 layers, 32Q/4KV, 128 experts / 8 active (same architecture)",
      ),
    ],
  },
  {
    id: "Qwen3-235B-A22B",
    release: "2504",
    thinking: "hybrid",
    arch: ARCH_235B_A22B,
    params: { totalB: 235, activeB: 22 },
    context: CTX_2504,
    hf: {
      bf16: "Qwen/Qwen3-235B-A22B",
      fp8: "Qwen/Qwen3-235B-A22B-FP8",
      "gptq-int4": "Qwen/Qwen3-235B-A22B-GPTQ-Int4",
    },
    ollama: tags("qwen3:235b-a22b", { q4_K_M: 142, q8_0: 250, fp16: 470 }),
    aliases: ["qwen3:235b-a22b", "qwen3:235b", "qwen3-235b"],
    ...QWEN3_TOOLS,
    sources: [
      SRC_REPORT,
      SRC_CONTEXT,
      SRC_HF_REPOS,
      SRC_OLLAMA_TAGS,
      configJson(
        "Qwen3-235B-A22B",
        "2026-01-09",
        "hidden 4096, moe_intermediate 1536, 94 layers, 64Q/4KV (read from Ascend/MindSpeed-RL's copy on gitcode)",
      ),
    ],
  },
  {
    id: "Qwen3-4B-Instruct-2507",
    release: "2507",
    thinking: "instruct",
    arch: { ...dense(36, 2560, 9728, 32, true), ropeTheta: 5_000_000 },
    params: { totalB: 4.0, activeB: 4.0 },
    context: CTX_2507,
    hf: { bf16: "Qwen/Qwen3-4B-Instruct-2507", fp8: "Qwen/Qwen3-4B-Instruct-2507-FP8" },
    ollama: tags("qwen3:4b-instruct-2507", { q4_K_M: 2.5, q8_0: 4.3, fp16: 8.1 }),
    aliases: ["qwen3:4b-instruct"],
    ...QWEN3_TOOLS,
    sources: [
      SRC_CONTEXT,
      SRC_HF_REPOS,
      SRC_OLLAMA_TAGS,
      configJson(
        "Qwen3-4B-Instruct-2507",
        "2026-01-09",
        "max_position_embeddings 262144, rope_theta 5e6, same dims as Qwen3-4B (read from a copy in akougkas/warpio-cli)",
      ),
    ],
  },
  {
    id: "Qwen3-4B-Thinking-2507",
    release: "2507",
    thinking: "thinking",
    arch: { ...dense(36, 2560, 9728, 32, true), ropeTheta: 5_000_000 },
    params: { totalB: 4.0, activeB: 4.0 },
    context: CTX_2507,
    hf: { bf16: "Qwen/Qwen3-4B-Thinking-2507", fp8: "Qwen/Qwen3-4B-Thinking-2507-FP8" },
    ollama: tags("qwen3:4b-thinking-2507", { q4_K_M: 2.5, q8_0: 4.3, fp16: 8.1 }),
    aliases: ["qwen3:4b-thinking"],
    ...QWEN3_TOOLS,
    sources: [SRC_CONTEXT, SRC_HF_REPOS, SRC_OLLAMA_TAGS],
  },
  {
    id: "Qwen3-30B-A3B-Instruct-2507",
    release: "2507",
    thinking: "instruct",
    arch: { ...ARCH_30B_A3B, ropeTheta: 10_000_000 },
    params: { totalB: 30.5, activeB: 3.3 },
    context: CTX_2507,
    hf: { bf16: "Qwen/Qwen3-30B-A3B-Instruct-2507", fp8: "Qwen/Qwen3-30B-A3B-Instruct-2507-FP8" },
    ollama: tags("qwen3:30b-a3b-instruct-2507", { q4_K_M: 19, q8_0: 32, fp16: 61 }),
    aliases: ["qwen3:30b-instruct"],
    ...QWEN3_TOOLS,
    sources: [
      SRC_CONTEXT,
      SRC_HF_REPOS,
      SRC_OLLAMA_TAGS,
      card(
        "https://huggingface.co/Qwen/Qwen3-30B-A3B-Instruct-2507",
        "2025-07-30",
        "262,144 native context, non-thinking only",
      ),
    ],
  },
  {
    id: "Qwen3-30B-A3B-Thinking-2507",
    release: "2507",
    thinking: "thinking",
    arch: { ...ARCH_30B_A3B, ropeTheta: 10_000_000 },
    params: { totalB: 30.5, activeB: 3.3 },
    context: CTX_2507,
    hf: { bf16: "Qwen/Qwen3-30B-A3B-Thinking-2507", fp8: "Qwen/Qwen3-30B-A3B-Thinking-2507-FP8" },
    ollama: tags("qwen3:30b-a3b-thinking-2507", { q4_K_M: 19, q8_0: 32, fp16: 61 }),
    aliases: ["qwen3:30b-thinking"],
    ...QWEN3_TOOLS,
    sources: [SRC_CONTEXT, SRC_HF_REPOS, SRC_OLLAMA_TAGS],
  },
  {
    id: "Qwen3-235B-A22B-Instruct-2507",
    release: "2507",
    thinking: "instruct",
    arch: { ...ARCH_235B_A22B, ropeTheta: undefined },
    params: { totalB: 235, activeB: 22 },
    context: CTX_2507,
    hf: { bf16: "Qwen/Qwen3-235B-A22B-Instruct-2507", fp8: "Qwen/Qwen3-235B-A22B-Instruct-2507-FP8" },
    // No fp16 tag for the Instruct-2507 build was found in a source, so none is offered.
    ollama: tags("qwen3:235b-a22b-instruct-2507", { q4_K_M: 142, q8_0: 250 }),
    aliases: ["qwen3:235b-instruct"],
    ...QWEN3_TOOLS,
    sources: [
      SRC_CONTEXT,
      SRC_HF_REPOS,
      SRC_OLLAMA_TAGS,
      configJson(
        "Qwen3-235B-A22B-Instruct-2507",
        "2026-01-09",
        "same dims, max_position_embeddings 262144 (read from a derived copy, vera6/affine-multi)",
      ),
    ],
  },
  {
    id: "Qwen3-235B-A22B-Thinking-2507",
    release: "2507",
    thinking: "thinking",
    arch: { ...ARCH_235B_A22B, ropeTheta: undefined },
    params: { totalB: 235, activeB: 22 },
    context: CTX_2507,
    hf: { bf16: "Qwen/Qwen3-235B-A22B-Thinking-2507", fp8: "Qwen/Qwen3-235B-A22B-Thinking-2507-FP8" },
    ollama: tags("qwen3:235b-a22b-thinking-2507", { q4_K_M: 142, q8_0: 250, fp16: 470 }),
    aliases: ["qwen3:235b-thinking"],
    ...QWEN3_TOOLS,
    sources: [SRC_CONTEXT, SRC_HF_REPOS, SRC_OLLAMA_TAGS],
  },
  {
    id: "Qwen3-Coder-30B-A3B-Instruct",
    release: "coder",
    thinking: "instruct",
    arch: { ...ARCH_30B_A3B, intermediateSize: 5472, ropeTheta: 10_000_000 },
    params: { totalB: 30.5, activeB: 3.3 },
    // The card allows 1M with YaRN; we stop at the native 256K, the longest we can size and test.
    context: CTX_2507,
    hf: { bf16: "Qwen/Qwen3-Coder-30B-A3B-Instruct", fp8: "Qwen/Qwen3-Coder-30B-A3B-Instruct-FP8" },
    ollama: tags("qwen3-coder:30b-a3b", { q4_K_M: 19, q8_0: undefined, fp16: undefined }),
    aliases: ["qwen3-coder:30b", "qwen3-coder", "qwen3-coder-30b"],
    vllmToolParser: "qwen3_coder",
    sglangToolParser: "qwen3_coder",
    sources: [
      SRC_HF_REPOS,
      SRC_OLLAMA_TAGS,
      SRC_TOOLS,
      configJson(
        "Qwen3-Coder-30B-A3B-Instruct",
        "2026-01-09",
        "48 layers, 32Q/4KV, 128 experts/8, moe 768, max_position_embeddings 262144 (read from RTP-LLM's copy)",
      ),
    ],
  },
];
