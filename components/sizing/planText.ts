/**
 * Human-readable rendering of a plan: what was asked, what was chosen and why, what it costs.
 * Pure string building; the CLI prints it.
 */
import { quotaForType } from "../catalog/quotas";
import { shellQuote } from "../engines/shell";
import { table } from "../text/table";
import type { Plan, SpeedFigures } from "./plan";

/** Rejections shown under "why not cheaper". */
export const CHEAPER_REJECTIONS_SHOWN = 8;

const int = (n: number): string => n.toLocaleString("en-US");
const usd = (n: number, digits = 3): string =>
  `$${n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits })}`;
const gib = (n: number): string => `${n.toFixed(1)} GiB`;
const perM = (f: SpeedFigures): string =>
  f.usdPerMillionOutputTokens === null ? "no price" : `${usd(f.usdPerMillionOutputTokens)}/M tok`;
const tps = (n: number): string => n.toLocaleString("en-US", { minimumFractionDigits: 1, maximumFractionDigits: 1 });

/** The objective as the Speed line words it. */
function objectiveText(plan: Plan): string {
  const p = plan.performance;
  if (p.objective === "cost") return "ranked by price per hour (--objective cost)";
  if (p.objective === "speed") return "ranked by speed (--objective speed)";
  return `ranked by $ per million output tokens among machines at ${p.minTokensPerSecond}+ tokens/s per sequence`;
}

const minutes = (seconds: number): string => (seconds / 60).toFixed(1);

/**
 * The Cold start line: total and the phases of 0.1 min or more, in minutes; weights also from the S3 mirror (or, when
 * the stack reads the mirror, also from the source for the machine that seeds it); a warm restart.
 */
export function coldStartLine(plan: Plan): string {
  const c = plan.coldStart;
  if (c.seeding !== undefined) return mirroredColdStartLine(plan, c.seeding);
  const parts = c.phases
    .filter((p) => Math.round(p.seconds / 6) > 0)
    .map(
      (p) =>
        `${p.name} ${minutes(p.seconds)}${p.name === "weights" ? ` (${minutes(c.mirrorWeightsSeconds)} from an S3 mirror)` : ""}`,
    );
  return (
    `Cold start about ${minutes(c.totalSeconds)} min (estimate): ${parts.join(", ")} min; ` +
    `a warm restart about ${minutes(c.warmRestartSeconds)} min`
  );
}

/** The Cold start line of a stack whose weights come from the S3 mirror (`aws.weightsCache: s3`). */
function mirroredColdStartLine(plan: Plan, seeding: NonNullable<Plan["coldStart"]["seeding"]>): string {
  const c = plan.coldStart;
  const from = plan.serve.weights.source === "hf" ? "Hugging Face" : "the Ollama registry";
  const parts = c.phases
    .filter((p) => Math.round(p.seconds / 6) > 0 || p.name === "weights")
    .map(
      (p) =>
        `${p.name} ${minutes(p.seconds)}` +
        (p.name === "weights" ? ` (${minutes(seeding.weightsSeconds)} from ${from} to seed the mirror)` : ""),
    );
  return (
    `Cold start about ${minutes(c.totalSeconds)} min (estimate, weights from the in-region S3 mirror): ` +
    `${parts.join(", ")} min; the machine that seeds the mirror about ${minutes(seeding.totalSeconds)} min; ` +
    `a warm restart about ${minutes(c.warmRestartSeconds)} min`
  );
}

