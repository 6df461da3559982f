/**
 * The benchmark statistics, on hand-made samples with known answers: nearest-rank percentiles
 * (textbook examples, boundaries p0/p100, one sample, no samples, the 95 x 20 floating-point trap,
 * never an interpolated value, input left unsorted), and the aggregation of request samples into
 * requests/s, tokens/s (usage preferred over chunk counts, cut-off requests counted), TTFT,
 * each stream's decode rate, inter-token and request-time spreads, and error kinds.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { percentile, summarizeBench, type RequestSample } from "../components/smoke/stats";

describe("percentile (nearest rank)", () => {
  it("matches the textbook examples", () => {
    // The nearest-rank examples from the Wikipedia article on percentiles.
    const a = [15, 20, 35, 40, 50];
    assert.deepEqual(
      [5, 30, 40, 50, 100].map((p) => percentile(a, p)),
      [15, 20, 20, 35, 50],
    );
    const b = [3, 6, 7, 8, 8, 10, 13, 15, 16, 20];
    assert.deepEqual(
      [25, 50, 75, 100].map((p) => percentile(b, p)),
      [7, 8, 15, 20],
    );
  });

  it("p0 is the minimum and p100 the maximum, whatever the order", () => {
    const xs = [9, 2, 7, 4];
    assert.equal(percentile(xs, 0), 2);
    assert.equal(percentile(xs, 100), 9);
    assert.deepEqual(xs, [9, 2, 7, 4], "the caller's array is not sorted in place");
  });

  it("returns a real sample, never an interpolation", () => {
    assert.equal(percentile([1, 2, 3, 4], 50), 2);
    assert.equal(percentile([10, 20], 95), 20);
  });

  it("ranks exactly at whole-number boundaries (95% of 20 is rank 19, not 20)", () => {
    const twenty = Array.from({ length: 20 }, (_, i) => i + 1);
    assert.equal(percentile(twenty, 95), 19);
    assert.equal(percentile(twenty, 96), 20);
    const hundred = Array.from({ length: 100 }, (_, i) => 100 - i);
    assert.equal(percentile(hundred, 95), 95);
    assert.equal(percentile(hundred, 50), 50);
    assert.equal(percentile(hundred, 1), 1);
  });

  it("handles one sample and none", () => {
    assert.equal(percentile([42], 0), 42);
    assert.equal(percentile([42], 50), 42);
    assert.equal(percentile([42], 100), 42);
    assert.equal(percentile([], 50), null);
  });

  it("refuses p outside 0..100", () => {
    assert.throws(() => percentile([1], -1), RangeError);
    assert.throws(() => percentile([1], 101), RangeError);
    assert.throws(() => percentile([1], Number.NaN), RangeError);
  });
});

const sample = (s: Partial<RequestSample> & Pick<RequestSample, "outcome">): RequestSample => ({
  startMs: 0,
  endMs: 0,
  firstTokenMs: null,
  gapsMs: [],
  tokenChunks: 0,
  usageTokens: null,
  ...s,
});

describe("summarizeBench", () => {
  const samples: RequestSample[] = [
    sample({
      outcome: "ok",
      startMs: 0,
      firstTokenMs: 100,
      endMs: 400,
      gapsMs: [10, 20, 30],
      tokenChunks: 4,
      usageTokens: 8,
    }),
    sample({ outcome: "ok", startMs: 0, firstTokenMs: 200, endMs: 500, gapsMs: [40], tokenChunks: 2 }),
    sample({ outcome: "cut", startMs: 100, firstTokenMs: 250, endMs: 1000, gapsMs: [50, 60], tokenChunks: 3 }),
    sample({ outcome: "error", endMs: 5, error: "HTTP 500: boom" }),
    sample({ outcome: "error", endMs: 5, error: "timed out" }),
    sample({ outcome: "error", endMs: 5, error: "HTTP 500: boom" }),
  ];

  it("counts outcomes and rates over the elapsed time", () => {
    const s = summarizeBench(samples, 2000);
    assert.equal(s.requests, 6);
    assert.equal(s.completed, 2);
    assert.equal(s.errors, 3);
    assert.equal(s.cutOff, 1);
    assert.equal(s.elapsedSeconds, 2);
    assert.equal(s.requestsPerSecond, 1);
    // 8 from usage + 2 chunks + 3 chunks of the cut-off request; errors produce none.
    assert.equal(s.outputTokens, 13);
    assert.equal(s.outputTokensPerSecond, 6.5);
    assert.equal(s.tokenCount, "mixed");
  });

  it("takes TTFT from every request that got a token, inter-token gaps pooled, request time from completed ones", () => {
    const s = summarizeBench(samples, 2000);
    // TTFT samples 100, 200, 150 -> sorted 100, 150, 200.
    assert.deepEqual(s.ttftMs, { p50: 150, p95: 200 });
    // Gaps 10..60: rank ceil(3) = 30, rank ceil(5.7) = 60.
    assert.deepEqual(s.interTokenMs, { p50: 30, p95: 60 });
    assert.deepEqual(s.e2eMs, { p50: 400, p95: 500 });
  });

  it("takes each stream's decode rate as its tokens after the first over first token to end, usage before chunks", () => {
    // 7 tokens (usage 8) in 300 ms, 1 (2 chunks) in 300 ms, 2 (3 chunks, cut off) in 750 ms:
    // 23.33, 3.33 and 2.67 tokens/s; nearest rank gives p50 = 3.33, p95 = 23.33.
    assert.deepEqual(summarizeBench(samples, 2000).streamTokensPerSecond, { p50: 10 / 3, p95: 70 / 3 });
    const rateless = [
      sample({ outcome: "ok", startMs: 0, firstTokenMs: 100, endMs: 200, tokenChunks: 1 }),
      sample({ outcome: "ok", startMs: 0, firstTokenMs: null, endMs: 200, usageTokens: 0 }),
      sample({ outcome: "error", startMs: 0, firstTokenMs: 100, endMs: 900, tokenChunks: 9, error: "reset" }),
    ];
    assert.deepEqual(summarizeBench(rateless, 1000).streamTokensPerSecond, { p50: null, p95: null });
  });

  it("lists error kinds, most frequent first", () => {
    assert.deepEqual(summarizeBench(samples, 2000).errorKinds, [
      { message: "HTTP 500: boom", count: 2 },
      { message: "timed out", count: 1 },
    ]);
  });

  it("says where token counts came from", () => {
    const withUsage = [sample({ outcome: "ok", tokenChunks: 3, usageTokens: 6 })];
    const withoutUsage = [sample({ outcome: "ok", tokenChunks: 3 })];
    assert.equal(summarizeBench(withUsage, 1000).tokenCount, "usage");
    assert.equal(summarizeBench(withUsage, 1000).outputTokens, 6);
    assert.equal(summarizeBench(withoutUsage, 1000).tokenCount, "chunks");
    assert.equal(summarizeBench(withoutUsage, 1000).outputTokens, 3);
  });

  it("reports nothing rather than dividing by zero", () => {
    const s = summarizeBench([], 0);
    assert.equal(s.requestsPerSecond, 0);
    assert.equal(s.outputTokensPerSecond, 0);
    assert.equal(s.tokenCount, "none");
    assert.deepEqual(s.ttftMs, { p50: null, p95: null });
    assert.deepEqual(s.errorKinds, []);
  });
});
