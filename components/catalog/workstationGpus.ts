/**
 * GPUs people own: workstation and desktop cards beside the datacenter models of the AWS table,
 * for sizing an existing machine (workstation and Docker targets). Pure data; a new card is a row.
 */
import { GPU_MODELS, type GpuModel } from "./gpus";
import type { Source } from "./source";

const CC_SOURCE = "compute capability: https://developer.nvidia.com/cuda-gpus";
const nvsmi = (id: string, what: string): Source => ({
  url: `nvidia-smi output in public code (search index id ${id}); ${CC_SOURCE}`,
  asOf: "2026-11-29",
  note: what,
});

/** Cards not in the AWS table, keyed by the name users write. */
export const WORKSTATION_GPUS = {
  "RTX-3090": {
    name: "RTX-3090",
    architecture: "Ampere",
    computeCapability: 8.6,
    usableMiB: 24268,
    source: nvsmi("44960744613", "nvidia-smi totals seen: 24268 to 24576 MiB depending on driver; the lower is used"),
  },
  "RTX-4090": {
    name: "RTX-4090",
    architecture: "Ada",
    computeCapability: 8.9,
    usableMiB: 24564,
    source: {
      url: `vllm-project/vllm#7553 (nvidia-smi: 23859MiB / 24564MiB on RTX 4090); ${CC_SOURCE}`,
      asOf: "2026-11-29",
    },
  },
  "RTX-5090": {
    name: "RTX-5090",
    architecture: "Blackwell",
    computeCapability: 12.0,
    usableMiB: 32123,
    source: {
      url: `vllm-project/vllm#14452 (vLLM log: total_gpu_memory 31.37GiB on RTX 5090); ${CC_SOURCE}`,
      asOf: "2026-11-29",
    },
  },
  "RTX-A6000": {
    name: "RTX-A6000",
    architecture: "Ampere",
    computeCapability: 8.6,
    usableMiB: 49140,
    source: nvsmi("53180135391", "nvidia-smi: 49140MiB"),
  },
  "RTX-6000-Ada": {
    name: "RTX-6000-Ada",
    architecture: "Ada",
    computeCapability: 8.9,
    usableMiB: 49140,
    source: nvsmi("53455615656", "nvidia-smi: 49,140 MiB"),
  },
} as const satisfies Record<string, GpuModel>;

/** Every GPU a machine can be described with: workstation cards and the AWS table's models. */
export const KNOWN_GPUS: Readonly<Record<string, GpuModel>> = { ...WORKSTATION_GPUS, ...GPU_MODELS };

/** Names accepted for `gpus.model`. */
export const KNOWN_GPU_NAMES = Object.keys(KNOWN_GPUS);
