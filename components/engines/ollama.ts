/**
 * Ollama: llama.cpp serving of GGUF quantizations, with layers split across GPUs.
 */
import type { Architecture, QwenModel } from "../catalog/models";
import type { GpuModel } from "../catalog/gpus";
import type { Quantization } from "../catalog/quantizations";
import { ggufHardware } from "../core/hardware";
import { activationBytes, GIB } from "../core/memory";
import type { Engine } from "./types";

/** Ollama engine definition. */
export const ollama: Engine = {
  name: "ollama",
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
  // Ollama's Linux build bundles its CUDA runtime libraries; a few GB. Estimate.
  installDiskGiB: 8,
  maxContext: (model: QwenModel) => model.context.ollama,
  checkHardware: (_model: QwenModel, quant: Quantization, gpu: GpuModel) => ggufHardware(quant, gpu),
};
