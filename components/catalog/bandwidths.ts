/**
 * Rates, sizes and durations the cold-start estimate (components/coldstart/estimate.ts) is built from.
 * Each row names its public source and the date it was read; a row no source pins down says so
 * (`assumed: true`) and takes a conservative figure. None of these was measured on this project's machines.
 */
import type { Source } from "./source";

/** One figure with its provenance. */
export interface ColdStartFigure {
  /** The figure in `unit`. */
  readonly value: number;
  readonly unit: "bytes/s" | "bytes" | "seconds";
  /** True where no source gives this figure for our case, so it is our conservative choice. */
  readonly assumed: boolean;
  readonly source: Source;
}

/** Date every row below was read. */
export const COLD_START_FIGURES_AS_OF = "2026-11-30";

const asOf = COLD_START_FIGURES_AS_OF;

/** The figures by name. */
export const COLD_START_FIGURES = {
  /** Instance launch to the bootstrap's start. */
  ec2Boot: {
    value: 60,
    unit: "seconds",
    assumed: true,
    source: {
      url: "https://www.daemonology.net/blog/2021-08-12-EC2-boot-time-benchmarking.html",
      asOf,
      note:
        "ec2-boot-bench measured about 29 s from RunInstances to an open SSH port on a c5.xlarge (2021); GPU " +
        "types and a 100 GB Deep Learning AMI root volume were not measured, so we assume about twice that",
    },
  },
  /** Plain Ubuntu: NVIDIA driver (DKMS build), Docker and the container toolkit, then one reboot. */
  driverInstall: {
    value: 480,
    unit: "seconds",
    assumed: true,
    source: {
      url: "https://docs.aws.amazon.com/dlami/latest/devguide/appendix-ami-release-notes.html",
      asOf,
      note:
        "no published install time; the Deep Learning AMI ships the driver, Docker and the toolkit so it skips " +
        "this phase; 8 minutes for the apt install, DKMS build and reboot is our assumption",
    },
  },
  /** docker pull, download and unpack together, per byte of the compressed image. */
  imagePullRate: {
    value: 100e6,
    unit: "bytes/s",
    assumed: true,
    source: {
      url: "https://www.docker.com/blog/scaling-docker-to-serve-millions-more-developers-network-egress/",
      asOf,
      note:
        "Docker Hub publishes pull-count limits (manifests, not layers), no bandwidth; 100 MB/s of compressed " +
        "image, download and unpack together, is our assumption",
    },
  },
  /** vllm/vllm-openai compressed pull size. */
  vllmImageBytes: {
    value: 12.64e9,
    unit: "bytes",
    assumed: false,
    source: {
      url: "https://github.com/vllm-project/vllm/issues/27154",
      asOf,
      note: "docker pull vllm/vllm-openai:latest is about 12 GB (2025-10-18), 12.64 GB in the vLLM forum thread it links",
    },
  },
  /** lmsysorg/sglang compressed pull size. */
  sglangImageBytes: {
    value: 11e9,
    unit: "bytes",
    assumed: false,
    source: {
      url: "https://github.com/sgl-project/sglang/issues/3673",
      asOf,
      note: "an 11 GB single layer in February 2025; the image has grown since, so this is likely low",
    },
  },
  /** ollama/ollama pull size. */
  ollamaImageBytes: {
    value: 3.5e9,
    unit: "bytes",
    assumed: false,
    source: {
      url: [
        "https://github.com/stratosphereips/stratocyberlab/issues/57",
        "https://github.com/ollama/ollama/issues/9982",
      ],
      asOf,
      note: "3.5 GB for the latest image (2026-09-11); 3,302 MB unpacked, mostly CUDA libraries (2025-03-25)",
    },
  },
  /** Hugging Face download, conservatively one CDN connection's rate. */
  huggingFaceRate: {
    value: 62.5e6,
    unit: "bytes/s",
    assumed: false,
    source: {
      url: "https://github.com/oobabooga/textgen/issues/2841",
      asOf,
      note:
        "about 500 Mbit/s per CloudFront connection (2023-06-23); the same report measured 635 MiB/s over 8 " +
        "connections, and hf with Xet opens several, so this is a floor, not a typical figure",
    },
  },
  /** Ollama registry download. */
  ollamaRegistryRate: {
    value: 70e6,
    unit: "bytes/s",
    assumed: false,
    source: {
      url: "https://github.com/ollama/ollama/issues/3943",
      asOf,
      note: "a user report of about 70 MB/s at the start of a pull (2024-04-26); the slowdown near the end it reports is not modelled",
    },
  },
  /** In-region S3 read from one instance. */
  s3Rate: {
    value: 625e6,
    unit: "bytes/s",
    assumed: false,
    source: {
      url: "https://docs.aws.amazon.com/en_en/AWSEC2/latest/UserGuide/ec2-instance-network-bandwidth.html",
      asOf,
      note:
        "one flow is limited to 5 Gbit/s outside a cluster placement group; in-Region traffic may use the " +
        "instance's full bandwidth, so a parallel client can beat this, while a small type's baseline may not reach it",
    },
  },
  /** gp3 root volume read for the engine's load. */
  ebsReadRate: {
    value: 500 * 1024 * 1024,
    unit: "bytes/s",
    assumed: false,
    source: {
      url: "https://docs.amazonaws.cn/en_us/ebs/latest/userguide/initalize-volume.md",
      asOf,
      note:
        "500 MiB/s is the stacks' default aws.rootVolume.throughputMiBps; weights written on this boot read at the " +
        "volume's rate, while blocks of a volume created from a snapshot are slower on first read unless initialized",
    },
  },
  /** vLLM: container start to engine config. */
  vllmEngineStart: {
    value: 16,
    unit: "seconds",
    assumed: false,
    source: {
      url: "https://github.com/vllm-project/vllm/issues/44881",
      asOf,
      note: "about 16 s from container init to engine config in one published breakdown (RTX 5090, 2026-06-08)",
    },
  },
  /** vLLM torch.compile on a cold start. */
  vllmCompileCold: {
    value: 43,
    unit: "seconds",
    assumed: false,
    source: {
      url: "https://github.com/vllm-project/vllm/issues/44881",
      asOf,
      note: "torch.compile about 43 s on the first run, about 5 s once the compile cache hits (2026-06-08)",
    },
  },
  /** vLLM torch.compile with its cache on disk. */
  vllmCompileCached: {
    value: 5,
    unit: "seconds",
    assumed: false,
    source: {
      url: "https://github.com/vllm-project/vllm/issues/44881",
      asOf,
      note: "the cache-hit figure of the same report",
    },
  },
  /** vLLM CUDA graph capture. */
  vllmGraphCapture: {
    value: 17,
    unit: "seconds",
    assumed: false,
    source: {
      url: "https://github.com/vllm-project/vllm/issues/20264",
      asOf,
      note: '"Graph capturing finished in 17 secs" in a startup log (2025-06-30)',
    },
  },
  /** SGLang: container start to engine ready to load; no figure found, so vLLM's. */
  sglangEngineStart: {
    value: 16,
    unit: "seconds",
    assumed: true,
    source: {
      url: "https://github.com/vllm-project/vllm/issues/44881",
      asOf,
      note: "no SGLang figure found; vLLM's 16 s stands in",
    },
  },
  /** SGLang CUDA graph capture (SGLang runs no torch.compile by default). */
  sglangGraphCapture: {
    value: 12.11,
    unit: "seconds",
    assumed: false,
    source: {
      url: "https://github.com/sgl-project/sglang/issues/10088",
      asOf,
      note: '"Capture cuda graph end. Time elapsed: 12.11 s" for the main model (2025-09-05)',
    },
  },
  /** Ollama: server and runner start, besides reading the weights. */
  ollamaEngineStart: {
    value: 10,
    unit: "seconds",
    assumed: true,
    source: {
      url: "https://github.com/ollama/ollama/issues/7074",
      asOf,
      note:
        "since 0.3.11 the container starts in under a second (runners ship unpacked); 10 s for the runner's start " +
        "is our assumption; llama.cpp compiles nothing at start",
    },
  },
} as const satisfies Record<string, ColdStartFigure>;

/** A figure's name. */
export type ColdStartFigureName = keyof typeof COLD_START_FIGURES;
