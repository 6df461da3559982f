/**
 * The contract every inference engine meets. An engine is one file in this folder that exports
 * an {@link Engine}; the registry in `index.ts` lists them. Pure: no I/O, no Pulumi.
 */
import type { Architecture, QwenModel } from "../catalog/models";
import type { GpuModel } from "../catalog/gpus";
import type { Quantization } from "../catalog/quantizations";
import type { HardwareVerdict } from "../core/hardware";

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
  /** Why the profile's numbers are what they are (sources and measurements). */
  readonly basis: string;
}

/** One inference engine. */
export interface Engine {
  /** Name used in config and flags. */
  readonly name: string;
  /** Quantizations this engine loads, the first being the default. */
  readonly quantizations: readonly [Quantization, ...Quantization[]];
  /** Memory behaviour for sizing. */
  readonly memory: EngineMemoryProfile;
  /** Disk the engine's install or image takes, GiB (weights not included). */
  readonly installDiskGiB: number;
  /** Longest context this engine can serve for a model. */
  maxContext(model: QwenModel): number;
  /** Whether this engine runs a model in a format on a GPU, and in which dtype. */
  checkHardware(model: QwenModel, quant: Quantization, gpu: GpuModel): HardwareVerdict;
}
