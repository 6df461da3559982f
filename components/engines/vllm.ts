/**
 * vLLM: tensor-parallel serving of Hugging Face checkpoints with an OpenAI-compatible server.
 * Pinned to v0.31.0 (vllm/vllm-openai image, CUDA 13: NVIDIA driver >= 580).
 */
import type { Architecture, QwenModel } from "../catalog/models";
import type { GpuModel } from "../catalog/gpus";
import type { Quantization } from "../catalog/quantizations";
import { hfHardware } from "../footprint/hardware";
import { activationBytes, GIB } from "../footprint/memory";
import { hfWeights, when, yarnRopeParameters } from "./shared";
import type { Engine, ServeCommand, ServeInput } from "./types";

/** Pinned vLLM release. */
export const VLLM_VERSION = "0.31.0";
const PORT = 8000;

/**
 * Per-GPU runtime memory. vLLM's start-up profile logs ("non_torch_memory takes 0.30-0.39GiB",
 * "PyTorch activation peak memory takes 1.01-2.53GiB", "Estimated CUDA graph memory: 0.17-1.40 GiB")
 * bound the terms; activations are sized for 8,192 batched tokens and 256 sequences of logits.
 */
export function vllmStyleOverheadGiB(arch: Architecture, tensorParallel: number): number {
  const nonTorch = 0.4 + (tensorParallel > 1 ? 0.25 : 0); // CUDA context; NCCL buffers once ranks talk
  const cudaGraphs = 0.5;
  return nonTorch + cudaGraphs + activationBytes(arch, tensorParallel, 8192, 256) / GIB;
}

function serve(input: ServeInput): ServeCommand {
  const { model } = input;
  const repo = hfWeights(model, input.quantization).ref;
  const rope = yarnRopeParameters(input);
  const argv = [
    "vllm",
    "serve",
    repo,
    "--host",
    input.bindHost,
    "--port",
    String(PORT),
    "--served-model-name",
    model.id,
    "--tensor-parallel-size",
    String(input.tensorParallelSize),
    "--max-model-len",
    String(input.contextLength),
    "--gpu-memory-utilization",
    String(vllm.memory.utilization),
    ...when(input.dtypeFallback, "--dtype", "half"),
    ...when(input.expertParallel, "--enable-expert-parallel"),
    // The qwen3 parser handles hybrid models and Thinking-2507 templates that open <think> in the prompt.
    ...when(model.thinking !== "instruct", "--reasoning-parser", "qwen3"),
    "--enable-auto-tool-choice",
    "--tool-call-parser",
    model.vllmToolParser,
    // --rope-scaling is gone; YaRN goes through --hf-overrides in the transformers 5 shape.
    ...when(rope !== null, "--hf-overrides", JSON.stringify({ rope_parameters: rope })),
    ...when(input.revision !== null, "--revision", input.revision ?? ""),
  ];
  return {
    argv,
    // Weights are downloaded before the engine starts, so the engine never reaches the Hub.
    env: { HF_HUB_OFFLINE: "1", VLLM_NO_USAGE_STATS: "1", DO_NOT_TRACK: "1" },
    servedModelName: model.id,
  };
}

/** vLLM engine definition. */
export const vllm: Engine = {
  name: "vllm",
  version: VLLM_VERSION,
  image: `vllm/vllm-openai:v${VLLM_VERSION}`,
  pinSource:
    "v0.31.0 released 2026-10-05; flags checked against vllm-project/vllm main-branch source and docs.vllm.ai " +
    "(--rope-scaling removed in PR #28006, --enable-reasoning removed in v0.10.0); image entrypoint is `vllm serve`",
  port: PORT,
  healthPath: "/health",
  openaiBasePath: "/v1",
  minComputeCapability: 7.0,
  quantizations: ["bf16", "fp8", "awq", "gptq-int4", "gptq-int8"],
  memory: {
    utilization: 0.9,
    split: "tensor",
    kvBytesPerElement: 2,
    overheadGiB: vllmStyleOverheadGiB,
    basis:
      "--gpu-memory-utilization 0.9 (vLLM default, QwenLM/Qwen3:docs/source/deployment/vllm.md); overhead from vLLM start-up logs in " +
      "vllm-project/vllm#11251, #15815, #14452 and gpustack/runner#251 (non-torch 0.3-0.4 GiB, activations 1.0-2.5 GiB, CUDA graphs 0.17-1.4 GiB)",
  },
  driver: {
    minBranch: 580,
    reason: "the image is built on CUDA 13",
    source:
      "vLLM v0.31.0 release images use CUDA 13.0; NVIDIA CUDA compatibility table: CUDA 13.x needs driver >= 580 (docs.nvidia.com/deploy/cuda-compatibility), checked 2026-11-30",
  },
  // vllm/vllm-openai images measured 28.6 GB unpacked (vllm-project/vllm#22377, Dec 2025).
  installDiskGiB: 35,
  maxContext: (model: QwenModel) => model.context.max,
  checkHardware: (model: QwenModel, quant: Quantization, gpu: GpuModel) =>
    hfHardware(model, quant, gpu, { engine: "vllm", fp8WeightOnlyBelowAda: true, minComputeCapability: 7.0 }),
  serve,
  weights: hfWeights,
};
