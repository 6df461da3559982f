/**
 * SGLang: tensor-parallel serving of Hugging Face checkpoints, launched by `sglang.launch_server`.
 * Pinned to v0.5.21 (lmsysorg/sglang image, CUDA 13: NVIDIA driver >= 580).
 */
import type { QwenModel } from "../catalog/models";
import type { GpuModel } from "../catalog/gpus";
import type { Quantization } from "../catalog/quantizations";
import { hfHardware } from "../footprint/hardware";
import { hfWeights, when, yarnRopeParameters } from "./shared";
import type { Engine, ServeCommand, ServeInput } from "./types";
import { vllmStyleOverheadGiB } from "./vllm";

/** Pinned SGLang release. */
export const SGLANG_VERSION = "0.5.21";
const PORT = 30000;
const MEM_FRACTION_STATIC = 0.85;

function serve(input: ServeInput): ServeCommand {
  const { model } = input;
  const repo = hfWeights(model, input.quantization).ref;
  const rope = yarnRopeParameters(input);
  // Which key SGLang 0.5.21 reads is not confirmed (transformers 5 renamed rope_scaling to
  // rope_parameters), so the override carries both; the unused one is an inert config attribute.
  const override =
    rope === null
      ? null
      : {
          rope_scaling: {
            rope_type: "yarn",
            factor: rope.factor,
            original_max_position_embeddings: rope.original_max_position_embeddings,
          },
          rope_parameters: rope,
        };
  const argv = [
    "python3",
    "-m",
    "sglang.launch_server",
    "--model-path",
    repo,
    "--host",
    input.bindHost,
    "--port",
    String(PORT),
    "--served-model-name",
    model.id,
    "--tp-size",
    String(input.tensorParallelSize),
    "--context-length",
    String(input.contextLength),
    "--mem-fraction-static",
    String(MEM_FRACTION_STATIC),
    // Prometheus metrics on the same port feed the idle watchdog.
    "--enable-metrics",
    ...when(input.dtypeFallback, "--dtype", "half"),
    ...when(input.expertParallel, "--ep-size", String(input.tensorParallelSize)),
    // Thinking-2507 templates open <think> in the prompt; qwen3-thinking treats output as reasoning until </think>.
    ...when(model.thinking === "hybrid", "--reasoning-parser", "qwen3"),
    ...when(model.thinking === "thinking", "--reasoning-parser", "qwen3-thinking"),
    "--tool-call-parser",
    model.sglangToolParser,
    ...when(override !== null, "--json-model-override-args", JSON.stringify(override)),
    ...when(input.revision !== null, "--revision", input.revision ?? ""),
  ];
  return {
    argv,
    env: { HF_HUB_OFFLINE: "1", DO_NOT_TRACK: "1", ...longerContextEnv(input) },
    servedModelName: model.id,
  };
}

/**
 * SGLang refuses a --context-length above the length it derives from the config unless
 * SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN is set (sgl-project/sglang:python/sglang/srt/configs/
 * model_config.py, ModelConfig._derive_context_length, main checked 2026-11-30). The derived length
 * is max_position_embeddings (40,960 on the April-2025 Qwen3 configs), not multiplied by a YaRN
 * factor that names original_max_position_embeddings. The catalog's native window is never above
 * max_position_embeddings, so a context past it, or any YaRN, sets the variable.
 */
function longerContextEnv(input: ServeInput): Record<string, string> {
  const longer = input.yarn !== null || input.contextLength > input.model.context.native;
  return longer ? { SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN: "1" } : {};
}

/** SGLang engine definition. */
export const sglang: Engine = {
  name: "sglang",
  version: SGLANG_VERSION,
  image: `lmsysorg/sglang:v${SGLANG_VERSION}`,
  pinSource:
    "v0.5.21 released 2026-10-02; flags checked against sgl-project/sglang:python/sglang/srt/server_args.py (main after v0.5.21) " +
    "and docs.sglang.io; --enable-ep-moe is deprecated in favour of --ep-size",
  port: PORT,
  healthPath: "/health",
  openaiBasePath: "/v1",
  // 2026 reports show "no kernel image is available" on T4 and RTX 2080 (sm75); gpustack blocks SGLang below 8.0.
  minComputeCapability: 8.0,
  quantizations: ["bf16", "fp8", "awq", "gptq-int4", "gptq-int8"],
  memory: {
    // --mem-fraction-static covers weights and the KV pool; the rest must hold activations and CUDA graphs.
    utilization: MEM_FRACTION_STATIC,
    split: "tensor",
    kvBytesPerElement: 2,
    overheadGiB: vllmStyleOverheadGiB,
    basis:
      "--mem-fraction-static 0.85 as in Qwen's SGLang benchmark (QwenLM/Qwen3:docs/source/getting_started/speed_benchmark.md); " +
      "chunked prefill of 8,192 tokens and CUDA graphs sized like vLLM's",
  },
  driver: {
    minBranch: 580,
    reason: "the image is built on CUDA 13",
    source:
      "lmsysorg/sglang:v0.5.21 is the CUDA 13 build; NVIDIA CUDA compatibility table: CUDA 13.x needs driver >= 580 (docs.nvidia.com/deploy/cuda-compatibility), checked 2026-11-30",
  },
  // lmsysorg/sglang was an 11 GB single layer in Feb 2025 (sgl-project/sglang#3673) and has grown since; estimate.
  installDiskGiB: 40,
  maxContext: (model: QwenModel) => model.context.max,
  // Dense block FP8 runs weight-only through Marlin on sm80-sm88 (sgl-project/sglang PR #8990);
  // FP8 MoE fails on Ampere ("fp8e4nv not supported", sgl-project/sglang#38291, open in Sept 2026).
  checkHardware: (model: QwenModel, quant: Quantization, gpu: GpuModel) =>
    hfHardware(model, quant, gpu, { engine: "sglang", fp8WeightOnlyBelowAda: true, minComputeCapability: 8.0 }),
  serve,
  weights: hfWeights,
};
