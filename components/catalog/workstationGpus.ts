/**
 * GPUs people own: workstation and desktop cards beside the datacenter models of the AWS table,
 * for sizing an existing machine (workstation and Docker targets). Pure data; a new card is a row.
 */
import { GPU_MODELS, type GpuModel } from "./gpus";
import type { Source } from "./source";

/** Compute capabilities of every card below. */
const CC_SOURCE = "https://developer.nvidia.com/cuda-gpus";
const nvsmi = (url: string, what: string, asOf = "2026-11-29"): Source => ({ url: [url, CC_SOURCE], asOf, note: what });

/** Cards not in the AWS table, keyed by the name users write. */
export const WORKSTATION_GPUS = {
  "RTX-3090": {
    name: "RTX-3090",
    architecture: "Ampere",
    computeCapability: 8.6,
    usableMiB: 24268,
    source: nvsmi(
      "https://github.com/noonghunna/club-3090/issues/390",
      "nvidia-smi totals seen: 24268 MiB (older drivers, first read from a file with no public " +
        "address) to 24576 MiB (this issue, driver 580); the lower is used",
      "2026-11-30",
    ),
  },
  "RTX-4090": {
    name: "RTX-4090",
    architecture: "Ada",
    computeCapability: 8.9,
    usableMiB: 24564,
    source: nvsmi(
      "https://github.com/vllm-project/vllm/issues/7553",
      "nvidia-smi: 23859MiB / 24564MiB on RTX 4090 (24564MiB again in https://github.com/RLinf/RLinf/issues/255)",
    ),
  },
  "RTX-5090": {
    name: "RTX-5090",
    architecture: "Blackwell",
    computeCapability: 12.0,
    usableMiB: 32123,
    source: nvsmi(
      "https://github.com/vllm-project/vllm/issues/14452",
      "vLLM log: total_gpu_memory 31.37GiB on RTX 5090",
    ),
  },
  "RTX-A6000": {
    name: "RTX-A6000",
    architecture: "Ampere",
    computeCapability: 8.6,
    usableMiB: 49140,
    source: nvsmi(
      "https://github.com/NVIDIA/k8s-device-plugin/issues/324",
      "nvidia-smi -q on an RTX A6000; the 49140MiB total was first read from a file with no public address and is not yet confirmed on this page",
    ),
  },
  "RTX-6000-Ada": {
    name: "RTX-6000-Ada",
    architecture: "Ada",
    computeCapability: 8.9,
    usableMiB: 49140,
    source: nvsmi(
      "https://github.com/chsasank/device-benchmarks/issues/16",
      "an RTX 6000 Ada report; the 49,140 MiB nvidia-smi total was first read from a file with no public address and is not yet confirmed on this page",
    ),
  },
} as const satisfies Record<string, GpuModel>;

/** Every GPU a machine can be described with: workstation cards and the AWS table's models. */
export const KNOWN_GPUS: Readonly<Record<string, GpuModel>> = { ...WORKSTATION_GPUS, ...GPU_MODELS };

/** Names accepted for `gpus.model`. */
export const KNOWN_GPU_NAMES = Object.keys(KNOWN_GPUS);
