/**
 * The AWS GPU instance catalog: GPU models and the instance types that carry them,
 * with us-east-1 Linux prices. Pure data; adding a GPU family means adding rows here.
 */
import { FAMILY_INTERCONNECTS, type Interconnect } from "./interconnect";
import type { Source } from "./source";

/** One GPU model as the engines see it. */
export interface GpuModel {
  /** Short name used in instance rows and output. */
  readonly name: string;
  /** NVIDIA architecture, for the reader. */
  readonly architecture: "Turing" | "Ampere" | "Ada" | "Hopper" | "Blackwell";
  /** CUDA compute capability, e.g. 8.9; drives dtype and FP8 rules. */
  readonly computeCapability: number;
  /** Memory one process can see, in MiB: the lower of EC2's GpuInfo and the driver's own total. */
  readonly usableMiB: number;
  /** Where the capability and memory come from. */
  readonly source: Source;
  /** Datasheet speed: what the throughput model divides by. */
  readonly speed: GpuSpeed;
}

/** A GPU's datasheet speed figures, dense (no structured sparsity), with their source. */
export interface GpuSpeed {
  /** Memory bandwidth, GB/s (10^9 bytes per second). */
  readonly memoryGBps: number;
  /** Dense FP16 tensor-core TFLOPS with FP32 accumulate. */
  readonly fp16Tflops: number;
  /** Dense BF16 tensor-core TFLOPS with FP32 accumulate, or null where the GPU has no BF16 (Turing). */
  readonly bf16Tflops: number | null;
  /** Dense FP8 tensor-core TFLOPS, or null where the GPU has no FP8 tensor cores (before Ada). */
  readonly fp8Tflops: number | null;
  /** Where the figures come from. */
  readonly source: Source;
}

/** One EC2 instance type with GPUs. */
export interface GpuInstance {
  /** EC2 instance type, e.g. `g6e.xlarge`. */
  readonly type: string;
  /** Family, the part before the dot. */
  readonly family: string;
  /** Key into {@link GPU_MODELS} (or a synthetic GPU table in tests). */
  readonly gpu: string;
  /** GPUs per instance. */
  readonly gpuCount: number;
  /** vCPUs. */
  readonly vcpus: number;
  /** Host memory, GiB. */
  readonly ramGiB: number;
  /** Local instance-store NVMe, GB in total (ephemeral: lost on stop). */
  readonly nvmeGB: number;
  /** On-demand Linux price in us-east-1, USD per hour. */
  readonly onDemandUsdPerHour: number;
  /** Spot price range across us-east-1 zones in the snapshot, or null where none was listed. */
  readonly spotUsdPerHour: { readonly min: number; readonly max: number } | null;
  /** Where the row's figures come from. */
  readonly source: Source;
  /** How the instance's GPUs talk to each other, from the family's row in {@link FAMILY_INTERCONNECTS}. */
  readonly interconnect: Interconnect;
}

const NVSMI_T4: Source = {
  url: "https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-run-jobs-slurm-docker.html",
  asOf: "2026-11-29",
  note:
    'nvidia-smi sample on an AWS host in "Running Docker containers on a Slurm compute node on ' +
    'HyperPod": Tesla T4 reports 15109MiB with ECC on; EC2 GpuInfo says 16384',
};