/** Render a plan for a terminal. */
export function formatPlan(plan: Plan): string {
  const m = plan.memory;
  const i = plan.instance;
  const seqs = plan.concurrency === 1 ? "1 sequence" : `${int(plan.concurrency)} sequences`;
  const engineName = { vllm: "vLLM", sglang: "SGLang", ollama: "Ollama" }[plan.engine];
  const source = plan.model.repo ?? plan.model.ollamaTag ?? plan.model.id;
  const split =
    plan.engine === "ollama"
      ? `layers over ${plan.gpusUsed} GPU${plan.gpusUsed > 1 ? "s" : ""}`
      : `TP ${plan.tensorParallelSize}${plan.expertParallel ? " + expert parallel" : ""}`;
  const yarn =
    plan.yarn === null ? "no YaRN" : `YaRN x${plan.yarn.factor} from ${int(plan.yarn.originalMaxPositionEmbeddings)}`;
  const headroom = m.perGpuGiB - m.weightsGiB - m.kvCacheGiB - m.overheadGiB;

  const out: string[] = [];
  out.push(
    `Request   ${plan.model.id} (${source}) on ${engineName}, ${plan.quantization}, context ${int(plan.contextLength)} x ${seqs}, ${i.market}`,
  );
  out.push(
    `Chosen    ${i.type}: ${i.gpuCount} x ${i.gpu} (${gib(i.gpuMemoryGiB)} each, CC ` +
      `${i.computeCapability.toFixed(1)}), ${i.vcpus} vCPU, ${int(i.ramGiB)} GiB RAM`,
  );
  out.push(
    `Cost      ${usd(plan.cost.perHour)}/h, ${usd(plan.cost.perMonth, 0)}/month at 730 h (${i.market}, ${i.priceRegion}, prices as of ${i.priceAsOf})`,
  );
  const p = plan.performance;
  out.push(
    `Speed     about ${tps(p.tokensPerSecondPerSequence)} tokens/s per sequence, ${tps(p.aggregateTokensPerSecond)} in all ` +
      `at ${int(p.atContext)} x ${int(p.atConcurrency)}; TTFT ${p.ttftSeconds.toFixed(2)} s for a ` +
      `${int(p.ttftPromptTokens)}-token prompt; ${perM(p)} (estimates, ${p.bound}-bound; ${objectiveText(plan)})`,
  );
  out.push(coldStartLine(plan));
  const link = p.interconnect === "single GPU" ? "" : ` over ${p.interconnect}`;
  const quota = quotaForType(i.type, i.market);
  if (quota !== null)
    out.push(
      `Quota     ${i.vcpus} vCPUs of "${quota.name}" (${quota.code}) in the launch region; --check-quota reads it`,
    );
  out.push(
    `Settings  ${split}${link}, max context ${int(plan.contextLength)}, dtype ${plan.dtype}, ${yarn}, ` +
      `disk ${plan.disk.totalGiB} GiB for weights + engine`,
  );
  const quoted = plan.serve.argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : shellQuote(a))).join(" ");
  out.push(
    `Serve     ${plan.serve.image}, on 127.0.0.1:${plan.serve.port} behind the API-key proxy; clients send model "${plan.serve.servedModelName}"`,
  );
  out.push(`          ${quoted}`);
  out.push(
    `          env ${Object.entries(plan.serve.env)
      .map(([k, v]) => `${k}=${v}`)
      .join(" ")}`,
  );
  out.push("");
  out.push(`Memory per GPU: needs ${gib(m.perGpuGiB)} of ${gib(m.gpuMemoryGiB)}`);
  out.push(
    ...table([
      ["weights", gib(m.weightsGiB), `${gib(m.weightsTotalGiB)} in all, ${m.weightsSize}`],
      ["KV cache", gib(m.kvCacheGiB), `${int(m.kvBytesPerTokenPerGpu)} B/token x ${int(m.kvTokens)} tokens`],
      ["runtime", gib(m.overheadGiB), "CUDA context, activations, CUDA graphs"],
      ["headroom", gib(headroom), `engine uses ${Math.round(m.utilization * 100)}% of GPU memory`],
    ]),
  );

  const cheaper = plan.rejected.filter((r) => r.pricePerHour !== null && r.pricePerHour <= i.pricePerHour);
  if (cheaper.length > 0) {
    out.push("");
    out.push("Why not cheaper:");
    // The ones priced closest to the choice are the near misses worth reading.
    const shown = cheaper.slice(-CHEAPER_REJECTIONS_SHOWN);
    out.push(...table(shown.map((r) => [r.type, `${usd(r.pricePerHour ?? 0)}/h`, r.reason])));
    if (cheaper.length > shown.length)
      out.push(`  ... and ${cheaper.length - shown.length} cheaper ones (all listed with --json)`);
  }
  if (plan.alternatives.length > 0) {
    out.push("");
    out.push("Alternatives:");
    out.push(
      ...table(
        plan.alternatives.map((a) => [
          a.type,
          `${usd(a.pricePerHour)}/h`,
          `${a.gpuCount} x ${a.gpu}`,
          `${tps(a.performance.tokensPerSecondPerSequence)} tok/s/seq`,
          `${tps(a.performance.aggregateTokensPerSecond)} tok/s`,
          `TTFT ${a.performance.ttftSeconds.toFixed(2)} s`,
          perM(a.performance),
          a.performance.interconnect,
          `needs ${gib(a.perGpuGiB)} of ${gib(a.gpuMemoryGiB)} per GPU`,
        ]),
      ),
    );
  }
  if (plan.notes.length > 0) {
    out.push("");
    out.push("Notes:");
    for (const n of plan.notes) out.push(`  - ${n}`);
  }
  return out.join("\n");
}
