/**
 * Published inference speed measurements of Qwen3 models (or, where none exists, of a model whose
 * shape we can state) on named GPUs and engines. The throughput model is calibrated against these
 * rows and its tests state its error on each one. Pure data; each row carries its public source.
 */
import type { GpuModel } from "./gpus";
import type { Interconnect } from "./interconnect";
import type { Source } from "./source";

/** What a measurement's figure is. */
export type MeasuredMetric =
  /** Output tokens per second seen by one sequence while decoding (1000 / TPOT in ms). */
  | "decode-tokens-per-second-per-sequence"
  /** Output tokens per second summed over all sequences in flight. */
  | "aggregate-output-tokens-per-second"
  /** Time to first token, milliseconds. */
  | "ttft-ms"
  /** Qwen's speed benchmark figure: (prompt tokens + generated tokens) / total time, batch 1. */
  | "qwen-speed-benchmark-tokens-per-second";

/** One published measurement, with everything needed to reproduce its setup in the model. */
export interface Measurement {
  /** Short unique id, used in test names. */
  readonly id: string;
  /** Model id as in the model catalog (e.g. "Qwen3-8B"). */
  readonly model: string;
  /** Weight format as in the quantization catalog ("bf16", "fp8", "awq", "gptq-int4", "q4_K_M", ...). */
  readonly quantization: string;
  /** Engine and the version the source ran. */
  readonly engine: { readonly name: "vllm" | "sglang" | "ollama" | "llama.cpp"; readonly version: string };
  /** GPU model name: a key of the GPU catalogs, or a GPU the source used that we describe in the note. */
  readonly gpu: string;
  /** GPUs the engine used, and the tensor-parallel size. */
  readonly gpus: number;
  readonly tensorParallel: number;
  /**
   * How the GPUs share the model when it is not tensor parallel: "layer" is llama.cpp's default
   * `--split-mode layer` (whole layers per GPU, run one after another). Absent for one GPU or for TP.
   */
  readonly multiGpuSplit?: "layer";
  /** Sequences decoded at once (batch size or client concurrency). */
  readonly concurrency: number;
  /** Prompt tokens per request. */
  readonly inputTokens: number;
  /** Generated tokens per request. */
  readonly outputTokens: number;
  /** Size of the weights the source loaded, GiB, where the format is not one the catalogs size (llama-bench prints it). */
  readonly checkpointGiB?: number;
  /** How the GPUs were linked, where the source's machine is not a catalog instance. */
  readonly interconnect?: "nvswitch-h100" | "nvlink-h20" | "pcie4";
  readonly metric: MeasuredMetric;
  /** The published figure, in the metric's unit. */
  readonly value: number;
  /** Where it is published; the note quotes the table or sentence the figure is read from. */
  readonly source: Source;
}

const H20_SOURCE: Source = {
  url: "https://willitrunai.com/es/gpus/h20-96gb",
  asOf: "2026-11-30",
  note:
    "third-party listing (NVIDIA publishes no H20 datasheet): 96 GB HBM3 at 4,000 GB/s, 148 TFLOPS FP16 dense, " +
    "296 INT8 TOPS (FP8 taken as the same rate, as on every Hopper part), NVLink 4.0 900 GB/s; memory is the nominal 96 GiB, " +
    "which the speed checks do not use",
};

/** GPUs the measurements ran on that neither GPU catalog lists, so the model can be checked on them. */
export const MEASUREMENT_GPUS: Readonly<Record<string, GpuModel>> = {
  H20: {
    name: "H20",
    architecture: "Hopper",
    computeCapability: 9.0,
    usableMiB: 96 * 1024,
    source: H20_SOURCE,
    speed: { memoryGBps: 4000, fp16Tflops: 148, bf16Tflops: 148, fp8Tflops: 296, source: H20_SOURCE },
  },
};

/** The links of the measured machines that are not catalog instances. */
export const MEASUREMENT_LINKS: Readonly<Record<NonNullable<Measurement["interconnect"]>, Interconnect>> = {
  "nvswitch-h100": {
    kind: "nvlink",
    generation: 4,
    switched: true,
    perGpuGBps: 900,
    source: {
      url: "https://aws.amazon.com/ec2/instance-types/p5/",
      asOf: "2026-11-30",
      note: "8-GPU H100 SXM nodes; the source does not state its link, taken as an HGX board's",
    },
  },
  "nvlink-h20": { kind: "nvlink", generation: 4, switched: true, perGpuGBps: 900, source: H20_SOURCE },
  pcie4: {
    kind: "pcie",
    generation: 4,
    source: {
      url: "https://www.nvidia.com/en-us/data-center/l40s/",
      asOf: "2026-11-30",
      note: "L40S: PCIe Gen4 x16, no NVLink",
    },
  },
};