/** GPU models, keyed by name. Compute capability from https://developer.nvidia.com/cuda-gpus. */
export const GPU_MODELS = {
  T4: {
    name: "T4",
    architecture: "Turing",
    computeCapability: 7.5,
    usableMiB: 15109,
    source: NVSMI_T4,
    speed: {
      memoryGBps: 320,
      fp16Tflops: 65,
      bf16Tflops: null,
      fp8Tflops: null,
      source: {
        url: "https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/tesla-t4/t4-tensor-core-datasheet-951643.pdf",
        asOf: "2026-11-30",
        note:
          'T4 datasheet, specifications table: "Mixed Precision (FP16/FP32) 65 TFLOPS" (Turing has no structured ' +
          'sparsity, so dense), "GPU Memory Bandwidth 320+ GB/s"; Turing has no BF16 and no FP8 tensor cores',
      },
    },
  },
  A10G: {
    name: "A10G",
    architecture: "Ampere",
    computeCapability: 8.6,
    usableMiB: 22888,
    source: {
      url: "https://github.com/skypilot-org/skypilot-catalog/blob/00148f2/catalogs/v8/aws/vms.csv",
      asOf: "2026-01-21",
      note: "GpuInfo column; CC 8.6 as listed for A10 at https://developer.nvidia.com/cuda-gpus",
    },
    speed: {
      memoryGBps: 600,
      fp16Tflops: 70,
      bf16Tflops: 70,
      fp8Tflops: null,
      source: {
        url: [
          "https://www.baseten.co/blog/nvidia-a10-vs-a10g-for-ml-model-inference/",
          "https://www.nvidia.com/en-us/data-center/products/a10-gpu/",
        ],
        asOf: "2026-11-30",
        note:
          "A10G is an AWS-only part with no NVIDIA datasheet. Baseten's A10 vs A10G article: same 24 GB GDDR6 at " +
          "600 GB/s as the A10, but less tensor compute than the A10; its spec table gives 70 TFLOPS FP16/BF16 " +
          "tensor for A10G (the stored copy read here did not show the table, so 70 is not yet confirmed). The " +
          "A10 datasheet gives 125 dense (250* sparse) BF16/FP16 tensor TFLOPS, which A10G does NOT reach. " +
          "Ampere has no FP8",
      },
    },
  },
  L4: {
    name: "L4",
    architecture: "Ada",
    computeCapability: 8.9,
    usableMiB: 22888,
    source: {
      url: "https://github.com/skypilot-org/skypilot-catalog/blob/00148f2/catalogs/v8/aws/vms.csv",
      asOf: "2026-01-21",
    },
    speed: {
      memoryGBps: 300,
      fp16Tflops: 121,
      bf16Tflops: 121,
      fp8Tflops: 242.5,
      source: {
        url: "https://www.nvidia.com/en-us/data-center/l4/",
        asOf: "2026-11-30",
        note:
          "L4 specifications: GPU memory bandwidth 300 GB/s; FP16 and BF16 Tensor Core 242 TFLOPS*, FP8 485 " +
          "TFLOPS*, * = with sparsity, halved here to dense 121 and 242.5",
      },
    },
  },
  L40S: {
    name: "L40S",
    architecture: "Ada",
    computeCapability: 8.9,
    usableMiB: 45776,
    source: {
      url: "https://github.com/skypilot-org/skypilot-catalog/blob/00148f2/catalogs/v8/aws/vms.csv",
      asOf: "2026-01-21",
    },
    speed: {
      memoryGBps: 864,
      fp16Tflops: 362.05,
      bf16Tflops: 362.05,
      fp8Tflops: 733,
      source: {
        url: "https://www.nvidia.com/en-us/data-center/l40s/",
        asOf: "2026-11-30",
        note:
          "L40S datasheet: memory bandwidth 864 GB/s; BF16 and FP16 Tensor Core 362.05 | 733* TFLOPS, FP8 " +
          "733 | 1,466* TFLOPS, * = with sparsity; the dense (first) figures are used",
      },
    },
  },
  "RTX-PRO-6000": {
    name: "RTX-PRO-6000",
    architecture: "Blackwell",
    computeCapability: 12.0,
    usableMiB: 97887,
    source: {
      url: "https://github.com/bigstack-oss/cubecos/issues/312",
      asOf: "2026-11-29",
      note:
        "nvidia-smi -q on RTX PRO 6000 Blackwell Server Edition cards; the 97887 MiB total was first " +
        "read from a file with no public address and is not yet confirmed on this page; EC2 GpuInfo says " +
        "98304",
    },
    speed: {
      memoryGBps: 1597,
      fp16Tflops: 500,
      bf16Tflops: 500,
      fp8Tflops: 1000,
      source: {
        url: [
          "https://www.nvidia.com/en-us/data-center/rtx-pro-6000-blackwell-server-edition/",
          "https://aws.amazon.com/ec2/instance-types/g7e/",
          "https://aws.amazon.com/blogs/aws/announcing-amazon-ec2-g7e-instances-accelerated-by-nvidia-rtx-pro-6000-blackwell-server-edition-gpus/",
        ],
        asOf: "2026-11-30",
        note:
          "Server Edition: 96 GB GDDR7 at 1,597 GB/s (the Workstation Edition runs faster memory, 1,792 GB/s); the " +
          "1,597 GB/s per GPU was read today in a public summary of AWS's G7e announcement, which also states " +
          "GPUDirect peer to peer between the GPUs. NVIDIA states only the " +
          "headline 4,000 AI TOPS (FP4, with sparsity); the dense figures are derived from it: halved for " +
          "sparsity (FP4 2,000), halved per doubling of width (FP8 1,000, FP16/BF16 500). Third-party spec " +
          "tables list 503.8 FP16 and 1,007.6 FP8 dense for the 2,617 MHz Workstation Edition, with FP32 " +
          "accumulate at full rate on this professional card",
      },
    },
  },
  "A100-40GB": {
    name: "A100-40GB",
    architecture: "Ampere",
    computeCapability: 8.0,
    usableMiB: 40960,
    source: {
      url: "https://github.com/skypilot-org/skypilot-catalog/blob/00148f2/catalogs/v8/aws/vms.csv",
      asOf: "2026-01-21",
    },
    speed: {
      memoryGBps: 1555,
      fp16Tflops: 312,
      bf16Tflops: 312,
      fp8Tflops: null,
      source: {
        url: "https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/a100/pdf/nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf",
        asOf: "2026-11-30",
        note:
          "A100 datasheet, A100 40GB SXM column: GPU memory bandwidth 1,555 GB/s; BFLOAT16 and FP16 Tensor Core " +
          "312 TFLOPS | 624 TFLOPS*, * = with sparsity, dense 312 used; Ampere has no FP8",
      },
    },
  },
  "A100-80GB": {
    name: "A100-80GB",
    architecture: "Ampere",
    computeCapability: 8.0,
    usableMiB: 81920,
    source: {
      url: "https://github.com/skypilot-org/skypilot-catalog/blob/00148f2/catalogs/v8/aws/vms.csv",
      asOf: "2026-01-21",
    },
    speed: {
      memoryGBps: 2039,
      fp16Tflops: 312,
      bf16Tflops: 312,
      fp8Tflops: null,
      source: {
        url: [
          "https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/a100/pdf/nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf",
          "https://aws.amazon.com/ec2/instance-types/p4/",
        ],
        asOf: "2026-11-30",
        note:
          "A100 datasheet, A100 80GB SXM column (p4de carries A100 80GB HBM2e): 2,039 GB/s; BF16/FP16 Tensor " +
          "Core 312 | 624* TFLOPS, * = with sparsity, dense 312 used; Ampere has no FP8",
      },
    },
  },
  H100: {
    name: "H100",
    architecture: "Hopper",
    computeCapability: 9.0,
    usableMiB: 81559,
    source: {
      url: "https://github.com/NVIDIA/nccl/issues/1264",
      asOf: "2026-11-30",
      note: "nvidia-smi on 8x H100 80GB HBM3 (SXM): 81559MiB each; EC2 GpuInfo says 81920",
    },
    speed: {
      memoryGBps: 3350,
      fp16Tflops: 989.5,
      bf16Tflops: 989.5,
      fp8Tflops: 1979,
      source: {
        url: "https://www.nvidia.com/en-us/data-center/h100/",
        asOf: "2026-11-30",
        note:
          "H100 specifications, H100 SXM column (p5): GPU memory bandwidth 3.35 TB/s; BF16 and FP16 Tensor Core " +
          "1,979 TFLOPS*, FP8 Tensor Core 3,958 TFLOPS*, * = with sparsity, halved here to dense 989.5 and 1,979",
      },
    },
  },
  H200: {
    name: "H200",
    architecture: "Hopper",
    computeCapability: 9.0,
    usableMiB: 143771,
    source: {
      url: "https://github.com/ModelCloud/GPTQModel/issues/2678",
      asOf: "2026-11-30",
      note: "nvidia-smi on 8x NVIDIA H200: 143771MiB each; EC2 GpuInfo says 144384",
    },
    speed: {
      memoryGBps: 4800,
      fp16Tflops: 989.5,
      bf16Tflops: 989.5,
      fp8Tflops: 1979,
      source: {
        url: "https://www.nvidia.com/en-us/data-center/h200/",
        asOf: "2026-11-30",
        note:
          "H200 specifications, H200 SXM column (p5en): GPU memory bandwidth 4.8 TB/s; BF16 and FP16 Tensor Core " +
          "1,979 TFLOPS*, FP8 3,958 TFLOPS*, * = with sparsity, halved here to dense 989.5 and 1,979 (same tensor " +
          "cores as H100 SXM)",
      },
    },
  },
  B200: {
    name: "B200",
    architecture: "Blackwell",
    computeCapability: 10.0,
    usableMiB: 182784,
    source: {
      url: "https://github.com/NVIDIA/TensorRT-LLM/issues/10278",
      asOf: "2026-11-30",
      note:
        "nvidia-smi on 8x B200 shows 183359MiB each (also EC2's GpuInfo); 182784 MiB is a driver figure " +
        "for p6-b200.48xlarge read from a file with no public address, kept as the lower bound until " +
        "confirmed",
    },
    speed: {
      memoryGBps: 8000,
      fp16Tflops: 2250,
      bf16Tflops: 2250,
      fp8Tflops: 4500,
      source: {
        url: ["https://www.nvidia.com/en-us/data-center/hgx/", "https://aws.amazon.com/ec2/instance-types/p6/"],
        asOf: "2026-11-30",
        note:
          "HGX B200 (8 GPUs, as in p6-b200): FP16/BF16 Tensor Core 36 PFLOPS and FP8 72 PFLOPS for the board, " +
          "both with sparsity, so per GPU 4.5 and 9 PFLOPS sparse, halved to dense 2,250 and 4,500 TFLOPS; " +
          "HBM3e bandwidth 64 TB/s for the board, 8 TB/s per GPU",
      },
    },
  },
} as const satisfies Record<string, GpuModel>;

