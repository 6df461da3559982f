/**
 * `npm run smoke`: prove an OpenAI-compatible endpoint serves Qwen3 properly (checks), measure it
 * (--bench), or show how long the machine took to come up (--since-up). The endpoint comes from
 * --url/--api-key, from `pulumi stack output --json --show-secrets` piped in (or --outputs FILE),
 * or from --stack NAME through the Pulumi CLI (`pulumi stack output --stack`, never `stack select`).
 * A fleet waking from zero (503) is waited for first, bounded by --wake-timeout.
 * Exit codes: 0 every check that ran passed; 1 a check failed, the endpoint could not be read, or a
 * fleet did not wake in time;
 * 2 bad flags (reason on stderr, no stack trace).
 */
import { writeFileSync } from "node:fs";
import { parseFlags } from "./cli";
import { runBench } from "../components/smoke/bench";
import { describeError, makeClient } from "../components/smoke/chat";
import {
  checkWritable,
  fetchStatus,
  readOutputsJson,
  readStackOutputs,
  SourceError,
} from "../components/stacks/outputs";
import { runChecks } from "../components/smoke/checks";
import { isUserError } from "../components/errors/userError";
import {
  isFleet,
  parseSmokeOptions,
  parseStackOutputs,
  resolveTarget,
  wakeTimeoutSeconds,
  WAKE_TIMEOUT_LIMITS,
  withPlanDefaults,
  type SmokeOptions,
  type SmokeTarget,
  type StackOutputs,
} from "../components/smoke/options";
import {
  coldStartBreakdown,
  exitCodeFor,
  formatBench,
  formatBenchProgress,
  formatCheckLine,
  formatCheckSummary,
  formatColdStart,
  formatColdStartVsEstimate,
  type BenchEstimate,
} from "../components/smoke/report";
import { summarizeBench } from "../components/smoke/stats";
import { benchEstimate } from "../components/smoke/estimate";
import { waitForWake, WakeTimeoutError, type WakeResult } from "../components/smoke/wake";

const USAGE = `Usage: npm run --silent smoke -- [--url <base ending in /v1> --api-key <key>] [--model <name>]
         [--stack <name> | --outputs <file|->] [--engine vllm|sglang|ollama] [--thinking-mode hybrid|thinking|instruct]
         [--no-tools] [--timeout <s>] [--wake-timeout <s>] [--json <file>]
       npm run --silent smoke -- --bench [--streams N] [--duration S] [--max-tokens T] [--max-requests R] [--json <file>]
       npm run --silent smoke -- --since-up
Without --url, the endpoint comes from \`pulumi stack output --json --show-secrets\` piped in, or from --stack.
A fleet at zero answers 503 while it wakes a replica: the checks and the benchmark wait for it, up to
--wake-timeout seconds (default: the plan's readiness estimate, else ${WAKE_TIMEOUT_LIMITS.default}).`;

