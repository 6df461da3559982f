/**
 * GPUs people own: workstation and desktop cards beside the datacenter models of the AWS table,
 * for sizing an existing machine (workstation and Docker targets). Pure data; a new card is a row.
 */
import { GPU_MODELS, type GpuModel } from "./gpus";
import type { Source } from "./source";

/** Compute capabilities of every card below. */
const CC_SOURCE = "https://developer.nvidia.com/cuda-gpus";
const nvsmi = (url: string, what: string, asOf = "2026-11-29"): Source => ({ url: [url, CC_SOURCE], asOf, note: what });

/** NVIDIA architecture whitepapers whose per-card tables give the speed figures below (read 2026-11-30). */
const GA102_WHITEPAPER = "https://www.nvidia.com/content/PDF/nvidia-ampere-ga-102-gpu-architecture-whitepaper-v2.pdf";
const ADA_WHITEPAPER = "https://images.nvidia.com/aem-dam/Solutions/geforce/ada/nvidia-ada-gpu-architecture.pdf";
const BW_WHITEPAPER =
  "https://images.nvidia.com/aem-dam/Solutions/geforce/blackwell/nvidia-rtx-blackwell-gpu-architecture.pdf";

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
    speed: {
      memoryGBps: 936,
      fp16Tflops: 71,
      bf16Tflops: 71,
      fp8Tflops: null,
      source: {
        url: GA102_WHITEPAPER,
        asOf: "2026-11-30",
        note:
          "GA102 whitepaper, GeForce RTX 3090 column: memory bandwidth 936 GB/sec; Peak FP16 Tensor TFLOPS with FP16 " +
          "Accumulate 142/284, with FP32 Accumulate 71/142, Peak BF16 Tensor TFLOPS with FP32 Accumulate 71/142 " +
          "(dense/sparse); GeForce runs FP32 accumulate at half rate, and the FP32-accumulate dense 71 is used. " +
          "Ampere has no FP8",
      },
    },
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
    speed: {
      memoryGBps: 1008,
      fp16Tflops: 165.2,
      bf16Tflops: 165.2,
      fp8Tflops: 330.3,
      source: {
        url: ADA_WHITEPAPER,
        asOf: "2026-11-30",
        note:
          "Ada whitepaper, GeForce RTX 4090 column: memory bandwidth 1008 GB/sec; Peak FP16 and BF16 Tensor TFLOPS " +
          "with FP32 Accumulate 165.2/330.4, Peak FP8 Tensor TFLOPS with FP32 Accumulate 330.3/660.6 (dense/sparse; " +
          "the FP16-accumulate figures are twice these on GeForce); the FP32-accumulate dense figures are used",
      },
    },
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
    speed: {
      memoryGBps: 1792,
      fp16Tflops: 209.5,
      bf16Tflops: 209.5,
      fp8Tflops: 419,
      source: {
        url: BW_WHITEPAPER,
        asOf: "2026-11-30",
        note:
          "RTX Blackwell whitepaper, GeForce RTX 5090 column: 32 GB GDDR7 at 1792 GB/sec; Peak FP16/BF16 Tensor " +
          "TFLOPS with FP32 Accumulate 209.5 and FP8 with FP32 Accumulate 419 dense (half the FP16-accumulate " +
          "419 and 838 on GeForce; sparse figures twice again). Bandwidth confirmed in stored copies; the tensor " +
          "figures are read from the whitepaper's table layout and were not re-confirmed in a stored copy today",
      },
    },
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
    speed: {
      memoryGBps: 768,
      fp16Tflops: 154.8,
      bf16Tflops: 154.8,
      fp8Tflops: null,
      source: {
        url: GA102_WHITEPAPER,
        asOf: "2026-11-30",
        note:
          "GA102 whitepaper, NVIDIA RTX A6000 column: 48 GB GDDR6 at 768 GB/sec; Peak FP16 and BF16 Tensor TFLOPS " +
          "with FP32 Accumulate 154.8/309.7 (dense/sparse; professional cards run FP32 accumulate at full " +
          "rate); dense used. Ampere has no FP8",
      },
    },
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
    speed: {
      memoryGBps: 960,
      fp16Tflops: 364.2,
      bf16Tflops: 364.2,
      fp8Tflops: 728.5,
      source: {
        url: ADA_WHITEPAPER,
        asOf: "2026-11-30",
        note:
          "Ada whitepaper, NVIDIA RTX 6000 Ada Generation column: 48 GB GDDR6 at 960 GB/sec; Peak FP16 and BF16 " +
          "Tensor TFLOPS with FP32 Accumulate 364.2/728.5, Peak FP8 728.5/1457 (dense/sparse; the datasheet's " +
          "headline 1,457 TFLOPS is the sparse FP8 figure, halved here); dense used",
      },
    },
  },
} as const satisfies Record<string, GpuModel>;

/** Every GPU a machine can be described with: workstation cards and the AWS table's models. */
export const KNOWN_GPUS: Readonly<Record<string, GpuModel>> = { ...WORKSTATION_GPUS, ...GPU_MODELS };

/** Names accepted for `gpus.model`. */
export const KNOWN_GPU_NAMES = Object.keys(KNOWN_GPUS);
