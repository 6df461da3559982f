/**
 * vLLM: tensor-parallel serving of Hugging Face checkpoints with an OpenAI-compatible server.
 */
import type { Architecture, QwenModel } from "../catalog/models";
import type { GpuModel } from "../catalog/gpus";
import type { Quantization } from "../catalog/quantizations";
import { hfHardware } from "../core/hardware";
import { activationBytes, GIB } from "../core/memory";
import type { Engine } from "./types";

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

/** vLLM engine definition. */
export const vllm: Engine = {
  name: "vllm",
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
  // vllm/vllm-openai images measured 28.6 GB unpacked (vllm-project/vllm#22377, Dec 2025).
  installDiskGiB: 35,
  maxContext: (model: QwenModel) => model.context.max,
  checkHardware: (model: QwenModel, quant: Quantization, gpu: GpuModel) =>
    hfHardware(model, quant, gpu, { engine: "vllm", fp8WeightOnlyBelowAda: true }),
};
