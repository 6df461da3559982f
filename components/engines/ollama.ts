/**
 * Ollama: llama.cpp serving of GGUF quantizations, with layers split across GPUs.
 * Pinned to 0.33.3 (ollama/ollama image).
 */
import type { Architecture, QwenModel } from "../catalog/models";
import type { GpuModel } from "../catalog/gpus";
import type { Quantization } from "../catalog/quantizations";
import { ggufHardware } from "../footprint/hardware";
import { activationBytes, GIB } from "../footprint/memory";
import type { Engine, ServeCommand, ServeInput, WeightsSource } from "./types";

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
      // KV is allocated for NUM_PARALLEL x CONTEXT_LENGTH tokens (docs/faq.mdx), matching the plan's concurrency.
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
export const ollama: Engine = {
  name: "ollama",
  version: OLLAMA_VERSION,
  image: `ollama/ollama:${OLLAMA_VERSION}`,
  pinSource:
    "0.33.3 released 2026-09-03; env vars from its `ollama serve --help` and ollama/ollama:envconfig/config.go; " +
    "Docker Hub tags carry no leading v",
  port: PORT,
  healthPath: "/api/version",
  openaiBasePath: "/v1",
  minComputeCapability: 5.0,
  quantizations: ["q4_K_M", "q8_0", "fp16"],
  memory: {
    utilization: 0.95,
    split: "layer",
    // OLLAMA_KV_CACHE_TYPE defaults to f16 (ollama/ollama:envconfig/config.go).
    kvBytesPerElement: 2,
    // CUDA context and cuBLAS workspace, plus llama.cpp's compute graph for a 512-token batch.
    overheadGiB: (arch: Architecture) => 0.5 + activationBytes(arch, 1, 512, 512) / GIB,
    basis:
      "KV cache scales with OLLAMA_NUM_PARALLEL x OLLAMA_CONTEXT_LENGTH (ollama/ollama:docs/faq.mdx); f16 KV matches the qwen3:235b log " +
      "memory.required.kv=752 MiB at 4,096 tokens (ollama/ollama#10810); layers spread over GPUs only when one GPU is too small",
  },
  driver: {
    minBranch: 550,
    reason: "Ollama's bundled CUDA runners",
    source:
      "ollama/ollama:docs/gpu.mdx (main, checked 2026-11-30): compute capability 5.0+ and driver 550 and newer; 5.0 to 6.2 need 570, " +
      "which no catalog GPU is (all are 7.5+)",
  },
  // Ollama's Linux build bundles its CUDA runtime libraries; a few GB. Estimate.
  installDiskGiB: 8,
  maxContext: (model: QwenModel) => model.context.ollama,
  checkHardware: (_model: QwenModel, quant: Quantization, gpu: GpuModel) => ggufHardware(quant, gpu),
  serve,
  weights,
};