/** A key of {@link GPU_MODELS}. */
export type GpuModelName = keyof typeof GPU_MODELS;

const SKY: Source = {
  url: [
    "https://github.com/skypilot-org/skypilot-catalog/blob/00148f2/catalogs/v8/aws/vms.csv",
    "https://github.com/tsaol/aws-gpu/blob/7412fd2/data/all_gpu_instances.js",
    "https://instances.vantage.sh/",
  ],
  asOf: "2026-01-21",
  note: "us-east-1 rows of the skypilot catalog; NVMe sizes from the tsaol/aws-gpu copy of instances.vantage.sh; prices change, re-check before quoting",
};

type Row = [
  type: string,
  gpu: GpuModelName,
  gpuCount: number,
  vcpus: number,
  ramGiB: number,
  nvmeGB: number,
  onDemand: number,
  spot: [number, number] | null,
];

function familyInterconnect(family: string): Interconnect {
  const link = FAMILY_INTERCONNECTS[family];
  if (link === undefined) throw new Error(`GPU catalog: no interconnect row for family "${family}"`);
  return link;
}

function rows(list: readonly Row[]): GpuInstance[] {
  return list.map(([type, gpu, gpuCount, vcpus, ramGiB, nvmeGB, onDemand, spot]) => ({
    type,
    family: type.slice(0, type.indexOf(".")),
    gpu,
    gpuCount,
    vcpus,
    ramGiB,
    nvmeGB,
    onDemandUsdPerHour: onDemand,
    spotUsdPerHour: spot === null ? null : { min: spot[0], max: spot[1] },
    source: SKY,
    interconnect: familyInterconnect(type.slice(0, type.indexOf("."))),
  }));
}

