/**
 * Turning smoke results into words and an exit code: one PASS/FAIL/SKIP line per check, the
 * benchmark table, and the cold-start breakdown read from the bootstrap's status document. Pure.
 */
import { z } from "zod";
import { table } from "../text/table";
import type { BenchSummary, Spread } from "./stats";

/** The outcome of one check. */
export type CheckStatus = "pass" | "fail" | "skip";

/** One check's result, as printed and as written with --json. */
export interface CheckResult {
  /** Short name shown in the report, e.g. "thinking off". */
  readonly name: string;
  readonly status: CheckStatus;
  /** Wall time of the check in ms; 0 for a skip. */
  readonly ms: number;
  /** What was seen, or why it failed or was skipped. */
  readonly detail: string;
}

/** 0 when every check that ran passed (skips count as neither), 1 when any failed or none ran. */
export function exitCodeFor(results: readonly CheckResult[]): 0 | 1 {
  if (results.some((r) => r.status === "fail")) return 1;
  return results.some((r) => r.status === "pass") ? 0 : 1;
}

const NAME_WIDTH = 13;

/** A minute or more, to the second: 1m 05s. */
function minutesAndSeconds(seconds: number): string {
  const r = Math.round(seconds);
  return `${Math.floor(r / 60)}m ${String(r % 60).padStart(2, "0")}s`;
}

/** A check's duration for a human: 850 ms, 4.2 s, 1m 05s. */
export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return minutesAndSeconds(ms / 1000);
}

/** One report line: status, name, duration, detail. */
export function formatCheckLine(r: CheckResult): string {
  const took = r.status === "skip" ? "" : formatMs(r.ms);
  return `${r.status.toUpperCase().padEnd(4)}  ${r.name.padEnd(NAME_WIDTH)} ${took.padStart(8)}  ${r.detail}`.trimEnd();
}

/** The closing line: counts and the verdict. */
export function formatCheckSummary(results: readonly CheckResult[]): string {
  const n = (s: CheckStatus): number => results.filter((r) => r.status === s).length;
  const verdict = exitCodeFor(results) === 0 ? "the endpoint works" : "the endpoint does NOT work as expected";
  return `${n("pass")} passed, ${n("fail")} failed, ${n("skip")} skipped: ${verdict}`;
}

const fmt = (n: number | null, unit = " ms"): string =>
  n === null ? "-" : `${n < 10 ? n.toFixed(1) : Math.round(n).toLocaleString("en-US")}${unit}`;
const pp = (s: Spread): string => `p50 ${fmt(s.p50)}, p95 ${fmt(s.p95)}`;

/** The settings a benchmark ran with, for its heading. */
export interface BenchSettings {
  readonly model: string;
  readonly streams: number;
  readonly durationSeconds: number;
  readonly maxTokens: number;
  readonly maxRequests: number;
}

/** What the plan's throughput model predicts for a benchmark run (components/smoke/estimate.ts computes it). */
export interface BenchEstimateFigures {
  /** Decode tokens/s of one stream with every stream in flight. */
  readonly tokensPerSecondPerStream: number;
  /** Output tokens/s of all streams together. */
  readonly aggregateTokensPerSecond: number;
  /** Time to first token for the bench prompt on an idle server, seconds. */
  readonly ttftSeconds: number;
  readonly streams: number;
  /** Prompt tokens per request, as estimated from the prompt and the chat template. */
  readonly promptTokens: number;
  /** Context each stream's decode step is taken at: the prompt plus half the max tokens. */
  readonly contextTokens: number;
  /** The plan's setup, for the reader: model, format, engine, GPUs and their link. */
  readonly setup: string;
}

/** The estimate, or why there is none (no plan, an older plan, a GPU this version does not know). */
export type BenchEstimate = BenchEstimateFigures | { readonly missing: string };

const ratio = (measured: number | null, estimate: number): string =>
  measured === null || estimate <= 0 ? "-" : (measured / estimate).toFixed(2);

