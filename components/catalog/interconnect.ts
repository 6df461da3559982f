/**
 * How the GPUs inside one instance talk to each other: NVLink through NVSwitch, or PCIe.
 * Tensor parallelism all-reduces activations twice per layer over this link, so it sets what
 * TP 4 and TP 8 cost. Pure data, one row per instance family; a new family is a new row.
 */
import type { Source } from "./source";

/** The GPU-to-GPU link of an instance family. */
export type Interconnect =
  | {
      readonly kind: "nvlink";
      /** NVLink generation (3 on A100, 4 on H100/H200, 5 on B200). */
      readonly generation: number;
      /** Whether every GPU reaches every other at full speed through NVSwitch. */
      readonly switched: boolean;
      /** Total NVLink bandwidth per GPU, both directions, GB/s, as NVIDIA and AWS state it. */
      readonly perGpuGBps: number;
      readonly source: Source;
    }
  | {
      readonly kind: "pcie";
      /** PCIe generation of the GPUs' x16 links. */
      readonly generation: 3 | 4 | 5;
      /** Whether the generation is an assumption (a described machine) rather than a sourced fact. */
      readonly assumed?: boolean;
      readonly source: Source;
    };

/** The day the sources below were read. */
const READ = "2026-11-30";

/** The interconnect of each instance family in the GPU catalog, keyed by family. */
export const FAMILY_INTERCONNECTS: Readonly<Record<string, Interconnect>> = {
  g4dn: {
    kind: "pcie",
    generation: 3,
    source: {
      url: [
        "https://aws.amazon.com/ec2/instance-types/g4/",
        "https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/tesla-t4/t4-tensor-core-datasheet-951643.pdf",
      ],
      asOf: READ,
      note:
        "T4 datasheet: system interface x16 PCIe Gen3; T4 has no NVLink, so g4dn.12xlarge and g4dn.metal join " +
        "4 and 8 T4s over PCIe Gen3 only. No published nccl-tests figure for g4dn was found",
    },
  },
  g5: {
    kind: "pcie",
    generation: 4,
    source: {
      url: [
        "https://aws.amazon.com/ec2/instance-types/g5/",
        "https://gist.github.com/shashankprasanna/10ebe6dc1ba1d8d93db17da4e2cc890e",
      ],
      asOf: READ,
      note:
        "AWS's GPU instance table (Shashank Prasanna's gist) lists the g5 multi-GPU sizes' GPU interconnect as " +
        "PCIe, no NVLink; A10G is a PCIe Gen4 x16 card (as the A10) on 2nd-generation AMD EPYC hosts. No " +
        "published single-node nccl-tests figure for g5 was found (NVIDIA/nccl-tests#249 ran g5.8xlarge with " +
        "one GPU only)",
    },
  },
  g6: {
    kind: "pcie",
    generation: 4,
    source: {
      url: ["https://aws.amazon.com/ec2/instance-types/g6/", "https://www.nvidia.com/en-us/data-center/l4/"],
      asOf: READ,
      note: "L4 specifications: PCIe Gen4 x16 64 GB/s, no NVLink; g6.12xlarge/24xlarge/48xlarge join L4s over PCIe",
    },
  },
  gr6: {
    kind: "pcie",
    generation: 4,
    source: {
      url: ["https://aws.amazon.com/ec2/instance-types/g6/", "https://www.nvidia.com/en-us/data-center/l4/"],
      asOf: READ,
      note: "gr6 carries one L4 per instance (PCIe Gen4 x16), so no GPU-to-GPU traffic arises",
    },
  },
  g6e: {
    kind: "pcie",
    generation: 4,
    source: {
      url: ["https://aws.amazon.com/ec2/instance-types/g6e/", "https://www.nvidia.com/en-us/data-center/l40s/"],
      asOf: READ,
      note:
        "L40S datasheet: interconnect interface PCIe Gen4 x16, 64 GB/s bidirectional; L40S has no NVLink, so " +
        "g6e.12xlarge/24xlarge/48xlarge join 4 and 8 L40S over PCIe Gen4. No published nccl-tests figure for " +
        "g6e was found; whether GPU peer-to-peer is enabled on these sizes was not confirmed at a public source",
    },
  },
  g7e: {
    kind: "pcie",
    generation: 5,
    source: {
      url: [
        "https://aws.amazon.com/ec2/instance-types/g7e/",
        "https://www.nvidia.com/en-us/data-center/rtx-pro-6000-blackwell-server-edition/",
        "https://github.com/NVIDIA/nccl/issues/1639",
      ],
      asOf: READ,
      note:
        "RTX PRO 6000 Blackwell Server Edition: PCIe Gen5 x16, no NVLink. No nccl-tests figure for g7e itself " +
        "was found (dstack PR 3752 ran nccl-tests on g7e for EFA but published no bus bandwidth). Nearest " +
        "published proxy, NOT g7e: 8x RTX 5090 (same GB202 die, PCIe Gen5, bare metal) all_reduce_perf busbw " +
        "28 GB/s at 8 GPUs and 35 GB/s at 4 GPUs (NVIDIA/nccl#1639); NCCL's maintainer there says PCIe " +
        "all-reduce is bound by what the CPU and memory deliver",
    },
  },
  p4d: {
    kind: "nvlink",
    generation: 3,
    switched: true,
    perGpuGBps: 600,
    source: {
      url: ["https://aws.amazon.com/ec2/instance-types/p4/", "https://github.com/NVIDIA/nccl/issues/527"],
      asOf: READ,
      note:
        "AWS P4 page: 8 A100 with 600 GB/s NVSwitch GPU interconnect (third-generation NVLink). Measured: " +
        "all_reduce_perf on one 8-GPU p4d-class node (labelled p4dn in NVIDIA/nccl#527), 1 GiB float sum, " +
        "busbw 230.8 GB/s",
    },
  },
  p4de: {
    kind: "nvlink",
    generation: 3,
    switched: true,
    perGpuGBps: 600,
    source: {
      url: "https://aws.amazon.com/ec2/instance-types/p4/",
      asOf: READ,
      note: "AWS P4 page: p4de.24xlarge, 8 A100 80GB with the same 600 GB/s NVSwitch interconnect as p4d",
    },
  },
  p5: {
    kind: "nvlink",
    generation: 4,
    switched: true,
    perGpuGBps: 900,
    source: {
      url: ["https://aws.amazon.com/ec2/instance-types/p5/", "https://www.nvidia.com/en-us/data-center/h100/"],
      asOf: READ,
      note:
        "AWS P5 page: GPU peer to peer 900 GB/s NVSwitch on p5.48xlarge; H100 SXM: NVLink 900 GB/s. " +
        "p5.4xlarge has one GPU, so no GPU-to-GPU traffic arises there",
    },
  },
  p5en: {
    kind: "nvlink",
    generation: 4,
    switched: true,
    perGpuGBps: 900,
    source: {
      url: ["https://aws.amazon.com/ec2/instance-types/p5/", "https://www.nvidia.com/en-us/data-center/h200/"],
      asOf: READ,
      note: "AWS P5 page: p5en.48xlarge, 8 H200 with 900 GB/s NVSwitch GPU peer to peer; H200 SXM: NVLink 900 GB/s",
    },
  },
  "p6-b200": {
    kind: "nvlink",
    generation: 5,
    switched: true,
    perGpuGBps: 1800,
    source: {
      url: ["https://aws.amazon.com/ec2/instance-types/p6/", "https://www.nvidia.com/en-us/data-center/hgx/"],
      asOf: READ,
      note:
        "AWS P6 page: p6-b200.48xlarge, 8 B200 with 1,800 GB/s GPU peer to peer over fifth-generation NVLink " +
        "through NVSwitch (HGX B200)",
    },
  },
};