/** Joins a note's sentences, so each source line stays short (no string literal is ever wrapped). */
const note = (...parts: readonly string[]): string => parts.join(" ");

/** The date every figure below was read. */
const READ = "2026-11-30";

// Qwen's own speed benchmark. The zh-cn and en pages render the same Markdown source; the commit pins
// the tables quoted below (SGLang section of each model).
const QWEN_SPEED_URLS: readonly string[] = [
  "https://qwen.readthedocs.io/en/latest/getting_started/speed_benchmark.html",
  "https://qwen.readthedocs.io/zh-cn/latest/getting_started/speed_benchmark.html",
  "https://github.com/QwenLM/Qwen3/blob/7a2f61ffc7a20d47efcd2bf97f6f2bf52729042e/docs/source/getting_started/speed_benchmark.md",
];

/** Setup shared by every row of Qwen's SGLang tables, quoted from the page's Environments and Notes. */
const QWEN_SPEED_SETUP = note(
  "Setup (page's Environments/Notes): NVIDIA H20 96GB, SGLang 0.4.6.post1, sgl-kernel 0.1.0, PyTorch 2.6.0+cu124;",
  "batch size 1, minimum number of GPUs; 2048 generated tokens; mem_fraction_static=0.85, context_length=140000,",
  "enable_mixed_chunk=True, skip_tokenizer_init=True; AWQ runs on the awq_marlin backend.",
  "Speed = (prompt tokens + generated tokens) / time, so at input 1 it is close to pure decode.",
  "Interconnect between the H20s is not stated. H20 is in neither GPU catalog (96 GB HBM3 variant).",
);

/** One row of Qwen's SGLang speed tables on H20. */
function qwenSpeed(
  id: string,
  model: string,
  quantization: string,
  gpus: number,
  inputTokens: number,
  value: number,
  where: string,
): Measurement {
  return {
    id,
    model,
    quantization,
    engine: { name: "sglang", version: "0.4.6.post1" },
    gpu: "H20",
    gpus,
    tensorParallel: gpus,
    ...(gpus > 1 ? { interconnect: "nvlink-h20" as const } : {}),
    concurrency: 1,
    inputTokens,
    outputTokens: 2048,
    metric: "qwen-speed-benchmark-tokens-per-second",
    value,
    source: { url: QWEN_SPEED_URLS, asOf: READ, note: note(where, QWEN_SPEED_SETUP) },
  };
}

// GPUStack performance lab, Qwen3-8B latency on H100. Benchmark: `vllm bench serve` on ShareGPT, 100 prompts,
// --max-concurrency N; every run reports 23260 input and 22061 generated tokens in total (means 232.6 / 220.61).
const GPUSTACK_8B_H100_LATENCY =
  "https://github.com/gpustack/gpustack/blob/1dbc3b8130da92d31539404545a1aff5c3992f8c/docs/performance-lab/qwen3-8b/h100-latency.md";
const GPUSTACK_8B_SETUP = note(
  "Page's Experimental Setup: a single NVIDIA H100 SXM GPU; vLLM v0.11.0, SGLang v0.5.3.post3; dataset ShareGPT;",
  "`vllm bench serve --model Qwen/Qwen3-8B --backend openai-chat --endpoint /v1/chat/completions",
  "--dataset-name sharegpt --num-prompts 100 --max-concurrency N`. ShareGPT lengths vary: input/output tokens",
  "here are the run's totals over 100 requests (23260 input, 22061 generated).",
);

// GPUStack performance lab, Qwen3-235B-A22B-Instruct-2507 throughput on H100 (8 GPUs in one node).
const GPUSTACK_235B_H100 =
  "https://github.com/gpustack/gpustack/blob/10e9444a07c73556f2ef0d10d2b2766bbf54c9c0/docs/performance-lab/qwen3-235b-a22b/h100.md";
const GPUSTACK_235B_SETUP = note(
  "Page's Experimental Setup: NVIDIA H100 GPUs (form factor and interconnect not stated); vLLM v0.11.0;",
  "`vllm bench serve ... --dataset-name sharegpt --num-prompts 1000` with no --max-concurrency and the default",
  "request rate (inf), so every request is queued at once: the engine's own batch limit (vLLM default",
  "max_num_seqs, not stated on the page) sets the real concurrency. The block reports 984 successful requests",
  "and 'Peak concurrent requests: 984.00'; input/output tokens are the block's totals over those 984 requests.",
  "This is a saturated-throughput figure with prefill and decode mixed, not a decode-only rate.",
);

