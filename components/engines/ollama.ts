/**
 * Ollama: llama.cpp serving of GGUF quantizations, with layers split across GPUs.
 * Pinned to 0.33.3 (ollama/ollama image).
 */
import type { Architecture, QwenModel } from "../catalog/models";
import type { GpuModel } from "../catalog/gpus";
import type { Quantization } from "../catalog/quantizations";
import { ggufHardware } from "../footprint/hardware";
import { activationBytes, GIB } from "../footprint/memory";
import type { Engine, EngineSpeedProfile, ServeCommand, ServeInput, WeightsSource } from "./types";

/** Pinned Ollama release. */
export const OLLAMA_VERSION = "0.33.3";
const PORT = 11434;

function weights(model: QwenModel, quant: Quantization): WeightsSource {
  const tag = model.ollama[quant as keyof typeof model.ollama];
  if (tag === undefined) throw new Error(`no Ollama tag for ${model.id} in ${quant}`);
  return { source: "ollama", ref: tag.tag };
}

function serve(input: ServeInput): ServeCommand {
  const tag = weights(input.model, input.quantization).ref;
  return {
    argv: ["ollama", "serve"],
    env: {
      OLLAMA_HOST: `${input.bindHost}:${PORT}`,
      // Ollama's own default depends on VRAM (4k to 256k); the plan sized KV for exactly this.
      OLLAMA_CONTEXT_LENGTH: String(input.contextLength),
      // KV is allocated for NUM_PARALLEL x CONTEXT_LENGTH tokens (https://docs.ollama.com/faq), matching the
      // plan's concurrency.
      OLLAMA_NUM_PARALLEL: String(input.concurrency),
      // Negative keeps the model loaded forever; the idle watchdog, not Ollama, decides when to stop.
      OLLAMA_KEEP_ALIVE: "-1",
      OLLAMA_MAX_LOADED_MODELS: "1",
      OLLAMA_FLASH_ATTENTION: "1",
      OLLAMA_KV_CACHE_TYPE: "f16",
      // Large GGUFs take longer than the 5m default to load from EBS.
      OLLAMA_LOAD_TIMEOUT: "30m",
      DO_NOT_TRACK: "1",
    },
    servedModelName: tag,
  };
}

/** Ollama engine definition. */
/** How fast this engine runs, as fractions of the datasheet (see {@link EngineSpeedProfile}). */
const OLLAMA_SPEED = {
  // Fitted to llama.cpp (what Ollama runs) on L40S: Qwen3-8B Q5_K_M tg128 104.18 tokens/s, pp512 7907.81
  // tokens/s (community llama-bench; components/catalog/measurements.ts).
  bandwidthEfficiency: 0.75,
  computeEfficiency: 0.33,
  stepOverheadMs: 1,
  moeLayerOverheadMs: 0.09,
  requestOverheadMs: 50,
  architectureFactor: {},
  basis: {
    url: [
      "https://github.com/willettAMT/perf-analysis-modeling-project/blob/5dd1d2520429714bae91a94054612cef27c9db27/measurements/aaron/benchmark_results_4gpu_20251129_181939.md",
    ],
    asOf: "2026-11-30",
    note:
      "bandwidth, step overhead and prefill compute fitted to a community llama-bench run on L40S; MoE and " +
      "request overheads assumed equal to vLLM's (no Ollama measurement found)",
  },
} as const satisfies EngineSpeedProfile;

export const ollama: Engine = {
  name: "ollama",
  version: OLLAMA_VERSION,
  image: `ollama/ollama:${OLLAMA_VERSION}`,
  pinSource: {
    url: [
      "https://github.com/ollama/ollama/releases/tag/v0.33.3",
      "https://hub.docker.com/r/ollama/ollama/tags?name=0.33.3",
      "https://github.com/ollama/ollama/blob/v0.33.3/envconfig/config.go",
      "https://github.com/microsoft/winget-pkgs/pull/428989",
    ],
    asOf: "2026-11-30",
    note:
      "0.33.3 released 2026-09-03 (the winget package PR of that day); env vars and their defaults from " +
      "envconfig/config.go, read at commit fb30760 (main, 2026-08-21, before the tag) since the tag itself is not " +
      "stored here; Docker Hub tags carry no leading v, GitHub tags do",
  },
  port: PORT,
  healthPath: "/api/version",
  openaiBasePath: "/v1",
  minComputeCapability: 5.0,
  quantizations: ["q4_K_M", "q8_0", "fp16"],
  memory: {
    utilization: 0.95,
    split: "layer",
    // OLLAMA_KV_CACHE_TYPE defaults to f16 (https://github.com/ollama/ollama/blob/v0.33.3/envconfig/config.go).
    kvBytesPerElement: 2,
    // CUDA context and cuBLAS workspace, plus llama.cpp's compute graph for a 512-token batch.
    overheadGiB: (arch: Architecture) => 0.5 + activationBytes(arch, 1, 512, 512) / GIB,
    basis: {
      url: [
        "https://github.com/ollama/ollama/blob/v0.33.3/docs/faq.mdx",
        "https://docs.ollama.com/faq",
        "https://github.com/ollama/ollama/issues/10810",
      ],
      asOf: "2026-11-30",
      note:
        "KV cache scales with OLLAMA_NUM_PARALLEL x OLLAMA_CONTEXT_LENGTH (the FAQ: 'Required RAM will scale by " +
        "OLLAMA_NUM_PARALLEL * OLLAMA_CONTEXT_LENGTH', read at fb30760); f16 KV matches the qwen3:235b log " +
        "memory.required.kv=752 MiB at 4,096 tokens (#10810); layers spread over GPUs only when one GPU is too " +
        "small",
    },
  },
  driver: {
    minBranch: 550,
    reason: "Ollama's bundled CUDA runners",
    source: {
      url: ["https://github.com/ollama/ollama/blob/v0.33.3/docs/gpu.mdx", "https://docs.ollama.com/gpu"],
      asOf: "2026-11-30",
      note:
        "compute capability 5.0+ and driver 550 and newer; 5.0 to 6.2 need 570, which no catalog GPU is (all are " +
        "7.5+); read in docs/gpu.mdx at fb30760 and on docs.ollama.com (an older copy of that page said 531)",
    },
  },
  // Ollama's Linux build bundles its CUDA runtime libraries; a few GB. Estimate.
  installDiskGiB: 8,
  speed: OLLAMA_SPEED,
  maxContext: (model: QwenModel) => model.context.ollama,
  checkHardware: (_model: QwenModel, quant: Quantization, gpu: GpuModel) => ggufHardware(quant, gpu),
  serve,
  weights,
};
