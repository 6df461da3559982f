/**
 * SGLang: tensor-parallel serving of Hugging Face checkpoints, launched by `sglang.launch_server`.
 * Pinned to v0.5.21 (lmsysorg/sglang image, CUDA 13: NVIDIA driver >= 580).
 */
import type { QwenModel } from "../catalog/models";
import type { GpuModel } from "../catalog/gpus";
import type { Quantization } from "../catalog/quantizations";
import { hfHardware } from "../footprint/hardware";
import { hfWeights, objectStoreArgv, when, yarnRopeParameters } from "./shared";
import type { Engine, EngineSpeedProfile, ObjectStoreLoading, ServeCommand, ServeInput } from "./types";
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
 * SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN is set (ModelConfig._derive_context_length in
 * https://github.com/sgl-project/sglang/blob/v0.5.21/python/sglang/srt/configs/model_config.py,
 * read on main 2026-11-30, not at the tag). The derived length
 * is max_position_embeddings (40,960 on the April-2025 Qwen3 configs), not multiplied by a YaRN
 * factor that names original_max_position_embeddings. The catalog's native window is never above
 * max_position_embeddings, so a context past it, or any YaRN, sets the variable.
 */
function longerContextEnv(input: ServeInput): Record<string, string> {
  const longer = input.yarn !== null || input.contextLength > input.model.context.native;
  return longer ? { SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN: "1" } : {};
}

/**
 * `--model-path s3://bucket/prefix/ --load-format runai_streamer` (PR #17948, January 2026): config and tokenizer
 * are fetched once, the safetensors streamed by the Run:ai Model Streamer. Its docs pass
 * `--model-loader-extra-config '{"distributed": true}'` at TP > 1 but also say the setting is "automatically set to
 * true for object storage paths", so nothing is added: one flag fewer whose accepted keys the tag would have to match.
 */
const SGLANG_OBJECT_STORE: ObjectStoreLoading = {
  source: {
    url: [
      "https://github.com/sgl-project/sglang/blob/073dcbcefa8882db9c452f7e7bb4986c721c3a44/docs/advanced_features/object_storage.md",
      "https://github.com/sgl-project/sglang/pull/17948",
      "https://github.com/sgl-project/sglang/pull/22715",
      "https://github.com/sgl-project/sglang/pull/22537",
    ],
    asOf: "2026-11-30",
    note:
      "object_storage.md (at a stored commit, not the v0.5.21 tag) documents --model-path s3://…/ with --load-format " +
      "runai_streamer; PR #22715 (merged April 2026) fixed TP > 1 loading of quantized models through it; PR #22537 " +
      "(merged April 2026) installs runai-model-streamer[s3,gcs,azure]>=0.15.7 in the image, tested in a local build. " +
      "All three predate v0.5.21 (2026-10-02); unverified at the tag and in the lmsysorg/sglang:v0.5.21 image itself",
  },
  argv: (planned, uri) => objectStoreArgv(planned, planned.indexOf("--model-path") + 1, uri),
};

/** SGLang engine definition. */
/** How fast this engine runs, as fractions of the datasheet (see {@link EngineSpeedProfile}). */
const SGLANG_SPEED = {
  // Fitted to SGLang v0.5.3.post3 on H100 (Qwen3-8B FP8 at 4 sequences, TPOT 5.65 ms); Qwen's H20 tables
  // (SGLang 0.4.6.post1) run about half as fast and are kept as a stated error, not fitted.
  bandwidthEfficiency: 0.65,
  computeEfficiency: 0.5,
  stepOverheadMs: 1.5,
  moeLayerOverheadMs: 0.06,
  requestOverheadMs: 50,
  architectureFactor: {},
  basis: {
    url: [
      "https://github.com/gpustack/gpustack/blob/1dbc3b8130da92d31539404545a1aff5c3992f8c/docs/performance-lab/qwen3-8b/h100-latency.md",
      "https://github.com/QwenLM/Qwen3/blob/7a2f61ffc7a20d47efcd2bf97f6f2bf52729042e/docs/source/getting_started/speed_benchmark.md",
    ],
    asOf: "2026-11-30",
    note:
      "bandwidth and step overhead fitted to a published SGLang v0.5.3 run on H100; MoE layer overhead to " +
      "Qwen's H20 tables; compute efficiency and request overhead assumed equal to vLLM's",
  },
} as const satisfies EngineSpeedProfile;