// tenstorrent/tt-inference-server: GPU reference sweeps for Qwen3 (their `run.py --device gpu`).
const TT_QWEN3_GPU = "https://github.com/tenstorrent/tt-inference-server/issues/340";
const TT_QWEN3_4B = "https://github.com/tenstorrent/tt-inference-server/issues/394";

// Community llama.cpp run: Qwen3-8B Q5_K_M with llama-bench on a 4 x L40S node (ORCA cluster, course project).
const COMMUNITY_L40S =
  "https://github.com/willettAMT/perf-analysis-modeling-project/blob/5dd1d2520429714bae91a94054612cef27c9db27/measurements/aaron/benchmark_results_4gpu_20251129_181939.md";
const COMMUNITY_L40S_SETUP = note(
  "Community figure (student benchmark report, 2025-11-29). llama.cpp build 8c32d9d96 (7199), CUDA 12.9,",
  "driver 580.105.08, 4 x NVIDIA L40S 46068 MiB on an AMD EPYC 9534 host, 64 threads; built with GGML_CUDA_FA=ON",
  "and GGML_CUDA_GRAPHS=OFF; the llama-bench command line and -fa/-ngl flags are not printed (the report says",
  "'All layers on GPU 0' for the single-GPU test). tg128 = 128 tokens generated from an empty context, batch 1.",
  "The model (llama-bench 'qwen3 8B Q5_K - Medium', 5.44 GiB) is Q5_K_M, not one of the Ollama tags we catalog.",
);

