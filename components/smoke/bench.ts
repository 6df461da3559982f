/**
 * The benchmark: N workers, each streaming one completion at a time through the openai SDK, until
 * the duration or the request cap runs out. Concurrency can never exceed N because each worker
 * awaits its own request; at the deadline every open stream is aborted, so the run never
 * outlasts its duration by more than the abort takes.
 */
import type OpenAI from "openai";
import type { BenchSettings } from "./report";
import type { RequestSample } from "./stats";
import { describeError, StreamMeter } from "./chat";
import { BENCH_PROMPT } from "./estimate";

/** What {@link runBench} needs: the settings the report prints, plus the client and its hooks. */
export interface BenchInput extends BenchSettings {
  readonly client: OpenAI;
  /** Called about once a second with the running totals. */
  readonly onTick?: (p: BenchProgress) => void;
  readonly tickMs?: number;
  readonly now?: () => number;
}

/** Running totals, for a progress line. */
export interface BenchProgress {
  readonly elapsedSeconds: number;
  readonly completed: number;
  readonly inFlight: number;
  readonly tokens: number;
  readonly errors: number;
}

/** Every request's sample and how long the run took. */
export interface BenchRun {
  readonly samples: readonly RequestSample[];
  readonly elapsedMs: number;
  /** The most requests that were open at once, as the client counted them. */
  readonly maxInFlight: number;
}

/** Run the benchmark; resolves once every worker has stopped. */
export async function runBench(b: BenchInput): Promise<BenchRun> {
  const now = b.now ?? (() => performance.now());
  const t0 = now();
  const durationMs = b.durationSeconds * 1000;
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), durationMs);
  const samples: RequestSample[] = [];
  const open = new Set<StreamMeter>();
  let started = 0;
  let maxInFlight = 0;

  const tick = (): void => {
    const done = samples.filter((s) => s.outcome === "ok").length;
    const tokens =
      samples.reduce((a, s) => a + (s.usageTokens ?? s.tokenChunks), 0) +
      [...open].reduce((a, m) => a + m.tokenChunks, 0);
    b.onTick?.({
      elapsedSeconds: (now() - t0) / 1000,
      completed: done,
      inFlight: open.size,
      tokens,
      errors: samples.filter((s) => s.outcome === "error").length,
    });
  };
  const ticker = b.onTick === undefined ? null : setInterval(tick, b.tickMs ?? 1000);

  const worker = async (): Promise<void> => {
    while (!stop.signal.aborted && now() - t0 < durationMs && started < b.maxRequests) {
      started += 1;
      const meter = new StreamMeter(now);
      open.add(meter);
      maxInFlight = Math.max(maxInFlight, open.size);
      let outcome: RequestSample["outcome"] = "ok";
      let error: string | undefined;
      try {
        await meter.run(
          b.client,
          {
            model: b.model,
            messages: [{ role: "user", content: BENCH_PROMPT }],
            max_tokens: b.maxTokens,
            stream: true,
            stream_options: { include_usage: true },
          },
          stop.signal,
        );
      } catch (e) {
        outcome = "error";
        error = describeError(e);
      }
      // An abort at the deadline is the time bound working, not a server error. The SDK may end an
      // aborted stream quietly instead of throwing, so an unfinished stream is what tells.
      if (stop.signal.aborted && meter.finishReason === null) {
        outcome = "cut";
        error = undefined;
      } else if (outcome === "ok" && meter.finishReason === null) {
        outcome = "error";
        error = "the stream ended without a finish_reason";
      }
      open.delete(meter);
      samples.push({
        outcome,
        startMs: meter.startMs,
        endMs: meter.endMs,
        firstTokenMs: meter.firstTokenMs,
        gapsMs: meter.gapsMs,
        tokenChunks: meter.tokenChunks,
        usageTokens: meter.usageTokens,
        ...(error === undefined ? {} : { error }),
      });
    }
  };

  try {
    await Promise.all(Array.from({ length: b.streams }, () => worker()));
  } finally {
    clearTimeout(timer);
    if (ticker !== null) clearInterval(ticker);
  }
  const elapsedMs = now() - t0;
  return { samples, elapsedMs, maxInFlight };
}