/** Every GPU instance type we size for, us-east-1 on-demand prices. */
export const GPU_INSTANCES: readonly GpuInstance[] = rows([
  // type,             gpu,            n,  vCPU,  RAM,  NVMe GB, $/h OD,    spot min/max
  ["g4dn.xlarge", "T4", 1, 4, 16, 125, 0.526, [0.2, 0.2158]],
  ["g4dn.2xlarge", "T4", 1, 8, 32, 225, 0.752, [0.3112, 0.3269]],
  ["g4dn.4xlarge", "T4", 1, 16, 64, 225, 1.204, [0.4062, 0.454]],
  ["g4dn.8xlarge", "T4", 1, 32, 128, 900, 2.176, [0.6706, 0.8046]],
  ["g4dn.12xlarge", "T4", 4, 48, 192, 900, 3.912, [1.2875, 1.4134]],
  ["g4dn.16xlarge", "T4", 1, 64, 256, 900, 4.352, [0.9122, 1.1043]],
  ["g4dn.metal", "T4", 8, 96, 384, 900, 7.824, [2.9236, 3.7292]],
  ["g5.xlarge", "A10G", 1, 4, 16, 250, 1.006, [0.4246, 0.4507]],
  ["g5.2xlarge", "A10G", 1, 8, 32, 450, 1.212, [0.4738, 0.5933]],
  ["g5.4xlarge", "A10G", 1, 16, 64, 600, 1.624, [0.642, 0.7068]],
  ["g5.8xlarge", "A10G", 1, 32, 128, 900, 2.448, [0.8391, 0.9643]],
  ["g5.12xlarge", "A10G", 4, 48, 192, 3800, 5.672, [2.0796, 2.7804]],
  ["g5.16xlarge", "A10G", 1, 64, 256, 1900, 4.096, [1.141, 1.3117]],
  ["g5.24xlarge", "A10G", 4, 96, 384, 3800, 8.144, [2.7817, 3.3455]],
  ["g5.48xlarge", "A10G", 8, 192, 768, 3800, 16.288, [4.5408, 7.0077]],
  ["g6.xlarge", "L4", 1, 4, 16, 250, 0.8048, [0.349, 0.4011]],
  ["g6.2xlarge", "L4", 1, 8, 32, 450, 0.9776, [0.4416, 0.5772]],
  ["g6.4xlarge", "L4", 1, 16, 64, 600, 1.3232, [0.6637, 0.6933]],
  ["g6.8xlarge", "L4", 1, 32, 128, 450, 2.0144, [0.9393, 0.9995]],
  ["g6.12xlarge", "L4", 4, 48, 192, 940, 4.6016, [1.7552, 2.0968]],
  ["g6.16xlarge", "L4", 1, 64, 256, 940, 3.3968, [1.0717, 1.2391]],
  ["g6.24xlarge", "L4", 4, 96, 384, 940, 6.6752, [2.5043, 3.2462]],
  ["g6.48xlarge", "L4", 8, 192, 768, 936, 13.3504, [3.7289, 6.2789]],
  ["gr6.4xlarge", "L4", 1, 16, 128, 600, 1.5392, [0.6502, 0.6798]],
  ["gr6.8xlarge", "L4", 1, 32, 256, 450, 2.4464, [0.8387, 0.9163]],
  ["g6e.xlarge", "L40S", 1, 4, 32, 250, 1.861, [0.9154, 1.1975]],
  ["g6e.2xlarge", "L40S", 1, 8, 64, 450, 2.24208, [0.8064, 1.0895]],
  ["g6e.4xlarge", "L40S", 1, 16, 128, 600, 3.00424, [1.032, 1.1536]],
  ["g6e.8xlarge", "L40S", 1, 32, 256, 450, 4.52856, [1.2495, 1.4119]],
  ["g6e.12xlarge", "L40S", 4, 48, 384, 1900, 10.49264, [3.7887, 6.015]],
  ["g6e.16xlarge", "L40S", 1, 64, 512, 950, 7.57719, [1.4678, 1.8831]],
  ["g6e.24xlarge", "L40S", 4, 96, 768, 1900, 15.06559, [5.1278, 5.7615]],
  ["g6e.48xlarge", "L40S", 8, 192, 1536, 1900, 30.13118, [8.0189, 20.64]],
  ["g7e.2xlarge", "RTX-PRO-6000", 1, 8, 64, 1900, 3.36312, [1.4782, 1.5406]],
  ["g7e.4xlarge", "RTX-PRO-6000", 1, 16, 128, 1900, 3.99816, [1.7772, 2.1065]],
  ["g7e.8xlarge", "RTX-PRO-6000", 1, 32, 256, 1900, 5.26824, [2.284, 2.5117]],
  ["g7e.12xlarge", "RTX-PRO-6000", 2, 48, 512, 3800, 8.28608, [3.6846, 3.7046]],
  ["g7e.24xlarge", "RTX-PRO-6000", 4, 96, 1024, 3800, 16.57216, [7.2628, 7.3088]],
  ["g7e.48xlarge", "RTX-PRO-6000", 8, 192, 2048, 3800, 33.14432, [14.5018, 14.8213]],
  ["p4d.24xlarge", "A100-40GB", 8, 96, 1152, 8000, 21.957642, [2.4655, 8.1915]],
  ["p4de.24xlarge", "A100-80GB", 8, 96, 1152, 8000, 27.44705, [8.6505, 9.9734]],
  ["p5.4xlarge", "H100", 1, 16, 256, 3800, 6.88, null],
  ["p5.48xlarge", "H100", 8, 192, 2048, 30720, 55.04, [10.2397, 55.04]],
  ["p5en.48xlarge", "H200", 8, 192, 2048, 30720, 63.296, [16.5551, 18.2492]],
  ["p6-b200.48xlarge", "B200", 8, 192, 2048, 30720, 113.9328, [13.0338, 21.0148]],
]);