/** The measured figures beside the estimate's, with their ratio; or one line saying why there is no estimate. */
export function formatEstimate(s: BenchSummary, e: BenchEstimate, maxTokens: number): string[] {
  if ("missing" in e) return [`No estimate: ${e.missing}.`];
  const tps = (n: number | null): string => (n === null ? "-" : n.toFixed(1));
  const measuredTtft = s.ttftMs.p50;
  const rows = [
    ["", "measured", "estimate", "measured/estimate"],
    [
      "tokens/s per stream",
      tps(s.streamTokensPerSecond.p50),
      tps(e.tokensPerSecondPerStream),
      ratio(s.streamTokensPerSecond.p50, e.tokensPerSecondPerStream),
    ],
    [
      "output tokens/s",
      tps(s.outputTokensPerSecond),
      tps(e.aggregateTokensPerSecond),
      ratio(s.outputTokensPerSecond, e.aggregateTokensPerSecond),
    ],
    ["TTFT p50", fmt(measuredTtft), fmt(e.ttftSeconds * 1000), ratio(measuredTtft, e.ttftSeconds * 1000)],
  ];
  const widths = [1, 2, 3].map((i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  const aligned = rows.map((r) => [r[0] ?? "", ...widths.map((w, i) => (r[i + 1] ?? "").padStart(w))]);
  return [
    `Against the plan (${e.setup}):`,
    ...table(aligned),
    `Estimates: the plan's throughput model for this run, ${e.streams} stream${e.streams === 1 ? "" : "s"} decoding at ` +
      `${Math.round(e.contextTokens)} tokens of context each`,
    `(a ${e.promptTokens}-token prompt, estimated from the prompt and chat template, plus half of ${maxTokens} ` +
      "max tokens); TTFT for that prompt on an idle server.",
  ];
}

/** The benchmark table, and the plan's estimates beside it when given. */
export function formatBench(s: BenchSummary, b: BenchSettings, estimate?: BenchEstimate): string {
  const counted = {
    usage: "from the server's usage",
    chunks: "counted as streamed chunks (no usage sent)",
    mixed: "from usage, plus streamed chunks of requests without usage, e.g. cut off",
    none: "none received",
  }[s.tokenCount];
  const lines = [
    `Benchmark: ${b.model}, ${b.streams} concurrent stream${b.streams === 1 ? "" : "s"} for ` +
      `${b.durationSeconds} s (at most ${b.maxRequests} requests, ${b.maxTokens} max tokens each)`,
    ...table([
      [
        "requests",
        `${s.requests} started: ${s.completed} completed, ${s.errors} failed, ${s.cutOff} cut off at the time limit`,
      ],
      ["elapsed", `${s.elapsedSeconds.toFixed(1)} s`],
      ["requests/s", s.requestsPerSecond.toFixed(2)],
      [
        "output tokens/s",
        `${s.outputTokensPerSecond.toFixed(1)}  (${s.outputTokens.toLocaleString("en-US")} tokens, ${counted})`,
      ],
      [
        "tokens/s per stream",
        `p50 ${s.streamTokensPerSecond.p50 === null ? "-" : s.streamTokensPerSecond.p50.toFixed(1)}  (each request's decode rate)`,
      ],
      ["TTFT", pp(s.ttftMs)],
      ["inter-token", pp(s.interTokenMs)],
      ["request time", pp(s.e2eMs)],
      ["errors", String(s.errors)],
    ]),
  ];
  for (const k of s.errorKinds.slice(0, 3)) lines.push(`  ${k.count} x ${k.message}`);
  if (estimate !== undefined) lines.push(...formatEstimate(s, estimate, b.maxTokens));
  return lines.join("\n");
}

/** One line of live benchmark progress. */
export function formatBenchProgress(
  p: { elapsedSeconds: number; completed: number; inFlight: number; tokens: number; errors: number },
  durationSeconds: number,
): string {
  return (
    `bench ${Math.floor(Math.min(p.elapsedSeconds, durationSeconds))} of ${durationSeconds} s: ` +
    `${p.completed} done, ${p.inFlight} in flight, ${p.tokens.toLocaleString("en-US")} tokens, ` +
    `${p.errors} errors`
  );
}

// ---- cold start -----------------------------------------------------------------------------

const Phase = z.object({
  seconds: z.number().optional(),
  state: z.string().optional(),
  startedAt: z.string().optional(),
  finishedAt: z.string().optional(),
});
const StatusDoc = z.object({
  state: z.string().optional(),
  phase: z.string().nullish(),
  progress: z.object({ percent: z.number().optional(), detail: z.string().optional() }).nullish(),
  error: z.object({ phase: z.string().optional(), reason: z.string().optional() }).nullish(),
  coldStart: z
    .object({
      bootAt: z.string().nullish(),
      startedAt: z.string().nullish(),
      readyAt: z.string(),
      phases: z.record(z.string(), Phase),
    })
    .nullish(),
});

/** One row of the cold-start table. */
export interface ColdStartRow {
  readonly label: string;
  /** Null when the document does not say. */
  readonly seconds: number | null;
  readonly note: string;
}

/** The cold-start breakdown, or why there is none yet. */
export type ColdStart =
  | {
      readonly kind: "ok";
      readonly bootAt: string | null;
      readonly readyAt: string;
      readonly totalSeconds: number | null;
      readonly rows: readonly ColdStartRow[];
    }
  | { readonly kind: "missing"; readonly message: string };

const isoSeconds = (iso: string | null | undefined): number | null => {
  if (iso === null || iso === undefined) return null;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? null : t / 1000;
};

/**
 * The breakdown from a status document: boot (power-on to the bootstrap's start), driver, engine
 * (container runtime + image pull), weights, load, first token; "other" is the rest of the total
 * (secrets, proxy, a reboot for the driver, waits between phases), so the rows add up.
 */
export function coldStartBreakdown(doc: unknown): ColdStart {
  const r = StatusDoc.safeParse(doc);
  if (!r.success)
    return {
      kind: "missing",
      message:
        "the status document is not one the bootstrap writes (no state, phases or coldStart in the expected shape)",
    };
  const s = r.data;
  const cs = s.coldStart;
  if (cs === null || cs === undefined) {
    if (s.state === "failed")
      return {
        kind: "missing",
        message: `no cold start: the bootstrap failed in phase ${s.error?.phase ?? "unknown"}: ${s.error?.reason ?? "no reason given"}`,
      };
    const where = s.phase
      ? ` in phase ${s.phase}${s.progress?.percent !== undefined ? ` (${s.progress.percent}%${s.progress.detail ? `, ${s.progress.detail}` : ""})` : ""}`
      : "";
    return {
      kind: "missing",
      message: `no cold start yet: the machine is ${s.state ?? "starting"}${where} and has not reached ready; try again later`,
    };
  }
  const phase = (name: string): { seconds: number | null; note: string } => {
    const p = cs.phases[name];
    if (p === undefined) return { seconds: null, note: "not recorded" };
    return { seconds: p.seconds ?? null, note: p.state !== undefined && p.state !== "done" ? p.state : "" };
  };
  const boot = isoSeconds(cs.bootAt);
  const started = isoSeconds(cs.startedAt);
  const ready = isoSeconds(cs.readyAt);
  const bootSeconds = boot !== null && started !== null ? Math.max(0, started - boot) : null;
  const runtime = phase("runtime");
  const engine = phase("engine");
  const engineSeconds =
    runtime.seconds === null && engine.seconds === null ? null : (runtime.seconds ?? 0) + (engine.seconds ?? 0);
  const rows: ColdStartRow[] = [
    {
      label: "boot",
      seconds: bootSeconds,
      note: bootSeconds === null ? "boot time not recorded" : "power-on to bootstrap start",
    },
    { label: "driver", ...phase("driver") },
    {
      label: "engine",
      seconds: engineSeconds,
      note: `runtime ${secs(runtime.seconds)} + image ${secs(engine.seconds)}${engine.note ? ` (${engine.note})` : ""}`,
    },
    { label: "weights", ...phase("weights") },
    { label: "load", ...phase("load") },
    { label: "first token", ...phase("first-token") },
  ];
  const from = boot ?? started;
  const totalSeconds = from !== null && ready !== null ? Math.max(0, ready - from) : null;
  if (totalSeconds !== null) {
    const known = rows.reduce((a, row) => a + (row.seconds ?? 0), 0);
    rows.push({
      label: "other",
      seconds: Math.max(0, totalSeconds - known),
      note: "secrets, proxy, reboots, waits between phases",
    });
  }
  return { kind: "ok", bootAt: cs.bootAt ?? null, readyAt: cs.readyAt, totalSeconds, rows };
}

/** Seconds for a human: 4.2 s, 35 s, 9m 00s; "-" when unknown. */
export function secs(s: number | null): string {
  if (s === null) return "-";
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 60) return `${Math.round(s)} s`;
  return minutesAndSeconds(s);
}

/** The cold-start table: seconds and share of the total per row. */
export function formatColdStart(c: Extract<ColdStart, { kind: "ok" }>): string {
  const share = (s: number | null): string =>
    s === null || c.totalSeconds === null || c.totalSeconds === 0 ? "" : `${Math.round((100 * s) / c.totalSeconds)}%`;
  const rows = c.rows.map((r) => [r.label, secs(r.seconds), share(r.seconds), r.note]);
  rows.push([
    "total",
    secs(c.totalSeconds),
    c.totalSeconds === null ? "" : "100%",
    c.bootAt === null ? `bootstrap start to ready at ${c.readyAt}` : `${c.bootAt} to ${c.readyAt}`,
  ]);
  // Right-align the figures so they read as a column of numbers.
  const wSecs = Math.max(...rows.map((r) => (r[1] ?? "").length));
  const wShare = Math.max(...rows.map((r) => (r[2] ?? "").length));
  const aligned = rows.map((r) => [
    r[0] ?? "",
    (r[1] ?? "").padStart(wSecs),
    (r[2] ?? "").padStart(wShare),
    r[3] ?? "",
  ]);
  return ["Cold start (first boot to a ready endpoint):", ...table(aligned)].join("\n");
}

/** The parts of a plan's cold-start estimate the comparison reads. */
export interface ColdStartEstimateDoc {
  readonly phases: readonly { readonly name: string; readonly seconds: number }[];
  readonly totalSeconds: number;
}

/** Measured rows and the estimate phases they cover: the bootstrap's load phase spans load and compile. */
const ESTIMATE_PHASES_OF: Readonly<Record<string, readonly string[]>> = {
  boot: ["boot"],
  driver: ["driver"],
  engine: ["image"],
  weights: ["weights"],
  load: ["load", "compile"],
  "first token": ["first token"],
};

/**
 * The measured phases beside the plan's estimate, with measured / estimate; one line saying so when
 * the plan carries no estimate (a stack deployed before plans had one).
 */
export function formatColdStartVsEstimate(
  c: Extract<ColdStart, { kind: "ok" }>,
  estimate: ColdStartEstimateDoc | undefined,
): string {
  if (estimate === undefined) return "The stack's plan carries no cold-start estimate (deployed before plans had one).";
  const ratio = (m: number | null, e: number): string => (m === null || e <= 0 ? "-" : `x${(m / e).toFixed(2)}`);
  const rows: string[][] = [["phase", "measured", "estimate", "ratio"]];
  for (const r of c.rows) {
    const names = ESTIMATE_PHASES_OF[r.label];
    if (names === undefined) continue;
    const e = estimate.phases.filter((p) => names.includes(p.name)).reduce((a, p) => a + p.seconds, 0);
    rows.push([r.label, secs(r.seconds), secs(e), ratio(r.seconds, e)]);
  }
  rows.push(["total", secs(c.totalSeconds), secs(estimate.totalSeconds), ratio(c.totalSeconds, estimate.totalSeconds)]);
  const w1 = Math.max(...rows.map((r) => (r[1] ?? "").length));
  const w2 = Math.max(...rows.map((r) => (r[2] ?? "").length));
  const aligned = rows.map((r) => [r[0] ?? "", (r[1] ?? "").padStart(w1), (r[2] ?? "").padStart(w2), r[3] ?? ""]);
  return ["Measured against the plan's estimate (load includes compile):", ...table(aligned)].join("\n");
}