/** Every published measurement the throughput model is checked against. */
export const MEASUREMENTS: readonly Measurement[] = [
  // --- Qwen's speed benchmark, SGLang on H20, batch 1 ---
  qwenSpeed(
    "qwen-sglang-h20-8b-bf16-in1",
    "Qwen3-8B",
    "bf16",
    1,
    1,
    81.73,
    "Table 'Qwen3-8B (SGLang)', row Input Length 1, Quantization BF16, GPU Num 1: 81.73 tokens/s.",
  ),
  qwenSpeed(
    "qwen-sglang-h20-8b-fp8-in1",
    "Qwen3-8B",
    "fp8",
    1,
    1,
    150.25,
    "Table 'Qwen3-8B (SGLang)', row Input Length 1, Quantization FP8, GPU Num 1: 150.25 tokens/s.",
  ),
  qwenSpeed(
    "qwen-sglang-h20-8b-awq-in1",
    "Qwen3-8B",
    "awq",
    1,
    1,
    144.11,
    "Table 'Qwen3-8B (SGLang)', row Input Length 1, Quantization AWQ-INT4, GPU Num 1: 144.11 tokens/s.",
  ),
  qwenSpeed(
    "qwen-sglang-h20-8b-bf16-in30720",
    "Qwen3-8B",
    "bf16",
    1,
    30720,
    832.67,
    "Table 'Qwen3-8B (SGLang)', row Input Length 30720, Quantization BF16, GPU Num 1: 832.67 tokens/s.",
  ),
  qwenSpeed(
    "qwen-sglang-h20-8b-fp8-in30720",
    "Qwen3-8B",
    "fp8",
    1,
    30720,
    1242.24,
    "Table 'Qwen3-8B (SGLang)', row Input Length 30720, Quantization FP8, GPU Num 1: 1242.24 tokens/s.",
  ),
  qwenSpeed(
    "qwen-sglang-h20-8b-awq-in30720",
    "Qwen3-8B",
    "awq",
    1,
    30720,
    1075.91,
    "Table 'Qwen3-8B (SGLang)', row Input Length 30720, Quantization AWQ-INT4, GPU Num 1: 1075.91 tokens/s.",
  ),
  qwenSpeed(
    "qwen-sglang-h20-32b-bf16-in1",
    "Qwen3-32B",
    "bf16",
    1,
    1,
    20.72,
    "Table 'Qwen3-32B (SGLang)', row Input Length 1, Quantization BF16, GPU Num 1: 20.72 tokens/s.",
  ),
  qwenSpeed(
    "qwen-sglang-h20-32b-fp8-in1",
    "Qwen3-32B",
    "fp8",
    1,
    1,
    46.17,
    "Table 'Qwen3-32B (SGLang)', row Input Length 1, Quantization FP8, GPU Num 1: 46.17 tokens/s.",
  ),
  qwenSpeed(
    "qwen-sglang-h20-32b-awq-in1",
    "Qwen3-32B",
    "awq",
    1,
    1,
    47.67,
    "Table 'Qwen3-32B (SGLang)', row Input Length 1, Quantization AWQ-INT4, GPU Num 1: 47.67 tokens/s.",
  ),
  qwenSpeed(
    "qwen-sglang-h20-30b-a3b-bf16-in1",
    "Qwen3-30B-A3B",
    "bf16",
    1,
    1,
    137.18,
    "Table 'Qwen3-30B-A3B (SGLang)', row Input Length 1, Quantization BF16, GPU Num 1: 137.18 tokens/s.",
  ),
  qwenSpeed(
    "qwen-sglang-h20-30b-a3b-fp8-in1",
    "Qwen3-30B-A3B",
    "fp8",
    1,
    1,
    155.55,
    "Table 'Qwen3-30B-A3B (SGLang)', row Input Length 1, Quantization FP8, GPU Num 1: 155.55 tokens/s.",
  ),
  qwenSpeed(
    "qwen-sglang-h20-30b-a3b-gptq-int4-in1",
    "Qwen3-30B-A3B",
    "gptq-int4",
    1,
    1,
    31.29,
    note(
      "Table 'Qwen3-30B-A3B (SGLang)', row Input Length 1, Quantization GPTQ-INT4, GPU Num 1, Note 'GPTQ-Marlin':",
      "31.29 tokens/s. The page's Notes say GPTQ-INT4 performance in SGLang 'needs improvement' (our reading: a kernel limit).",
    ),
  ),
  qwenSpeed(
    "qwen-sglang-h20-235b-bf16-tp8-in1",
    "Qwen3-235B-A22B",
    "bf16",
    8,
    1,
    74.5,
    "Table 'Qwen3-235B-A22B (SGLang)', row Input Length 1, Quantization BF16, GPU Num 8, Note 'TP=8': 74.50 tokens/s.",
  ),
  qwenSpeed(
    "qwen-sglang-h20-235b-fp8-tp4-in1",
    "Qwen3-235B-A22B",
    "fp8",
    4,
    1,
    71.65,
    "Table 'Qwen3-235B-A22B (SGLang)', row Input Length 1, Quantization FP8, GPU Num 4, Note 'TP=4': 71.65 tokens/s.",
  ),

  // --- GPUStack performance lab: Qwen3-8B on one H100 SXM (ShareGPT, fixed client concurrency) ---
  {
    id: "gpustack-vllm-h100-8b-bf16-c1-decode",
    model: "Qwen3-8B",
    quantization: "bf16",
    engine: { name: "vllm", version: "v0.11.0" },
    gpu: "H100",
    gpus: 1,
    tensorParallel: 1,
    concurrency: 1,
    inputTokens: 23260 / 100,
    outputTokens: 22061 / 100,
    metric: "decode-tokens-per-second-per-sequence",
    value: 1000 / 7.28,
    source: {
      url: GPUSTACK_8B_H100_LATENCY,
      asOf: READ,
      note: note(
        "Section 'Other Benchmark Cases', 'Baseline benchmark results' (serving `vllm serve Qwen/Qwen3-8B`), block '# BS=1':",
        "Maximum request concurrency 1, Mean TPOT (ms) 7.28 (value = 1000 / 7.28); the same block reports",
        "Output token throughput 132.86 tok/s.",
        GPUSTACK_8B_SETUP,
      ),
    },
  },
  {
    id: "gpustack-vllm-h100-8b-bf16-c1-ttft",
    model: "Qwen3-8B",
    quantization: "bf16",
    engine: { name: "vllm", version: "v0.11.0" },
    gpu: "H100",
    gpus: 1,
    tensorParallel: 1,
    concurrency: 1,
    inputTokens: 23260 / 100,
    outputTokens: 22061 / 100,
    metric: "ttft-ms",
    value: 59.01,
    source: {
      url: GPUSTACK_8B_H100_LATENCY,
      asOf: READ,
      note: note(
        "Section 'Other Benchmark Cases', 'Baseline benchmark results', block '# BS=1': Mean TTFT (ms) 59.01",
        "for a mean prompt of 232.6 tokens (includes HTTP and scheduling overhead, so mostly not prefill FLOPs).",
        GPUSTACK_8B_SETUP,
      ),
    },
  },
  {
    id: "gpustack-vllm-h100-8b-bf16-c8-aggregate",
    model: "Qwen3-8B",
    quantization: "bf16",
    engine: { name: "vllm", version: "v0.11.0" },
    gpu: "H100",
    gpus: 1,
    tensorParallel: 1,
    concurrency: 8,
    inputTokens: 23260 / 100,
    outputTokens: 22061 / 100,
    metric: "aggregate-output-tokens-per-second",
    value: 917.28,
    source: {
      url: GPUSTACK_8B_H100_LATENCY,
      asOf: READ,
      note: note(
        "Section 'Other Benchmark Cases', 'Baseline benchmark results', block '# BS=8': Maximum request concurrency 8,",
        "Output token throughput (tok/s) 917.28; the same block reports Mean TPOT (ms) 7.71.",
        GPUSTACK_8B_SETUP,
      ),
    },
  },
  {
    id: "gpustack-sglang-h100-8b-fp8-c4-decode",
    model: "Qwen3-8B",
    quantization: "fp8",
    engine: { name: "sglang", version: "v0.5.3.post3" },
    gpu: "H100",
    gpus: 1,
    tensorParallel: 1,
    concurrency: 4,
    inputTokens: 23260 / 100,
    outputTokens: 22061 / 100,
    metric: "decode-tokens-per-second-per-sequence",
    value: 1000 / 5.65,
    source: {
      url: GPUSTACK_8B_H100_LATENCY,
      asOf: READ,
      note: note(
        "Section '3. Quantization', serving `python3 -m sglang.launch_server --model-path Qwen/Qwen3-8B-FP8`:",
        "Maximum request concurrency 4, Mean TPOT (ms) 5.65 (value = 1000 / 5.65); Output token throughput 657.83 tok/s.",
        "For comparison the same page's SGLang BF16 run at concurrency 4 (section '1.') reports Mean TPOT 7.19 ms.",
        GPUSTACK_8B_SETUP,
      ),
    },
  },

  // --- GPUStack performance lab: Qwen3-235B-A22B-Instruct-2507 on H100, saturated throughput ---
  {
    id: "gpustack-vllm-h100-235b-bf16-tp8-sharegpt-aggregate",
    model: "Qwen3-235B-A22B-Instruct-2507",
    quantization: "bf16",
    engine: { name: "vllm", version: "v0.11.0" },
    gpu: "H100",
    gpus: 8,
    tensorParallel: 8,
    interconnect: "nvswitch-h100",
    concurrency: 984,
    inputTokens: 212894 / 984,
    outputTokens: 193865 / 984,
    metric: "aggregate-output-tokens-per-second",
    value: 4015.36,
    source: {
      url: GPUSTACK_235B_H100,
      asOf: READ,
      note: note(
        "Section '1. Choosing the Inference Engine', vLLM, serving `vllm serve Qwen/Qwen3-235B-A22B-Instruct-2507 -tp 8`:",
        "Output token throughput (tok/s) 4015.36, Total input tokens 212894, Total generated tokens 193865,",
        "Mean TPOT (ms) 147.56.",
        GPUSTACK_235B_SETUP,
      ),
    },
  },
  {
    id: "gpustack-vllm-h100-235b-fp8-tp4-sharegpt-aggregate",
    model: "Qwen3-235B-A22B-Instruct-2507",
    quantization: "fp8",
    engine: { name: "vllm", version: "v0.11.0" },
    gpu: "H100",
    gpus: 4,
    tensorParallel: 4,
    interconnect: "nvswitch-h100",
    concurrency: 984,
    inputTokens: 212992 / 984,
    outputTokens: 194446 / 984,
    metric: "aggregate-output-tokens-per-second",
    value: 3592.57,
    source: {
      url: GPUSTACK_235B_H100,
      asOf: READ,
      note: note(
        "Section '3. Parallelism in vLLM', 'TP4', serving `vllm serve Qwen/Qwen3-235B-A22B-Instruct-2507-FP8 -tp 4`:",
        "Output token throughput (tok/s) 3592.57, Total input tokens 212992, Total generated tokens 194446,",
        "Mean TPOT (ms) 169.20. (FP8 at TP 8 needed --enable-expert-parallel on this page: 3856.59 tok/s.)",
        GPUSTACK_235B_SETUP,
      ),
    },
  },

  // --- tenstorrent tt-inference-server GPU reference sweeps ---
  {
    id: "tt-vllm-a100-30b-a3b-c1-in128-out128",
    model: "Qwen3-30B-A3B",
    quantization: "bf16",
    engine: { name: "vllm", version: "not stated" },
    gpu: "A100-80GB",
    gpus: 1,
    tensorParallel: 1,
    concurrency: 1,
    inputTokens: 128,
    outputTokens: 128,
    metric: "decode-tokens-per-second-per-sequence",
    value: 103.92,
    source: {
      url: TT_QWEN3_GPU,
      asOf: READ,
      note: note(
        "Comment by gtobarTT, 2025-07-18, table 'Performance Benchmark Sweeps for Qwen3-30B-A3B on A100', row ISL 128,",
        "OSL 128, Concurrency 1, N Req 8: Tput User (TPS) 103.92, TPOT (ms) 9.6, TTFT (ms) 35.7.",
        "Not stated: vLLM version (the thread's metadata blocks say vllm_commit 'n/a'), weight dtype, GPU count and",
        "A100 memory size. Most literal reading: the Qwen/Qwen3-30B-A3B checkpoint (bf16, about 61 GB) on one",
        "A100 80GB, served by vLLM (assumed: the comment does not name the engine; tt-inference-server's GPU reference runs use vLLM).",
      ),
    },
  },
  {
    id: "tt-vllm-rtx4090-4b-c1-in128-out128",
    model: "Qwen3-4B",
    quantization: "bf16",
    engine: { name: "vllm", version: "not stated" },
    gpu: "RTX-4090",
    gpus: 1,
    tensorParallel: 1,
    concurrency: 1,
    inputTokens: 128,
    outputTokens: 128,
    metric: "decode-tokens-per-second-per-sequence",
    value: 95.27,
    source: {
      url: TT_QWEN3_4B,
      asOf: READ,
      note: note(
        "Comment by gtobarTT, 2025-11-12, table 'Text-to-Text Performance Benchmark Sweeps for Qwen_Qwen3-4B on 4090',",
        "row ISL 128, OSL 128, Concurrency 1, N Req 8: Tput User (TPS) 95.27, TPOT (ms) 10.5, TTFT (ms) 33.1.",
        "Not stated: engine and version, weight dtype. Most literal reading: tt-inference-server's GPU reference",
        "run (vLLM serving the Qwen/Qwen3-4B bf16 checkpoint) on one RTX 4090.",
      ),
    },
  },

  // --- llama.cpp (what Ollama runs underneath): community llama-bench on L40S ---
  {
    id: "community-llamacpp-l40s-8b-q5km-tg128",
    model: "Qwen3-8B",
    quantization: "q5_K_M",
    engine: { name: "llama.cpp", version: "build 8c32d9d96 (7199)" },
    gpu: "L40S",
    gpus: 1,
    tensorParallel: 1,
    checkpointGiB: 5.44,
    concurrency: 1,
    inputTokens: 0,
    outputTokens: 128,
    metric: "decode-tokens-per-second-per-sequence",
    value: 104.18,
    source: {
      url: COMMUNITY_L40S,
      asOf: READ,
      note: note(
        "Section 'Test 1: Single GPU (Baseline)', llama-bench row 'qwen3 8B Q5_K - Medium | 5.44 GiB | 8.19 B |",
        "CUDA,BLAS | 64 | tg128': 104.18 ± 0.02 t/s (pp512 on the same run: 7907.81 ± 79.54 t/s).",
        COMMUNITY_L40S_SETUP,
      ),
    },
  },
  {
    id: "community-llamacpp-4xl40s-8b-q5km-layer-split-tg128",
    model: "Qwen3-8B",
    quantization: "q5_K_M",
    engine: { name: "llama.cpp", version: "build 8c32d9d96 (7199)" },
    gpu: "L40S",
    gpus: 4,
    tensorParallel: 1,
    multiGpuSplit: "layer",
    interconnect: "pcie4",
    checkpointGiB: 5.44,
    concurrency: 1,
    inputTokens: 0,
    outputTokens: 128,
    metric: "decode-tokens-per-second-per-sequence",
    value: 104.52,
    source: {
      url: COMMUNITY_L40S,
      asOf: READ,
      note: note(
        "Section 'Test 3: Quad GPU - Balanced Distribution' (tensor split 4,4,4,4 over 4 L40S, llama.cpp's default",
        "layer split, PCIe between the cards as far as the report shows: no NVLink is mentioned), first tg128 row:",
        "104.52 ± 0.03 t/s. Layer split leaves single-sequence decode where one GPU has it (104.18 in Test 1).",
        COMMUNITY_L40S_SETUP,
      ),
    },
  },
];
