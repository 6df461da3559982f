/**
 * SGLang: tensor-parallel serving of Hugging Face checkpoints, launched by `sglang.launch_server`.
 */
import type { QwenModel } from "../catalog/models";
import type { GpuModel } from "../catalog/gpus";
import type { Quantization } from "../catalog/quantizations";
import { hfHardware } from "../core/hardware";
import type { Engine } from "./types";
import { vllmStyleOverheadGiB } from "./vllm";

/** SGLang engine definition. */
export const sglang: Engine = {
  name: "sglang",
  quantizations: ["bf16", "fp8", "awq", "gptq-int4", "gptq-int8"],
  memory: {
    // --mem-fraction-static covers weights and the KV pool; the rest must hold activations and CUDA graphs.
    utilization: 0.85,
    split: "tensor",
    kvBytesPerElement: 2,
    overheadGiB: vllmStyleOverheadGiB,
    basis:
      "--mem-fraction-static 0.85 as in Qwen's SGLang benchmark (QwenLM/Qwen3:docs/source/getting_started/speed_benchmark.md); " +
      "chunked prefill of 8,192 tokens and CUDA graphs sized like vLLM's",
  },
  // lmsysorg/sglang was an 11 GB single layer in Feb 2025 (sgl-project/sglang#3673) and has grown since; estimate.
  installDiskGiB: 40,
  maxContext: (model: QwenModel) => model.context.max,
  // SGLang's FP8 weight-only path on Ampere is not confirmed in a source, so FP8 needs FP8 tensor cores.
  checkHardware: (model: QwenModel, quant: Quantization, gpu: GpuModel) =>
    hfHardware(model, quant, gpu, { engine: "sglang", fp8WeightOnlyBelowAda: false }),
};
