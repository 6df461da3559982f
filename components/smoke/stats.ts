/**
 * Benchmark statistics: nearest-rank percentiles and the aggregation of per-request samples into
 * the figures `npm run smoke -- --bench` reports. Pure: the client measures, this only counts.
 */

/**
 * The nearest-rank percentile: the smallest sample such that at least p% of the samples are at or
 * below it, i.e. sorted[ceil(p/100 * n) - 1]; p = 0 gives the minimum. Always a real sample, never
 * an interpolation, so p95 of ten requests is the slowest one rather than a made-up value between
 * the two slowest. Null when there are no samples.
 */
export function percentile(samples: readonly number[], p: number): number | null {
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile: p must be within 0..100, got ${p}`);
  if (samples.length === 0) return null;
  const sorted = [...samples].sort((a, b) => a - b);
  // p * n / 100 rather than p / 100 * n: 95 * 20 / 100 is exactly 19, 0.95 * 20 is not.
  const rank = Math.max(1, Math.ceil((p * sorted.length) / 100));
  return sorted[rank - 1] ?? null;
}

/** How one benchmark request ended. */
export type RequestOutcome = "ok" | "error" | "cut";

/** What the client measured for one streamed request; times in ms on one monotonic clock. */
export interface RequestSample {
  readonly outcome: RequestOutcome;
  readonly startMs: number;
  readonly endMs: number;
  /** When the first content or reasoning token arrived; null when none did. */
  readonly firstTokenMs: number | null;
  /** Gaps between consecutive chunks that carried tokens, in ms. */
  readonly gapsMs: readonly number[];
  /** Chunks that carried content or reasoning text. */
  readonly tokenChunks: number;
  /** completion_tokens from the final usage chunk, when the server sent one. */
  readonly usageTokens: number | null;
  /** The error, for outcome "error". */
  readonly error?: string;
}

/** A p50/p95 pair in ms; null where there were no samples. */
export interface Spread {
  readonly p50: number | null;
  readonly p95: number | null;
}

/** The figures a benchmark run reports. */
export interface BenchSummary {
  /** Requests started. */
  readonly requests: number;
  /** Requests that streamed to their end. */
  readonly completed: number;
  readonly errors: number;
  /** Requests still streaming when the duration ran out, aborted there. */
  readonly cutOff: number;
  readonly elapsedSeconds: number;
  /** Completed requests per second of elapsed time. */
  readonly requestsPerSecond: number;
  /** Output tokens received, from completed and cut-off requests. */
  readonly outputTokens: number;
  readonly outputTokensPerSecond: number;
  /** Where the token count came from: the server's usage, counted chunks, or both. */
  readonly tokenCount: "usage" | "chunks" | "mixed" | "none";
  readonly ttftMs: Spread;
  /**
   * Each request's decode rate, tokens/s: its tokens after the first over the time from the first
   * to the end. Requests with fewer than two tokens have no rate.
   */
  readonly streamTokensPerSecond: Spread;
  readonly interTokenMs: Spread;
  readonly e2eMs: Spread;
  /** Distinct error messages with how often each occurred, most frequent first. */
  readonly errorKinds: readonly { readonly message: string; readonly count: number }[];
}

const spread = (xs: readonly number[]): Spread => ({ p50: percentile(xs, 50), p95: percentile(xs, 95) });

/** A request's decode rate, tokens/s (usage when sent, else chunks), or null when it has none. */
function decodeRate(s: RequestSample): number | null {
  const tokens = s.usageTokens ?? s.tokenChunks;
  if (s.firstTokenMs === null || tokens < 2 || s.endMs <= s.firstTokenMs) return null;
  return ((tokens - 1) * 1000) / (s.endMs - s.firstTokenMs);
}

/** Aggregate per-request samples over a run that lasted elapsedMs. */
export function summarizeBench(samples: readonly RequestSample[], elapsedMs: number): BenchSummary {
  const completed = samples.filter((s) => s.outcome === "ok");
  const errored = samples.filter((s) => s.outcome === "error");
  const cut = samples.filter((s) => s.outcome === "cut");
  // Cut-off requests did produce tokens inside the window; leaving them out would understate throughput.
  const producing = [...completed, ...cut];
  let fromUsage = 0;
  let fromChunks = 0;
  let outputTokens = 0;
  for (const s of producing) {
    if (s.usageTokens !== null) {
      fromUsage += 1;
      outputTokens += s.usageTokens;
    } else if (s.tokenChunks > 0) {
      fromChunks += 1;
      outputTokens += s.tokenChunks;
    }
  }
  const tokenCount =
    fromUsage > 0 && fromChunks > 0 ? "mixed" : fromUsage > 0 ? "usage" : fromChunks > 0 ? "chunks" : "none";
  const elapsedSeconds = elapsedMs / 1000;
  const perSecond = (n: number): number => (elapsedSeconds > 0 ? n / elapsedSeconds : 0);
  const kinds = new Map<string, number>();
  for (const s of errored) kinds.set(s.error ?? "unknown error", (kinds.get(s.error ?? "unknown error") ?? 0) + 1);
  return {
    requests: samples.length,
    completed: completed.length,
    errors: errored.length,
    cutOff: cut.length,
    elapsedSeconds,
    requestsPerSecond: perSecond(completed.length),
    outputTokens,
    outputTokensPerSecond: perSecond(outputTokens),
    tokenCount,
    ttftMs: spread(producing.flatMap((s) => (s.firstTokenMs === null ? [] : [s.firstTokenMs - s.startMs]))),
    streamTokensPerSecond: spread(producing.flatMap((s) => decodeRate(s) ?? [])),
    interTokenMs: spread(producing.flatMap((s) => s.gapsMs)),
    e2eMs: spread(completed.map((s) => s.endMs - s.startMs)),
    errorKinds: [...kinds.entries()]
      .map(([message, count]) => ({ message, count }))
      .sort((a, b) => b.count - a.count || a.message.localeCompare(b.message)),
  };
}
