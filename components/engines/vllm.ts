/**
 * vLLM: tensor-parallel serving of Hugging Face checkpoints with an OpenAI-compatible server.
 * Pinned to v0.31.0 (vllm/vllm-openai image, CUDA 13: NVIDIA driver >= 580).
 */
import type { Architecture, QwenModel } from "../catalog/models";
import type { GpuModel } from "../catalog/gpus";
import type { Quantization } from "../catalog/quantizations";
import { hfHardware } from "../footprint/hardware";
import { activationBytes, GIB } from "../footprint/memory";
import { hfWeights, objectStoreArgv, when, yarnRopeParameters } from "./shared";
import type { Engine, EngineSpeedProfile, ObjectStoreLoading, ServeCommand, ServeInput } from "./types";

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

/**
 * `vllm serve s3://bucket/prefix/ --load-format runai_streamer`: the Run:ai Model Streamer reads the safetensors from
 * S3 into GPU memory, with no copy on disk; config and tokenizer files are pulled from the same folder first. One
 * reader per rank at TP > 1 (the optional `{"distributed": true}` loader setting is not used: nothing measured yet).
 */
const VLLM_OBJECT_STORE: ObjectStoreLoading = {
  source: {
    url: [
      "https://docs.vllm.ai/en/stable/models/extensions/runai_model_streamer/",
      "https://docs.vllm.ai/en/v0.24.0/api/vllm/model_executor/model_loader/runai_streamer_loader/",
      "https://github.com/vllm-project/vllm/pull/24435",
      "https://github.com/vllm-project/vllm/blob/dead20baf70df70580ecb093f82b0b7b8676e4f5/docker/Dockerfile",
    ],
    asOf: "2026-11-30",
    note:
      "the docs (stable, and every version since v0.6.6) load `vllm serve s3://core-llm/Llama-3-8b --load-format " +
      "runai_streamer`; PR #24435 switches an s3:// model to runai_streamer and refuses any other load format; the " +
      "vllm-openai image stage installs 'runai-model-streamer[s3,gcs]>=0.14.0' (Dockerfile at a commit before " +
      "v0.31.0). Unverified at the v0.31.0 tag itself (neither the tag's Dockerfile nor its loader was read)",
  },
  // vllm serve <model>: the model is the third word.
  argv: (planned, uri) => objectStoreArgv(planned, 2, uri),
};

/** vLLM engine definition. */
/** How fast this engine runs, as fractions of the datasheet (see {@link EngineSpeedProfile}). */
const VLLM_SPEED = {
  // Fitted to vLLM v0.11.0 on H100 (Qwen3-8B bf16: TPOT 7.28 ms, TTFT 59 ms) and A100 (Qwen3-30B-A3B,
  // 103.9 tokens/s): components/catalog/measurements.ts; test/throughput.test.ts states each error.
  bandwidthEfficiency: 0.75,
  computeEfficiency: 0.5,
  stepOverheadMs: 1,
  moeLayerOverheadMs: 0.09,
  requestOverheadMs: 50,
  architectureFactor: {},
  basis: {
    url: [
      "https://github.com/gpustack/gpustack/blob/1dbc3b8130da92d31539404545a1aff5c3992f8c/docs/performance-lab/qwen3-8b/h100-latency.md",
      "https://github.com/tenstorrent/tt-inference-server/issues/340",
    ],
    asOf: "2026-11-30",
    note:
      "bandwidth, step and request overheads fitted to published vLLM v0.11.0 runs on H100 and A100 " +
      "(components/catalog/measurements.ts); compute efficiency assumed (no vLLM prefill measurement found)",
  },
} as const satisfies EngineSpeedProfile;

export const vllm: Engine = {
  name: "vllm",
  version: VLLM_VERSION,
  image: `vllm/vllm-openai:v${VLLM_VERSION}`,
  pinSource: {
    url: [
      "https://github.com/vllm-project/vllm/releases/tag/v0.31.0",
      "https://hub.docker.com/r/vllm/vllm-openai/tags?name=v0.31.0",
      "https://docs.vllm.ai/en/v0.31.0/configuration/engine_args/",
      "https://github.com/vllm-project/vllm/blob/v0.31.0/vllm/engine/arg_utils.py",
      "https://github.com/vllm-project/vllm/pull/28006",
      "https://github.com/vllm-project/vllm/pull/17452",
      "https://github.com/vllm-project/vllm/issues/18538",
      "https://github.com/vllm-project/vllm/blob/v0.31.0/docker/Dockerfile",
    ],
    asOf: "2026-11-30",
    note:
      "v0.31.0 released 2026-10-05 (a vLLM digest of 2026-10-06 lists it as new in the last 24 h); flags from the " +
      "engine-args page and arg_utils.py of the tag; --rope-scaling removed in PR #28006 (vLLM 0.11.1, as " +
      "vllm-project/recipes PR #856 says), --enable-reasoning deprecated in PR #17452 and refused by 0.10.0 (issue " +
      "#18538); the image's entrypoint is `vllm serve` (run-engine.sh sets --entrypoint anyway). The tag's own " +
      "arg_utils.py and Dockerfile were not re-read here: the stored copies predate the tag",
  },
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
    basis: {
      url: [
        "https://github.com/QwenLM/Qwen3/blob/7a2f61ffc7a20d47efcd2bf97f6f2bf52729042e/docs/source/deployment/vllm.md",
        "https://github.com/vllm-project/vllm/issues/11251",
        "https://github.com/vllm-project/vllm/issues/15815",
        "https://github.com/vllm-project/vllm/issues/14452",
        "https://github.com/gpustack/runner/pull/251",
      ],
      asOf: "2026-11-30",
      note:
        "--gpu-memory-utilization 0.9 is vLLM's default (Qwen's vLLM page: 'By default, it is 0.9'); start-up logs " +
        "bound the overhead: non_torch 0.39 GiB and activations 2.53 GiB (#11251), 0.33 GiB and 1.01-1.77 GiB " +
        "(#14452), CUDA graphs 0.36 GiB (gpustack/runner PR #251). #15815 (Qwen2.5-32B at TP 2 on L40S) was not " +
        "re-read here, and no page read here shows the 1.4 GiB CUDA-graph upper figure",
    },
  },
  driver: {
    minBranch: 580,
    reason: "the image is built on CUDA 13",
    source: {
      url: [
        "https://hub.docker.com/r/vllm/vllm-openai/tags?name=v0.31.0",
        "https://github.com/vllm-project/vllm/pull/39878",
        "https://docs.nvidia.com/deploy/cuda-compatibility/minor-version-compatibility.html",
      ],
      asOf: "2026-11-30",
      note:
        "the default v0.31.0 tag is the CUDA 13.0 build (CUDA 13 became the default in v0.20.0, PR #39878; -cu129 " +
        "tags are the CUDA 12.9 builds); NVIDIA's minor-version table: CUDA 13.x needs driver >= 580",
    },
  },
  // vllm/vllm-openai:latest measured 28.6 GB unpacked (https://github.com/vllm-project/vllm/pull/22377, Dec 2025).
  installDiskGiB: 35,
  speed: VLLM_SPEED,
  maxContext: (model: QwenModel) => model.context.max,
  checkHardware: (model: QwenModel, quant: Quantization, gpu: GpuModel) =>
    hfHardware(model, quant, gpu, { engine: "vllm", fp8WeightOnlyBelowAda: true, minComputeCapability: 7.0 }),
  serve,
  weights: hfWeights,
  objectStore: VLLM_OBJECT_STORE,
};