export const sglang: Engine = {
  name: "sglang",
  version: SGLANG_VERSION,
  image: `lmsysorg/sglang:v${SGLANG_VERSION}`,
  pinSource: {
    url: [
      "https://github.com/sgl-project/sglang/releases/tag/v0.5.21",
      "https://hub.docker.com/r/lmsysorg/sglang/tags?name=v0.5.21",
      "https://github.com/sgl-project/sglang/blob/v0.5.21/python/sglang/srt/server_args.py",
      "https://docs.sglang.io/advanced_features/server_arguments.html",
      "https://github.com/sgl-project/sglang/pull/10770",
    ],
    asOf: "2026-11-30",
    note:
      "v0.5.21 released 2026-10-02 (release page, 779 PRs); flags from server_args.py (read on main after v0.5.21, " +
      "not at the tag) and the server-arguments page; --enable-ep-moe deprecated in favour of --ep-size by PR " +
      "#10770",
  },
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
    basis: {
      url: [
        "https://github.com/QwenLM/Qwen3/blob/7a2f61ffc7a20d47efcd2bf97f6f2bf52729042e/docs/source/getting_started/speed_benchmark.md",
        "https://docs.sglang.io/advanced_features/server_arguments.html",
      ],
      asOf: "2026-11-30",
      note:
        "--mem-fraction-static 0.85 as in Qwen's SGLang benchmark ('By default, we set mem_fraction_static=0.85'); " +
        "chunked prefill of 8,192 tokens and CUDA graphs sized like vLLM's (an estimate, not an SGLang measurement)",
    },
  },
  driver: {
    minBranch: 580,
    reason: "the image is built on CUDA 13",
    source: {
      url: [
        "https://hub.docker.com/r/lmsysorg/sglang/tags?name=v0.5.21",
        "https://docs.nvidia.com/deploy/cuda-compatibility/minor-version-compatibility.html",
      ],
      asOf: "2026-11-30",
      note:
        "lmsysorg/sglang:v0.5.21 is the CUDA 13.0 build (-cu129 tags are CUDA 12.9; third-party image tables read " +
        "2026-10-05 say so, the tag page itself was not re-read here); NVIDIA's minor-version table: CUDA 13.x " +
        "needs driver >= 580",
    },
  },
  // lmsysorg/sglang was an 11 GB single layer in Feb 2025 (https://github.com/sgl-project/sglang/issues/3673) and has
  // grown since; estimate.
  installDiskGiB: 40,
  speed: SGLANG_SPEED,
  maxContext: (model: QwenModel) => model.context.max,
  // Dense block FP8 runs weight-only through Marlin on sm80-sm88 (https://github.com/sgl-project/sglang/pull/8990; PR
  // https://github.com/sgl-project/sglang/pull/30681 calls it "the existing weight-only FP8 Marlin path for linear
  // layers"); FP8 MoE fails on Ampere ("fp8e4nv not supported", https://github.com/sgl-project/sglang/issues/38291,
  // open in Sept 2026; #30681, which would route it through Marlin, was still open in July 2026).
  checkHardware: (model: QwenModel, quant: Quantization, gpu: GpuModel) =>
    hfHardware(model, quant, gpu, { engine: "sglang", fp8WeightOnlyBelowAda: true, minComputeCapability: 8.0 }),
  serve,
  weights: hfWeights,
  objectStore: SGLANG_OBJECT_STORE,
};