const OPTIONS = {
  url: { type: "string" },
  "api-key": { type: "string" },
  model: { type: "string" },
  stack: { type: "string" },
  outputs: { type: "string" },
  engine: { type: "string" },
  "thinking-mode": { type: "string" },
  "no-tools": { type: "boolean" },
  timeout: { type: "string" },
  bench: { type: "boolean" },
  streams: { type: "string" },
  duration: { type: "string" },
  "max-tokens": { type: "string" },
  "max-requests": { type: "string" },
  json: { type: "string" },
  "since-up": { type: "boolean" },
  "wake-timeout": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

const out = (line: string): void => void process.stdout.write(`${line}\n`);
const tty = process.stdout.isTTY === true;
const CLEAR = "\r\x1b[K";

function writeJson(file: string | undefined, doc: unknown): void {
  if (file === undefined) return;
  // Three decimals are already sub-microsecond for ms figures; more is clock noise.
  const round = (_key: string, v: unknown): unknown =>
    typeof v === "number" && !Number.isInteger(v) ? Math.round(v * 1000) / 1000 : v;
  try {
    writeFileSync(file, `${JSON.stringify(doc, round, 2)}\n`);
  } catch (e) {
    // Checked writable before the run, so this is the disk filling or the folder going meanwhile.
    throw new SourceError(`--json ${file}: cannot write the results: ${e instanceof Error ? e.message : String(e)}`);
  }
  out(`Wrote ${file}`);
}

async function loadOutputs(o: SmokeOptions): Promise<StackOutputs | null> {
  const s = o.source;
  if (s.kind === "flags") return null;
  if (s.kind === "stack") return parseStackOutputs(await readStackOutputs(s.stack), `--stack ${s.stack}`);
  return parseStackOutputs(
    await readOutputsJson(s.from, process.stdin),
    s.from === "-" ? "stdin" : `--outputs ${s.from}`,
  );
}

async function checks(o: SmokeOptions, t: SmokeTarget, wake: WakeResult): Promise<number> {
  out(
    `Smoke test of ${t.baseUrl}: model ${t.model ?? "(first one /v1/models lists)"}, engine ${o.engine}, thinking ${o.thinkingMode}`,
  );
  let spinner: NodeJS.Timeout | null = null;
  const run = await runChecks({
    target: t,
    options: o,
    onStart: (name) => {
      if (!tty) return;
      // A spinner only on a terminal: in a log or a pipe it would be noise.
      let i = 0;
      const frames = ["|", "/", "-", "\\"];
      const draw = (): void => void process.stdout.write(`${CLEAR}${frames[i++ % frames.length]}     ${name}`);
      draw();
      spinner = setInterval(draw, 150);
    },
    onResult: (r) => {
      if (spinner !== null) clearInterval(spinner);
      spinner = null;
      process.stdout.write(`${tty ? CLEAR : ""}${formatCheckLine(r)}\n`);
    },
  });
  out(formatCheckSummary(run.results));
  const code = exitCodeFor(run.results);
  writeJson(o.jsonPath, {
    endpoint: t.baseUrl,
    model: run.model,
    engine: o.engine,
    thinkingMode: o.thinkingMode,
    results: run.results,
    exitCode: code,
    wake,
  });
  return code;
}

/**
 * The plan's estimate for this run, or why there is none: only when the endpoint is the stack's,
 * since a --url over the stack's outputs may be another server.
 */
function estimateFor(o: SmokeOptions, outputs: StackOutputs | null): BenchEstimate {
  if (outputs === null) return { missing: "no stack plan with --url alone; give --stack or --outputs to compare" };
  if (o.url !== undefined) return { missing: "--url overrides the stack's endpoint, so its plan may not describe it" };
  return benchEstimate(outputs.plan, { streams: o.streams, maxTokens: o.maxTokens });
}

async function bench(o: SmokeOptions, t: SmokeTarget, outputs: StackOutputs | null, wake: WakeResult): Promise<number> {
  const client = makeClient(t.baseUrl, t.apiKey, o.timeoutSeconds);
  let model = t.model;
  if (model === null) {
    try {
      model = (await client.models.list()).data[0]?.id ?? null;
    } catch (e) {
      process.stderr.write(`error: cannot list the models at ${t.baseUrl}/models: ${describeError(e)}\n`);
      return 1;
    }
    if (model === null) {
      process.stderr.write(`error: ${t.baseUrl}/models lists no model; give --model\n`);
      return 1;
    }
  }
  const settings = {
    model,
    streams: o.streams,
    durationSeconds: o.durationSeconds,
    maxTokens: o.maxTokens,
    maxRequests: o.maxRequests,
  };
  out(
    `Benchmarking ${t.baseUrl}: ${model}, ${o.streams} streams, up to ${o.durationSeconds} s or ${o.maxRequests} requests`,
  );
  let done = false;
  // A live line each second on a terminal; elsewhere about ten plain lines per run, whatever its length.
  const everyMs = tty ? 1000 : 1000 * Math.max(1, Math.round(o.durationSeconds / 10));
  const r = await runBench({
    client,
    ...settings,
    tickMs: everyMs,
    onTick: (p) => {
      if (done) return;
      process.stdout.write(
        tty ? `${CLEAR}${formatBenchProgress(p, o.durationSeconds)}` : `${formatBenchProgress(p, o.durationSeconds)}\n`,
      );
    },
  });
  done = true;
  if (tty) process.stdout.write(CLEAR);
  const summary = summarizeBench(r.samples, r.elapsedMs);
  const estimate = estimateFor(o, outputs);
  out(formatBench(summary, settings, estimate));
  writeJson(o.jsonPath, { endpoint: t.baseUrl, settings, summary, estimate, wake });
  return summary.errors === 0 && summary.completed > 0 ? 0 : 1;
}

async function sinceUp(o: SmokeOptions, t: SmokeTarget, outputs: StackOutputs | null): Promise<number> {
  out(`Reading the bootstrap status at ${t.statusUrl}`);
  const c = coldStartBreakdown(await fetchStatus(t.statusUrl, t.apiKey, o.timeoutSeconds));
  if (c.kind === "missing") {
    out(c.message);
    return 1;
  }
  out(formatColdStart(c));
  // Only the stack's own endpoint is described by its plan (as for the bench estimate).
  if (outputs === null || o.url !== undefined)
    out("No stack plan to compare with: give --stack or --outputs, without --url.");
  else out(formatColdStartVsEstimate(c, outputs.plan?.coldStart));
  writeJson(o.jsonPath, { ...c, estimate: outputs?.plan?.coldStart ?? null });
  return 0;
}

async function main(argv: readonly string[]): Promise<number> {
  const values = parseFlags(argv, OPTIONS, USAGE);
  if (values === null) return 2;
  if (values.help === true) {
    out(USAGE);
    return 0;
  }
  try {
    const envKey = process.env.OPENAI_API_KEY;
    const flags = parseSmokeOptions(values, {
      stdinIsTTY: process.stdin.isTTY === true,
      ...(envKey === undefined ? {} : { envApiKey: envKey }),
    });
    if (flags.jsonPath !== undefined) checkWritable("--json", flags.jsonPath);
    const outputs = await loadOutputs(flags);
    const o = withPlanDefaults(flags, outputs);
    const t = resolveTarget(o, outputs);
    if (o.mode === "since-up") return await sinceUp(o, t, outputs);
    const wake = await waitForWake({
      baseUrl: t.baseUrl,
      apiKey: t.apiKey,
      fleet: isFleet(o, outputs),
      timeoutMs: wakeTimeoutSeconds(o, outputs) * 1000,
      requestTimeoutMs: Math.min(o.timeoutSeconds, 30) * 1000,
      log: out,
    });
    if (o.mode === "bench") return await bench(o, t, outputs, wake);
    return await checks(o, t, wake);
  } catch (e) {
    if (isUserError(e)) {
      process.stderr.write(`error: ${e.message}\n`);
      return 2;
    }
    if (e instanceof SourceError || e instanceof WakeTimeoutError) {
      process.stderr.write(`error: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
