/**
 * The contract every inference engine meets. An engine is one file in this folder that exports
 * an {@link Engine}; the registry in `index.ts` lists them. Pure: no I/O, no Pulumi.
 */
import type { Architecture, QwenModel } from "../catalog/models";
import type { GpuModel } from "../catalog/gpus";
import type { Quantization } from "../catalog/quantizations";
import type { Source } from "../catalog/source";
import type { HardwareVerdict } from "../footprint/hardware";

/** How an engine uses GPU memory, for sizing. */
export interface EngineMemoryProfile {
  /** Fraction of each GPU's memory the engine lets itself use (vLLM's --gpu-memory-utilization). */
  readonly utilization: number;
  /** How weights and KV cache spread over several GPUs: tensor-parallel shards or whole layers. */
  readonly split: "tensor" | "layer";
  /** Bytes per KV-cache element at the engine's default KV dtype. */
  readonly kvBytesPerElement: number;
  /** Runtime memory per GPU besides weights and KV cache: CUDA context, activations, CUDA graphs. */
  overheadGiB(arch: Architecture, tensorParallel: number): number;
  /** Why the profile's numbers are what they are: public sources and measurements, dated; the note explains. */
  readonly basis: Source;
}

/** The sized decisions an engine turns into a command line. */
export interface ServeInput {
  readonly model: QwenModel;
  readonly quantization: Quantization;
  /** Compute dtype the hardware rules chose. */
  readonly dtype: "bfloat16" | "float16";
  /** Whether float16 was forced because the GPU has no bfloat16. */
  readonly dtypeFallback: boolean;
  readonly contextLength: number;
  readonly concurrency: number;
  readonly tensorParallelSize: number;
  readonly expertParallel: boolean;
  /** YaRN scaling when the context exceeds the native window. */
  readonly yarn: { readonly factor: number; readonly originalMaxPositionEmbeddings: number } | null;
  /** Pinned Hugging Face commit, when the stack pins one. */
  readonly revision: string | null;
  /**
   * Address the server binds inside its container: 0.0.0.0 on a container network (every target
   * since the engine left the host network; the host publishes the port on 127.0.0.1 only).
   * 127.0.0.1 would make the engine unreachable from outside its container.
   */
  readonly bindHost: "127.0.0.1" | "0.0.0.0";
}

/** What the machine runs: the engine's own command line and environment. Never holds a secret. */
export interface ServeCommand {
  /** The engine program and its arguments, e.g. `vllm serve Qwen/Qwen3-8B ...`. */
  readonly argv: readonly string[];
  /** Environment for the engine process. */
  readonly env: Readonly<Record<string, string>>;
  /** The `model` value clients send. */
  readonly servedModelName: string;
}

/** Where the weights come from and how big they are. */
export interface WeightsSource {
  /** `hf`: `hf download` into the Hugging Face cache; `ollama`: the server's /api/pull. */
  readonly source: "hf" | "ollama";
  /** Repo id or Ollama tag. */
  readonly ref: string;
}

/** The oldest NVIDIA driver branch an engine's pinned image runs on. */
export interface DriverNeed {
  /** Driver branch, e.g. 580 (the major version nvidia-smi reports). */
  readonly minBranch: number;
  /** Why, in a few words, for the machine's error message. */
  readonly reason: string;
  /** Where the minimum was checked: public URLs and the date. */
  readonly source: Source;
}

/**
 * How fast an engine runs on the hardware, as fractions of the datasheet: the throughput model's
 * calibration. Each engine states its own figures and what they were fitted against.
 */
export interface EngineSpeedProfile {
  /** Fraction of the GPU's datasheet memory bandwidth a decode step achieves. */
  readonly bandwidthEfficiency: number;
  /** Fraction of the datasheet dense tensor TFLOPS prefill and compute-bound decode achieve. */
  readonly computeEfficiency: number;
  /** Fixed time per decode step beyond moving bytes (scheduling, sampling, kernel launches), ms. */
  readonly stepOverheadMs: number;
  /** Extra fixed time per MoE layer per step (routing, top-k, grouped-GEMM launches), ms. */
  readonly moeLayerOverheadMs: number;
  /** Fixed time a request spends outside the GPU before its first token (HTTP, tokenizing, scheduling), ms. */
  readonly requestOverheadMs: number;
  /** Multipliers on bandwidth efficiency per GPU architecture where the engine's kernels differ. */
  readonly architectureFactor: Readonly<Partial<Record<GpuModel["architecture"], number>>>;
  /** The measurements the figures were fitted to, and which figures are assumptions. */
  readonly basis: Source;
}

/**
 * Loading the weights straight from an object store (the S3 weights mirror), where the pinned engine and its image
 * support it. Absent on an engine that cannot: its weights are copied to disk first.
 */
export interface ObjectStoreLoading {
  /** Where the flags and the image's streamer package were checked: public URLs and the date. */
  readonly source: Source;
  /**
   * The planned argv, loading the model from `uri` (an `s3://bucket/prefix/` folder holding the revision's files)
   * instead of the Hub: the revision is in the path, so no --revision; the served model name is unchanged.
   */
  argv(planned: readonly string[], uri: string): string[];
}

/** One inference engine. */
export interface Engine {
  /** Name used in config and flags. */
  readonly name: string;
  /** Pinned engine version. */
  readonly version: string;
  /** Pinned container image (repo:tag) the machine runs. */
  readonly image: string;
  /** Where the pin and the flags were checked: public URLs (release, image tag, flag source) and the date. */
  readonly pinSource: Source;
  /** Port the engine listens on inside its container; published on the host's 127.0.0.1 only. */
  readonly port: number;
  /** Path that answers 200 once the server is up. */
  readonly healthPath: string;
  /** Base path of the OpenAI-compatible API. */
  readonly openaiBasePath: "/v1";
  /** Lowest compute capability the pinned build has kernels for. */
  readonly minComputeCapability: number;
  /** Quantizations this engine loads, the first being the default. */
  readonly quantizations: readonly [Quantization, ...Quantization[]];
  /** Memory behaviour for sizing. */
  readonly memory: EngineMemoryProfile;
  /** The driver the pinned image needs; absent where no minimum is known. */
  readonly driver?: DriverNeed;
  /** Disk the engine's install or image takes, GiB (weights not included). */
  readonly installDiskGiB: number;
  /** Calibration of the throughput model for this engine. */
  readonly speed: EngineSpeedProfile;
  /** Longest context this engine can serve for a model. */
  maxContext(model: QwenModel): number;
  /** Whether this engine runs a model in a format on a GPU, and in which dtype. */
  checkHardware(model: QwenModel, quant: Quantization, gpu: GpuModel): HardwareVerdict;
  /** The serve command for sized decisions. */
  serve(input: ServeInput): ServeCommand;
  /** Where the weights for a model and format come from. */
  weights(model: QwenModel, quant: Quantization): WeightsSource;
  /** Streaming the weights from S3 into the engine; absent where the pinned engine cannot. */
  readonly objectStore?: ObjectStoreLoading;
}