/** The GPU model an AWS instance row names; throws on a name missing from {@link GPU_MODELS}. */
export function awsGpu(name: string): GpuModel {
  const gpu = (GPU_MODELS as Record<string, GpuModel>)[name];
  if (gpu === undefined) throw new Error(`GPU catalog: no GPU model named "${name}"`);
  return gpu;
}

/** What an NVSwitch instance needs besides the driver before CUDA can start on it. */
export type FabricNeed = "none" | "fabric-manager" | "fabric-manager+nvlsm";

const NVSWITCH_SOURCE: Source = {
  url: [
    "https://docs.nvidia.com/datacenter/tesla/fabric-manager-user-guide/index.html",
    "https://docs.aws.amazon.com/dlami/latest/devguide/appendix-ami-release-notes.html",
  ],
  asOf: "2026-11-30",
  note:
    "without a running nvidia-fabricmanager of the driver's branch, nvidia-smi works but CUDA init " +
    "fails with error 802; NVLink 5 (B200) also needs the NVLink subnet manager (nvlsm)",
};

/** NVSwitch instance types and what each needs; every other type needs nothing. */
export const NVSWITCH_INSTANCES: Readonly<
  Record<string, { readonly needs: Exclude<FabricNeed, "none">; readonly source: Source }>
> = {
  "p4d.24xlarge": { needs: "fabric-manager", source: NVSWITCH_SOURCE },
  "p4de.24xlarge": { needs: "fabric-manager", source: NVSWITCH_SOURCE },
  "p5.48xlarge": { needs: "fabric-manager", source: NVSWITCH_SOURCE },
  "p5en.48xlarge": { needs: "fabric-manager", source: NVSWITCH_SOURCE },
  "p6-b200.48xlarge": { needs: "fabric-manager+nvlsm", source: NVSWITCH_SOURCE },
};

/** Whether an instance type needs NVIDIA's fabric manager (and the NVLink subnet manager) to run CUDA. */
export function fabricNeed(instanceType: string): FabricNeed {
  return NVSWITCH_INSTANCES[instanceType]?.needs ?? "none";
}

/**
 * Why the bootstrap cannot bring an instance type up on plain Ubuntu (it installs the driver and
 * the fabric manager, but has no pinned package for the NVLink subnet manager), or null where it can.
 */
export function plainUbuntuRefusal(instanceType: string): string | null {
  return fabricNeed(instanceType) === "fabric-manager+nvlsm"
    ? `${instanceType} needs NVIDIA's NVLink subnet manager (nvlsm) besides the fabric manager, which ` +
        `the bootstrap cannot install on plain Ubuntu; use the Deep Learning AMI`
    : null;
}
