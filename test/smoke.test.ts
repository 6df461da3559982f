/**
 * `npm run smoke` against a loopback OpenAI-compatible server (test/helpers/fakeOpenAI.ts) that
 * can stream with delays, put reasoning in `reasoning`, `reasoning_content`, inline or nowhere,
 * obey or ignore each thinking-off switch, demand the key, make tool calls and fail on demand.
 * It proves: the pass/fail decision (all pass -> 0, any failure -> 1, skips do not fail); that
 * each check fails for the fault it exists to catch; the engine-specific thinking switches; the
 * flag validation (bad values name the flag, value and choices); the cold-start breakdown from a
 * status document; the benchmark's bounds (never more than N streams open, stops at the duration
 * and at the request cap) and its token counting; the plan's estimates printed beside the measured
 * figures (and the reason when there are none); that every request carries
 * `Authorization: Bearer <key>` except the one deliberate keyless probe; and, as a child process,
 * the CLI's exit codes and output lines.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { runBench } from "../components/smoke/bench";
import { makeClient } from "../components/smoke/chat";
import { fetchStatus, SourceError } from "../components/stacks/outputs";
import { runChecks, type ChecksInput } from "../components/smoke/checks";
import { UserError } from "../components/errors/userError";
import {
  isFleet,
  parseSmokeOptions,
  parseStackOutputs,
  resolveTarget,
  skipReason,
  thinkingSwitch,
  wakeTimeoutSeconds,
  withPlanDefaults,
  type RawSmokeFlags,
  type SmokeContext,
  type SmokeOptions,
} from "../components/smoke/options";
import {
  coldStartBreakdown,
  exitCodeFor,
  formatCheckLine,
  formatCheckSummary,
  formatBench,
  formatColdStart,
  formatColdStartVsEstimate,
  type CheckResult,
} from "../components/smoke/report";
import { summarizeBench, type BenchSummary } from "../components/smoke/stats";
import { BENCH_PROMPT_TOKENS, benchEstimate } from "../components/smoke/estimate";
import { buildPlan } from "../components/sizing/plan";
import { planForMachine } from "../components/sizing/machinePlan";
import { parsePlanRequest } from "../components/sizing/request";
import { KNOWN_GPUS } from "../components/catalog/workstationGpus";
import { waitForWake, WakeTimeoutError, type WakeInput } from "../components/smoke/wake";
import { readyStatusDoc, startFakeOpenAI, type FakeServer, type FakeSettings } from "./helpers/fakeOpenAI";

const ROOT = path.resolve(__dirname, "..");
const KEY = "sk-smoke-test-0123456789abcdef";
const NO_STACK = /^\s+at /m;

const fakes: FakeServer[] = [];
after(async () => {
  await Promise.all(fakes.map((f) => f.close()));
});
async function fake(overrides: Partial<FakeSettings> = {}): Promise<FakeServer> {
  const f = await startFakeOpenAI({ key: KEY, ...overrides });
  fakes.push(f);
  return f;
}

type CheckOptions = ChecksInput["options"];
const VLLM_HYBRID: CheckOptions = { engine: "vllm", thinkingMode: "hybrid", tools: true, timeoutSeconds: 10 };

async function check(
  f: FakeServer,
  options: Partial<CheckOptions> = {},
  model: string | null = "Qwen3-8B",
  key = KEY,
): Promise<Record<string, CheckResult>> {
  const run = await runChecks({
    target: { baseUrl: f.baseUrl, apiKey: key, model, statusUrl: `${f.root}/qwen3-serve/status` },
    options: { ...VLLM_HYBRID, ...options },
  });
  return Object.fromEntries(run.results.map((r) => [r.name, r]));
}

const statuses = (rs: Record<string, CheckResult>): Record<string, string> =>
  Object.fromEntries(Object.entries(rs).map(([k, v]) => [k, v.status]));
const ALL_PASS = {
  models: "pass",
  thinking: "pass",
  "thinking off": "pass",
  streaming: "pass",
  "tool call": "pass",
  "key required": "pass",
};

/** Every request carried this key, except exactly the listed keyless ones. */
function assertKeyOnEvery(f: FakeServer, keyless: string[]): void {
  assert.ok(f.requests.length > 0);
  assert.deepEqual(
    f.requests.filter((r) => r.authorization === undefined).map((r) => `${r.method} ${r.path}`),
    keyless,
  );
  for (const r of f.requests.filter((x) => x.authorization !== undefined))
    assert.equal(r.authorization, `Bearer ${KEY}`, `${r.method} ${r.path}`);
}

const chatBodies = (f: FakeServer): Record<string, unknown>[] =>
  f.requests.filter((r) => r.path === "/v1/chat/completions").map((r) => r.body ?? {});
const userText = (body: Record<string, unknown>): string => {
  const msgs = body.messages as { role: string; content: string }[];
  return msgs.find((m) => m.role === "user")?.content ?? "";
};

describe("the pass/fail decision", () => {
  const r = (status: CheckResult["status"]): CheckResult => ({ name: "x", status, ms: 5, detail: "" });

  it("exits 0 when every check passes, 1 when any fails, and skips fail nothing", () => {
    assert.equal(exitCodeFor([r("pass"), r("pass")]), 0);
    assert.equal(exitCodeFor([r("pass"), r("fail"), r("pass")]), 1);
    assert.equal(exitCodeFor([r("pass"), r("skip"), r("skip")]), 0);
    assert.equal(exitCodeFor([r("skip"), r("fail")]), 1);
  });

  it("does not call it working when nothing ran", () => {
    assert.equal(exitCodeFor([]), 1);
    assert.equal(exitCodeFor([r("skip")]), 1);
  });

  it("prints one line per check with its duration, and the verdict", () => {
    assert.equal(
      formatCheckLine({ name: "streaming", status: "pass", ms: 1234, detail: "TTFT 52 ms" }),
      "PASS  streaming        1.2 s  TTFT 52 ms",
    );
    assert.equal(
      formatCheckLine({ name: "tool call", status: "skip", ms: 0, detail: "--no-tools given" }),
      "SKIP  tool call               --no-tools given",
    );
    assert.equal(
      formatCheckSummary([r("pass"), r("fail"), r("skip")]),
      "1 passed, 1 failed, 1 skipped: the endpoint does NOT work as expected",
    );
  });
});

describe("flags", () => {
  const tty: SmokeContext = { stdinIsTTY: true };
  const parse = (flags: RawSmokeFlags, ctx: SmokeContext = tty): SmokeOptions => parseSmokeOptions(flags, ctx);
  const base: RawSmokeFlags = { url: "http://127.0.0.1:8080/v1/", "api-key": KEY };

  it("has the documented defaults", () => {
    const o = parse(base);
    assert.equal(o.url, "http://127.0.0.1:8080/v1");
    assert.deepEqual(
      {
        mode: o.mode,
        source: o.source,
        engine: o.engine,
        thinkingMode: o.thinkingMode,
        tools: o.tools,
        streams: o.streams,
        durationSeconds: o.durationSeconds,
        maxTokens: o.maxTokens,
        maxRequests: o.maxRequests,
      },
      {
        mode: "checks",
        source: { kind: "flags" },
        engine: "vllm",
        thinkingMode: "hybrid",
        tools: true,
        streams: 4,
        durationSeconds: 30,
        maxTokens: 128,
        maxRequests: 1000,
      },
    );
  });

  it("names the flag, the bad value and the valid choices", () => {
    assert.throws(
      () => parse({ ...base, engine: "tgi" }),
      new UserError({
        key: "--engine",
        value: "tgi",
        problem: "not a known choice.",
        hint: "Pick one of the choices below.",
        choices: ["vllm", "sglang", "ollama"],
      }),
    );
    assert.throws(
      () => parse({ ...base, "thinking-mode": "auto" }),
      /^UserError: --thinking-mode = "auto": not a known choice\.\n.*\nValid choices: hybrid, thinking, instruct$/s,
    );
    assert.throws(
      () => parse({ ...base, bench: true, streams: "65" }),
      /--streams = "65": out of range\.\nGive a whole number from 1 to 64/,
    );
    assert.throws(() => parse({ ...base, bench: true, streams: "2.5" }), /--streams = "2.5": not a whole number/);
    assert.throws(() => parse({ ...base, bench: true, duration: "601" }), /--duration = "601": out of range/);
    assert.throws(() => parse({ ...base, bench: true, duration: "0" }), /--duration = "0": out of range/);
    assert.throws(
      () => parse({ ...base, url: "http://127.0.0.1:8080" }),
      /--url = "http:\/\/127\.0\.0\.1:8080": does not end in \/v1/,
    );
    assert.throws(() => parse({ ...base, url: "ftp://h/v1" }), /--url = "ftp:\/\/h\/v1": not an http or https URL/);
  });

  it("refuses benchmark flags without --bench and --bench with --since-up", () => {
    assert.throws(() => parse({ ...base, streams: "2" }), /--streams = "2": only applies with --bench/);
    assert.throws(
      () => parse({ ...base, bench: true, "since-up": true }),
      /--since-up .* cannot be combined with --bench/,
    );
  });

  it("takes the endpoint from flags, a pipe, a file or a stack", () => {
    assert.throws(() => parse({}), /--url = "": no endpoint given/);
    assert.throws(() => parse({ url: "http://h/v1" }), /--api-key = "": missing/);
    assert.equal(parse({ url: "http://h/v1" }, { stdinIsTTY: true, envApiKey: "from-env" }).apiKey, "from-env");
    assert.deepEqual(parse({}, { stdinIsTTY: false }).source, { kind: "outputs", from: "-" });
    assert.deepEqual(parse({ outputs: "out.json" }).source, { kind: "outputs", from: "out.json" });
    assert.deepEqual(parse({ stack: "dev", model: "other" }).source, { kind: "stack", stack: "dev" });
    assert.throws(() => parse({ stack: "dev", outputs: "-" }), /cannot be combined with --stack/);
  });

  it("reads stack outputs and lets flags override them", () => {
    const outs = parseStackOutputs(
      {
        endpoint: "http://203.0.113.7:8080/v1",
        apiKey: KEY,
        modelName: "qwen3:8b-q4_K_M",
        statusUrl: "http://203.0.113.7:8080/qwen3-serve/status",
        plan: {},
      },
      "stdin",
    );
    const fromStack = resolveTarget(parse({}, { stdinIsTTY: false }), outs);
    assert.deepEqual(fromStack, {
      baseUrl: "http://203.0.113.7:8080/v1",
      apiKey: KEY,
      model: "qwen3:8b-q4_K_M",
      statusUrl: "http://203.0.113.7:8080/qwen3-serve/status",
    });
    const overridden = resolveTarget(parse({ url: "http://127.0.0.1:8080/v1", model: "Qwen3-8B", outputs: "-" }), outs);
    assert.deepEqual(overridden, {
      baseUrl: "http://127.0.0.1:8080/v1",
      apiKey: KEY,
      model: "Qwen3-8B",
      statusUrl: "http://127.0.0.1:8080/qwen3-serve/status",
    });
    assert.throws(
      () => parseStackOutputs({ endpoint: "http://h/v1", apiKey: "[secret]" }, "stdin"),
      /apiKey is hidden\.\nAdd --show-secrets/,
    );
    assert.throws(
      () => parseStackOutputs({ apiKey: KEY }, "stdin"),
      /stdin = "endpoint": the stack outputs lack the endpoint/,
    );
  });

  it("takes the engine and thinking mode from the stack's plan unless flags set them", () => {
    const outs = parseStackOutputs(
      {
        endpoint: "http://203.0.113.7:8080/v1",
        apiKey: KEY,
        plan: { engine: "ollama", model: { thinking: "instruct" } },
      },
      "stdin",
    );
    const fromPlan = withPlanDefaults(parse({}, { stdinIsTTY: false }), outs);
    assert.deepEqual([fromPlan.engine, fromPlan.thinkingMode], ["ollama", "instruct"]);
    const flagged = withPlanDefaults(parse({ outputs: "-", engine: "sglang", "thinking-mode": "thinking" }), outs);
    assert.deepEqual([flagged.engine, flagged.thinkingMode], ["sglang", "thinking"]);
    // A plan of another shape is ignored rather than trusted.
    const odd = parseStackOutputs({ endpoint: "http://h/v1", apiKey: KEY, plan: { engine: "tgi" } }, "stdin");
    assert.deepEqual([withPlanDefaults(parse({}, { stdinIsTTY: false }), odd).engine], ["vllm"]);
  });

  it("turns thinking off the way each engine understands", () => {
    assert.deepEqual(thinkingSwitch("vllm", "hybrid", false), {
      extraBody: { chat_template_kwargs: { enable_thinking: false } },
      userSuffix: " /no_think",
    });
    assert.deepEqual(thinkingSwitch("sglang", "instruct", false), {
      extraBody: { chat_template_kwargs: { enable_thinking: false } },
      userSuffix: "",
    });
    assert.deepEqual(thinkingSwitch("ollama", "hybrid", false), {
      extraBody: { reasoning_effort: "none" },
      userSuffix: " /no_think",
    });
    assert.deepEqual(thinkingSwitch("vllm", "hybrid", true), {
      extraBody: { chat_template_kwargs: { enable_thinking: true } },
      userSuffix: "",
    });
    assert.deepEqual(thinkingSwitch("ollama", "hybrid", true), { extraBody: {}, userSuffix: "" });
    assert.deepEqual(thinkingSwitch("vllm", "thinking", true), { extraBody: {}, userSuffix: "" });
  });

  it("skips only what the declared model or --no-tools rules out", () => {
    const ids = ["models", "thinking", "thinking-off", "streaming", "tool-call", "no-key"] as const;
    const skipped = (o: Parameters<typeof skipReason>[1]): string[] => ids.filter((id) => skipReason(id, o) !== null);
    assert.deepEqual(skipped({ thinkingMode: "hybrid", tools: true }), []);
    assert.deepEqual(skipped({ thinkingMode: "thinking", tools: true }), ["thinking-off"]);
    assert.deepEqual(skipped({ thinkingMode: "instruct", tools: false }), ["thinking", "tool-call"]);
  });
});

describe("cold start", () => {
  it("breaks the status document's coldStart into boot, driver, engine, weights, load, first token", () => {
    const c = coldStartBreakdown(readyStatusDoc());
    assert.equal(c.kind, "ok");
    if (c.kind !== "ok") return;
    assert.equal(c.totalSeconds, 1000);
    assert.deepEqual(
      c.rows.map((r) => [r.label, r.seconds]),
      [
        ["boot", 40],
        ["driver", 4],
        ["engine", 112],
        ["weights", 540],
        ["load", 295],
        ["first token", 5],
        ["other", 4],
      ],
    );
    const text = formatColdStart(c);
    assert.match(text, /^ {2}weights +9m 00s +54%/m);
    assert.match(text, /^ {2}total +16m 40s +100% +2026-11-29T10:00:00Z to 2026-11-29T10:16:40Z$/m);
  });

  it("shows a skipped phase's state", () => {
    const doc = readyStatusDoc() as { coldStart: { phases: Record<string, Record<string, unknown>> } };
    doc.coldStart.phases.weights = { seconds: 0.2, state: "skipped" };
    const c = coldStartBreakdown(doc);
    assert.ok(c.kind === "ok");
    assert.deepEqual(
      c.rows.find((r) => r.label === "weights"),
      { label: "weights", seconds: 0.2, note: "skipped" },
    );
  });

  it("says why there is no breakdown yet", () => {
    assert.deepEqual(
      coldStartBreakdown({ state: "running", phase: "weights", progress: { percent: 43, detail: "12.1/28.0GB" } }),
      {
        kind: "missing",
        message:
          "no cold start yet: the machine is running in phase weights (43%, 12.1/28.0GB) and has not reached ready; try again later",
      },
    );
    assert.deepEqual(
      coldStartBreakdown({ state: "failed", error: { phase: "driver", reason: "no working NVIDIA driver" } }),
      {
        kind: "missing",
        message: "no cold start: the bootstrap failed in phase driver: no working NVIDIA driver",
      },
    );
    assert.equal(coldStartBreakdown("<html>").kind, "missing");
  });

  it("reads the status document through the proxy with the key, and names a refused key", async () => {
    const f = await fake({ statusDoc: readyStatusDoc() });
    assert.deepEqual(await fetchStatus(`${f.root}/qwen3-serve/status`, KEY, 5), readyStatusDoc());
    await assert.rejects(
      fetchStatus(`${f.root}/qwen3-serve/status`, "wrong-key", 5),
      new SourceError(`${f.root}/qwen3-serve/status refused the API key (HTTP 401)`),
    );
    assert.deepEqual(
      f.requests.map((r) => r.authorization),
      [`Bearer ${KEY}`, "Bearer wrong-key"],
    );
  });
});

describe("checks against the fake server", () => {
  it("all pass on a well-behaved vLLM-like server, with the key on every request but the keyless probe", async () => {
    const f = await fake({ tokenDelayMs: 20 });
    const rs = await check(f);
    assert.deepEqual(statuses(rs), ALL_PASS);
    assert.equal(exitCodeFor(Object.values(rs)), 0);
    assert.match(rs.thinking?.detail ?? "", /^reasoning in "reasoning" \(\d+ chars\), answer "42"$/);
    // The first streamed chunk comes after one 20 ms delay: TTFT is measured, not invented.
    const ttft = Number(/TTFT (\d+) ms/.exec(rs.streaming?.detail ?? "")?.[1]);
    assert.ok(ttft >= 15 && ttft < 2000, `TTFT ${ttft}`);
    // Thinking off: 4 answer chunks and the closing chunk, each sent 20 ms after the last.
    assert.ok((rs.streaming?.ms ?? 0) >= 95, `the stream took ${rs.streaming?.ms} ms for 5 chunks 20 ms apart`);
    assert.match(
      rs["tool call"]?.detail ?? "",
      /get_weather\(\{"city":"Paris"\}\), then "It is 18 °C and sunny in Paris\."/,
    );
    assert.equal(rs["key required"]?.detail, "HTTP 401 without a key");
    assertKeyOnEvery(f, ["GET /v1/models"]);

    const [thinkOn, thinkOff, streamed, toolFirst, toolSecond] = chatBodies(f);
    assert.deepEqual(thinkOn?.chat_template_kwargs, { enable_thinking: true });
    assert.deepEqual(thinkOff?.chat_template_kwargs, { enable_thinking: false });
    assert.match(userText(thinkOff ?? {}), / \/no_think$/);
    assert.equal(streamed?.stream, true);
    assert.deepEqual(streamed?.stream_options, { include_usage: true });
    assert.ok(Array.isArray(toolFirst?.tools));
    assert.deepEqual(
      ((toolSecond?.messages ?? []) as { role: string }[]).map((m) => m.role),
      ["user", "assistant", "tool"],
    );
  });

  it("accepts reasoning in reasoning_content (SGLang, older vLLM)", async () => {
    const rs = await check(await fake({ reasoningField: "reasoning_content" }), { engine: "sglang" });
    assert.deepEqual(statuses(rs), ALL_PASS);
    assert.match(rs.thinking?.detail ?? "", /^reasoning in "reasoning_content"/);
  });

  it("fails thinking when no reasoning comes back, and says so when it is inline <think>", async () => {
    const none = await check(await fake({ reasoningField: "none" }));
    assert.deepEqual(statuses(none), { ...ALL_PASS, thinking: "fail" });
    assert.equal(exitCodeFor(Object.values(none)), 1);
    assert.match(none.thinking?.detail ?? "", /no reasoning in the reply/);
    const inline = await check(await fake({ reasoningField: "inline" }));
    assert.equal(inline.thinking?.status, "fail");
    assert.match(inline.thinking?.detail ?? "", /inside the answer as <think>.*reasoning parser/);
  });

  it("fails thinking off when the server ignores the switches", async () => {
    const rs = await check(await fake({ offSwitches: [] }));
    assert.deepEqual(statuses(rs), { ...ALL_PASS, "thinking off": "fail" });
    assert.match(
      rs["thinking off"]?.detail ?? "",
      /^reasoning came back \(\d+ chars in "reasoning"\) with thinking off \(sent \{"chat_template_kwargs":\{"enable_thinking":false\}\} and "\/no_think"\)$/,
    );
  });

  it("sends Ollama reasoning_effort none, which an Ollama-like server obeys and vLLM's switch does not reach", async () => {
    // Instruct mode drops the /no_think soft switch, so only the engine switch is under test.
    const ollamaLike = { offSwitches: ["effort" as const] };
    const right = await fake(ollamaLike);
    const rs = await check(right, { engine: "ollama", thinkingMode: "instruct" });
    assert.equal(rs["thinking off"]?.status, "pass");
    const offBody = chatBodies(right)[0];
    assert.equal(offBody?.reasoning_effort, "none");
    assert.equal(offBody?.chat_template_kwargs, undefined);
    assert.equal(userText(offBody ?? {}).includes("/no_think"), false);
    const wrong = await check(await fake(ollamaLike), { engine: "vllm", thinkingMode: "instruct" });
    assert.equal(wrong["thinking off"]?.status, "fail");
  });

  it("skips, with the reason, what the declared model cannot do, and still exits 0", async () => {
    const thinkingOnly = await check(await fake({ offSwitches: [] }), { thinkingMode: "thinking" });
    assert.deepEqual(statuses(thinkingOnly), { ...ALL_PASS, "thinking off": "skip" });
    assert.match(thinkingOnly["thinking off"]?.detail ?? "", /thinking-only model/);
    assert.equal(exitCodeFor(Object.values(thinkingOnly)), 0);
    const instruct = await check(await fake({ reasoningField: "none" }), { thinkingMode: "instruct", tools: false });
    assert.deepEqual(statuses(instruct), { ...ALL_PASS, thinking: "skip", "tool call": "skip" });
    assert.equal(exitCodeFor(Object.values(instruct)), 0);
  });

  it("fails the tool call when the server does not make one", async () => {
    const rs = await check(await fake({ tools: false }));
    assert.deepEqual(statuses(rs), { ...ALL_PASS, "tool call": "fail" });
    assert.match(rs["tool call"]?.detail ?? "", /^no get_weather call \(finish_reason stop\)/);
  });

  it("fails the key check on an endpoint open to anyone", async () => {
    const rs = await check(await fake({ keylessStatus: 200 }));
    assert.deepEqual(statuses(rs), { ...ALL_PASS, "key required": "fail" });
    assert.match(rs["key required"]?.detail ?? "", /HTTP 200 without a key: the endpoint is open/);
  });

  it("reports a server error on the check it hit and carries on", async () => {
    const rs = await check(await fake({ failNextChats: 1 }));
    assert.deepEqual(statuses(rs), { ...ALL_PASS, thinking: "fail" });
    assert.equal(rs.thinking?.detail, "HTTP 500: injected failure");
  });

  it("fails everything but the keyless probe with a wrong key", async () => {
    const rs = await check(await fake(), {}, "Qwen3-8B", "sk-wrong-key");
    assert.deepEqual(statuses(rs), {
      models: "fail",
      thinking: "fail",
      "thinking off": "fail",
      streaming: "fail",
      "tool call": "fail",
      "key required": "pass",
    });
    assert.match(rs.models?.detail ?? "", /^HTTP 401/);
  });

  it("a stream that stalls mid-way fails the streaming check within --timeout 1, and the other checks still pass", {
    timeout: 20_000,
  }, async () => {
    const f = await fake({ stallAfterChunks: 2 });
    const t0 = performance.now();
    const rs = await check(f, { timeoutSeconds: 1 });
    const took = performance.now() - t0;
    assert.deepEqual(statuses(rs), { ...ALL_PASS, streaming: "fail" });
    assert.equal(
      rs.streaming?.detail,
      "timed out: no complete stream within 1 s (--timeout), 2 chunks with text before it stalled",
    );
    assert.ok(
      (rs.streaming?.ms ?? 0) >= 950 && (rs.streaming?.ms ?? 0) < 3000,
      `the streaming check took ${rs.streaming?.ms} ms`,
    );
    assert.ok(took < 6000, `all checks took ${took} ms`);
  });

  it("after /v1/models fails with no --model, the checks that need a model are skipped naming that failure, not run", async () => {
    const rs = await check(await fake(), {}, null, "sk-wrong-key");
    assert.deepEqual(statuses(rs), {
      models: "fail",
      thinking: "skip",
      "thinking off": "skip",
      streaming: "skip",
      "tool call": "skip",
      "key required": "pass",
    });
    assert.equal(rs.models?.detail, "HTTP 401: invalid API key");
    for (const name of ["thinking", "thinking off", "streaming", "tool call"]) {
      assert.equal(
        rs[name]?.detail,
        "not run: /v1/models failed (HTTP 401: invalid API key) and --model was not given",
        name,
      );
    }
    assert.equal(exitCodeFor(Object.values(rs)), 1);
  });

  it("when /v1/models lists no model and no --model is given, the model checks are skipped saying so", async () => {
    const f = await fake({ models: [] });
    const rs = await check(f, {}, null);
    assert.deepEqual(statuses(rs), {
      models: "fail",
      thinking: "skip",
      "thinking off": "skip",
      streaming: "skip",
      "tool call": "skip",
      "key required": "pass",
    });
    assert.equal(rs.thinking?.detail, "not run: /v1/models lists no model and --model was not given");
    assert.equal(f.chats(), 0);
  });

  it("checks the model the user named, or the first one listed", async () => {
    const f = await fake({ models: ["qwen3:8b-q4_K_M", "other"] });
    const named = await check(f, {}, "Qwen3-8B");
    assert.equal(named.models?.detail, "Qwen3-8B is not listed; served: qwen3:8b-q4_K_M, other");
    const first = await check(f, {}, null);
    assert.deepEqual(statuses(first), ALL_PASS);
    assert.equal(first.models?.detail, "serves qwen3:8b-q4_K_M, other; checking qwen3:8b-q4_K_M");
  });
});

describe("benchmark bounds", () => {
  const bench = (
    f: FakeServer,
    b: { streams: number; durationSeconds: number; maxRequests: number; maxTokens?: number },
  ) => runBench({ client: makeClient(f.baseUrl, KEY, 10), model: "Qwen3-8B", maxTokens: 128, ...b });

  it("never has more than N streams open, and uses all N", async () => {
    // 10 chunks x 30 ms: about 300 ms a request, so 2 streams finish several each in 1 s.
    const f = await fake({ tokenDelayMs: 30, reasoningChunks: 0, answerChunks: 10 });
    const r = await bench(f, { streams: 2, durationSeconds: 1, maxRequests: 1000 });
    assert.equal(f.maxInFlight(), 2, "server-side concurrency");
    assert.equal(r.maxInFlight, 2, "client-side concurrency");
    assert.equal(f.chats(), r.samples.length, "every started request reached the server once");
    const s = summarizeBench(r.samples, r.elapsedMs);
    // At most 2 x 1000 / 300 requests fit; at least one per stream must finish.
    assert.ok(s.completed >= 2 && s.completed <= 7, `${s.completed} completed`);
    assert.equal(s.errors, 0);
    // Generous slack above the 1 s duration for a loaded machine: the 1000-request cap would take
    // about 150 s at 2 streams of 300 ms, so any bound well below that shows the duration ended it.
    assert.ok(r.elapsedMs >= 1000 && r.elapsedMs < 10_000, `${r.elapsedMs} ms`);
    assertKeyOnEvery(f, []);
  });

  it("stops at the duration, cutting off streams still open", async () => {
    // Each request would take 10 s (50 chunks, 200 ms apart); the run must end at 1 s. The bound
    // leaves a loaded machine several seconds of slack and still fails a run that waits for them.
    const f = await fake({ tokenDelayMs: 200, reasoningChunks: 0, answerChunks: 50 });
    const r = await bench(f, { streams: 2, durationSeconds: 1, maxRequests: 1000 });
    assert.ok(
      r.elapsedMs >= 950 && r.elapsedMs < 8000,
      `${r.elapsedMs} ms, where finishing the streams would take 10000`,
    );
    const s = summarizeBench(r.samples, r.elapsedMs);
    assert.deepEqual(
      { requests: s.requests, completed: s.completed, cutOff: s.cutOff, errors: s.errors },
      { requests: 2, completed: 0, cutOff: 2, errors: 0 },
    );
    assert.equal(f.chats(), 2);
    // The cut-off streams delivered up to 4 chunks each before the deadline; they count.
    assert.ok(s.outputTokens >= 2 && s.outputTokens <= 10, `${s.outputTokens} tokens`);
    assert.equal(s.tokenCount, "chunks");
  });

  it("stops at the request cap long before the duration", async () => {
    const f = await fake({ tokenDelayMs: 5, reasoningChunks: 0, answerChunks: 4 });
    const r = await bench(f, { streams: 2, durationSeconds: 10, maxRequests: 3 });
    assert.equal(f.chats(), 3);
    assert.equal(r.samples.length, 3);
    assert.equal(summarizeBench(r.samples, r.elapsedMs).completed, 3);
    assert.ok(r.elapsedMs < 5000, `${r.elapsedMs} ms, where the duration was 10 s`);
  });

  it("counts tokens from usage when the server sends it, else chunks", async () => {
    // Two tokens per chunk: usage says 8 for 4 chunks; counting chunks would say 4.
    const withUsage = await fake({ reasoningChunks: 0, answerChunks: 4, tokensPerChunk: 2 });
    const a = summarizeBench(
      (await bench(withUsage, { streams: 1, durationSeconds: 5, maxRequests: 2 })).samples,
      1000,
    );
    assert.deepEqual({ tokens: a.outputTokens, from: a.tokenCount }, { tokens: 16, from: "usage" });
    const noUsage = await fake({ reasoningChunks: 0, answerChunks: 4, tokensPerChunk: 2, usage: false });
    const b = summarizeBench((await bench(noUsage, { streams: 1, durationSeconds: 5, maxRequests: 2 })).samples, 1000);
    assert.deepEqual({ tokens: b.outputTokens, from: b.tokenCount }, { tokens: 8, from: "chunks" });
  });

  it("bounds each benchmark stream by the client timeout: a stalled stream is an error after 1 s, not held to the duration", {
    timeout: 20_000,
  }, async () => {
    const f = await fake({ stallAfterChunks: 1, reasoningChunks: 0, answerChunks: 4 });
    const r = await runBench({
      client: makeClient(f.baseUrl, KEY, 1),
      model: "Qwen3-8B",
      maxTokens: 128,
      streams: 1,
      durationSeconds: 10,
      maxRequests: 2,
    });
    const s = summarizeBench(r.samples, r.elapsedMs);
    assert.deepEqual(
      { requests: s.requests, errors: s.errors, cutOff: s.cutOff },
      { requests: 2, errors: 2, cutOff: 0 },
    );
    assert.deepEqual(s.errorKinds, [
      {
        message: "timed out: no complete stream within 1 s (--timeout), 1 chunks with text before it stalled",
        count: 2,
      },
    ]);
    assert.ok(
      r.elapsedMs >= 1900 && r.elapsedMs < 9000,
      `${r.elapsedMs} ms for two 1 s timeouts, where the duration was 10 s`,
    );
  });

  it("counts failed requests as errors with their reason", async () => {
    const f = await fake({ failNextChats: 2, reasoningChunks: 0, answerChunks: 2 });
    const r = await bench(f, { streams: 1, durationSeconds: 5, maxRequests: 5 });
    const s = summarizeBench(r.samples, r.elapsedMs);
    assert.deepEqual({ errors: s.errors, completed: s.completed }, { errors: 2, completed: 3 });
    assert.deepEqual(s.errorKinds, [{ message: "HTTP 500: injected failure", count: 2 }]);
  });
});

/** The plan `npm run plan -- --model Qwen3-8B --engine vllm` makes: bf16 on g6e.xlarge, one L40S. */
const QWEN3_8B_VLLM = buildPlan(parsePlanRequest({ model: "Qwen3-8B", engine: "vllm" }));
/** An outputs document as `pulumi stack output --json` prints it: the plan through JSON. */
const outputsWithPlan = (endpoint: string): Record<string, unknown> => ({
  endpoint,
  apiKey: KEY,
  modelName: "Qwen3-8B",
  plan: JSON.parse(JSON.stringify(QWEN3_8B_VLLM)) as unknown,
});
const two = (x: number): string => x.toFixed(2);

describe("the plan's estimate for a benchmark run", () => {
  it("for Qwen3-8B bf16 on vLLM on one L40S at 4 streams and 128 max tokens: 40.92 tokens/s per stream, 163.66 in all, TTFT 74 ms", () => {
    assert.deepEqual(
      [QWEN3_8B_VLLM.instance.type, QWEN3_8B_VLLM.quantization, QWEN3_8B_VLLM.tensorParallelSize],
      ["g6e.xlarge", "bf16", 1],
    );
    const e = benchEstimate(QWEN3_8B_VLLM, { streams: 4, maxTokens: 128 });
    assert.ok(!("missing" in e), JSON.stringify(e));
    // Sensible: L40S reads 864 GB/s and bf16 Qwen3-8B is about 16.4 GB, about 53 tokens/s at full bandwidth;
    // the plan's own figure at 32K context and one sequence is 31.4.
    assert.deepEqual(
      [two(e.tokensPerSecondPerStream), two(e.aggregateTokensPerSecond), two(e.ttftSeconds * 1000)],
      ["40.92", "163.66", "74.36"],
    );
    assert.deepEqual([e.streams, e.promptTokens, e.contextTokens], [4, 25, 89]);
    assert.equal(e.setup, "Qwen3-8B bf16 on vllm, 1 x L40S, single GPU");
    assert.equal(BENCH_PROMPT_TOKENS, 25);
  });

  it("for a described machine (2 x RTX-3090, TP 2) takes the links as PCIe Gen4, as the plan does", () => {
    const { plan } = planForMachine(
      parsePlanRequest({ model: "Qwen3-8B", engine: "vllm" }),
      { gpu: KNOWN_GPUS["RTX-3090"] ?? assert.fail("RTX-3090 not in the catalog"), count: 2 },
      { quantization: false, context: false },
    );
    assert.deepEqual([plan.instance.type, plan.tensorParallelSize], ["existing-machine", 2]);
    const e = benchEstimate(plan, { streams: 4, maxTokens: 128 });
    assert.ok(!("missing" in e), JSON.stringify(e));
    assert.deepEqual(
      [two(e.tokensPerSecondPerStream), two(e.aggregateTokensPerSecond), two(e.ttftSeconds * 1000)],
      ["75.39", "301.56", "64.01"],
    );
    assert.equal(e.setup, "Qwen3-8B bf16 on vllm, 2 x RTX-3090, PCIe Gen4 (assumed)");
  });

  it("survives the stack outputs: a plan read back through parseStackOutputs gives the same estimate", () => {
    const outs = parseStackOutputs(outputsWithPlan("http://203.0.113.7:8080/v1"), "stdin");
    const run = { streams: 2, maxTokens: 64 };
    assert.deepEqual(benchEstimate(outs.plan, run), benchEstimate(QWEN3_8B_VLLM, run));
    assert.ok(!("missing" in benchEstimate(outs.plan, run)));
  });

  it("says why there is none: no plan, an older plan without the fields, a GPU or instance type it does not know", () => {
    const run = { streams: 4, maxTokens: 128 };
    assert.deepEqual(benchEstimate(undefined, run), { missing: "the stack outputs carry no plan" });
    const older = parseStackOutputs(
      { endpoint: "http://h/v1", apiKey: KEY, plan: { engine: "sglang", model: { thinking: "instruct" } } },
      "stdin",
    );
    // The older plan still sets the engine and thinking mode.
    const o = withPlanDefaults(parseSmokeOptions({}, { stdinIsTTY: false }), older);
    assert.deepEqual([o.engine, o.thinkingMode], ["sglang", "instruct"]);
    assert.deepEqual(benchEstimate(older.plan, run), {
      missing:
        "the stack's plan lacks model.id, quantization, dtype, tensorParallelSize, gpusUsed, instance.type, " +
        "instance.gpu (deployed by an older version)",
    });
    // A malformed field is dropped on its own, not the whole plan.
    const bad = { ...QWEN3_8B_VLLM, tensorParallelSize: "one" };
    const badOuts = parseStackOutputs({ endpoint: "http://h/v1", apiKey: KEY, plan: bad }, "stdin");
    assert.equal(withPlanDefaults(parseSmokeOptions({}, { stdinIsTTY: false }), badOuts).engine, "vllm");
    assert.deepEqual(benchEstimate(badOuts.plan, run), {
      missing: "the stack's plan lacks tensorParallelSize (deployed by an older version)",
    });
    const gpu = { ...QWEN3_8B_VLLM, instance: { ...QWEN3_8B_VLLM.instance, gpu: "H900" } };
    assert.deepEqual(benchEstimate(gpu, run), { missing: "GPU H900 is not in this version's catalog" });
    const type = { ...QWEN3_8B_VLLM, instance: { ...QWEN3_8B_VLLM.instance, type: "g99.xlarge" } };
    assert.deepEqual(benchEstimate(type, run), {
      missing: "instance type g99.xlarge is not in this version's catalog",
    });
    assert.deepEqual(benchEstimate({ ...QWEN3_8B_VLLM, model: { id: "Qwen9-1B" } }, run), {
      missing: "model Qwen9-1B is not in this version's catalog",
    });
  });
});

describe("the benchmark table", () => {
  const summary: BenchSummary = {
    requests: 20,
    completed: 16,
    errors: 0,
    cutOff: 4,
    elapsedSeconds: 30,
    requestsPerSecond: 16 / 30,
    outputTokens: 4000,
    outputTokensPerSecond: 4000 / 30,
    tokenCount: "usage",
    ttftMs: { p50: 95, p95: 180 },
    streamTokensPerSecond: { p50: 36.2, p95: 39.8 },
    interTokenMs: { p50: 27, p95: 31 },
    e2eMs: { p50: 3600, p95: 3900 },
    errorKinds: [],
  };
  const settings = { model: "Qwen3-8B", streams: 4, durationSeconds: 30, maxTokens: 128, maxRequests: 1000 };
  const table = [
    "Benchmark: Qwen3-8B, 4 concurrent streams for 30 s (at most 1000 requests, 128 max tokens each)",
    "  requests             20 started: 16 completed, 0 failed, 4 cut off at the time limit",
    "  elapsed              30.0 s",
    "  requests/s           0.53",
    "  output tokens/s      133.3  (4,000 tokens, from the server's usage)",
    "  tokens/s per stream  p50 36.2  (each request's decode rate)",
    "  TTFT                 p50 95 ms, p95 180 ms",
    "  inter-token          p50 27 ms, p95 31 ms",
    "  request time         p50 3,600 ms, p95 3,900 ms",
    "  errors               0",
  ];

  it("prints the estimate and measured/estimate beside per-stream tokens/s, output tokens/s and TTFT p50", () => {
    const estimate = benchEstimate(QWEN3_8B_VLLM, { streams: 4, maxTokens: 128 });
    assert.deepEqual(formatBench(summary, settings, estimate).split("\n"), [
      ...table,
      "Against the plan (Qwen3-8B bf16 on vllm, 1 x L40S, single GPU):",
      "                       measured  estimate  measured/estimate",
      "  tokens/s per stream      36.2      40.9               0.88",
      "  output tokens/s         133.3     163.7               0.81",
      "  TTFT p50                95 ms     74 ms               1.28",
      "Estimates: the plan's throughput model for this run, 4 streams decoding at 89 tokens of context each",
      "(a 25-token prompt, estimated from the prompt and chat template, plus half of 128 max tokens); TTFT for that prompt on an idle server.",
    ]);
  });

  it("says in one line why there is no estimate, and prints only the table when none is asked for", () => {
    assert.deepEqual(formatBench(summary, settings, { missing: "the stack outputs carry no plan" }).split("\n"), [
      ...table,
      "No estimate: the stack outputs carry no plan.",
    ]);
    assert.deepEqual(formatBench(summary, settings).split("\n"), table);
  });
});

describe("scripts/smoke.ts as a child process", () => {
  interface Run {
    code: number | null;
    stdout: string;
    stderr: string;
  }
  const smoke = (args: string[], stdin = ""): Promise<Run> =>
    new Promise((resolve, reject) => {
      const env = { ...process.env };
      delete env.OPENAI_API_KEY;
      const child = spawn(process.execPath, ["--import", "tsx", "scripts/smoke.ts", ...args], {
        cwd: ROOT,
        env,
        timeout: 30_000,
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
      child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
      child.on("error", reject);
      child.on("close", (code) => resolve({ code, stdout, stderr }));
      child.stdin.end(stdin);
    });

  it("--url --api-key: every check PASS, exit 0, key never printed", async () => {
    const f = await fake({ tokenDelayMs: 5 });
    const r = await smoke(["--url", f.baseUrl, "--api-key", KEY, "--model", "Qwen3-8B"]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.stderr, "");
    const lines = r.stdout.trimEnd().split("\n");
    assert.equal(lines[0], `Smoke test of ${f.baseUrl}: model Qwen3-8B, engine vllm, thinking hybrid`);
    assert.deepEqual(
      lines.slice(1, 7).map((l) => /^(\w+) +(\S.*?) +\d+ ms/.exec(l)?.slice(1, 3)),
      [
        ["PASS", "models"],
        ["PASS", "thinking"],
        ["PASS", "thinking off"],
        ["PASS", "streaming"],
        ["PASS", "tool call"],
        ["PASS", "key required"],
      ],
    );
    assert.equal(lines[7], "6 passed, 0 failed, 0 skipped: the endpoint works");
    assert.ok(!r.stdout.includes(KEY));
    assertKeyOnEvery(f, ["GET /v1/models"]);
  });

  it("exits 1 with a FAIL line when a check fails, SKIP lines when told to skip", async () => {
    const f = await fake({ reasoningField: "none", tools: false });
    const r = await smoke(["--url", f.baseUrl, "--api-key", KEY, "--no-tools"]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /^FAIL {2}thinking +\d+ ms {2}no reasoning in the reply/m);
    assert.match(r.stdout, /^SKIP {2}tool call +--no-tools given$/m);
    assert.match(r.stdout, /^4 passed, 1 failed, 1 skipped: the endpoint does NOT work as expected$/m);
  });

  it("exits 2 on a bad flag, naming the flag, the value and the choices, with no stack trace", async () => {
    const bad = await smoke(["--url", "http://127.0.0.1:9/v1", "--api-key", KEY, "--engine", "tgi"]);
    assert.equal(bad.code, 2);
    assert.equal(bad.stdout, "");
    assert.equal(
      bad.stderr,
      'error: --engine = "tgi": not a known choice.\nPick one of the choices below.\nValid choices: vllm, sglang, ollama\n',
    );
    const unknown = await smoke(["--url", "http://127.0.0.1:9/v1", "--api-key", KEY, "--stream", "2"]);
    assert.equal(unknown.code, 2);
    assert.match(
      unknown.stderr,
      /^error: Unknown option '--stream': not a flag of this command\. Did you mean --streams\?\nValid flags: --url, /,
    );
    assert.doesNotMatch(bad.stderr + unknown.stderr, NO_STACK);
  });

  it("flag mistakes name the flag, what was wrong and the choices, with the nearest choice and no parser or validator wording", async () => {
    const url = ["--url", "http://127.0.0.1:9/v1", "--api-key", KEY];
    const cases: [string[], RegExp][] = [
      [
        [...url, "--engine", "vlm"],
        /^error: --engine = "vlm": not a known choice\.\nDid you mean vllm\? Pick one of the choices below\.\nValid choices: vllm, sglang, ollama\n$/,
      ],
      [
        [...url, "--thinking-mode", "thinkng"],
        /^error: --thinking-mode = "thinkng": not a known choice\.\nDid you mean thinking\? .*\nValid choices: hybrid, thinking, instruct\n$/,
      ],
      [[...url, "--timeout"], /^error: --timeout needs a value: --timeout <value>\.\nValid flags: /],
      [[...url, "--no-tools=1"], /^error: --no-tools takes no value: give --no-tools alone\.\n/],
      [
        [...url, "--timeout", "soon"],
        /^error: --timeout = "soon": not a number\.\nGive a number from 1 to 3600 \(default 300\)\.\n$/,
      ],
      [[...url, "extra"], /^error: unexpected argument "extra": every value follows its flag/],
    ];
    // The cases are independent child processes: run them at once.
    const runs = await Promise.all(cases.map(([args]) => smoke(args)));
    for (const [i, [args, stderr]] of cases.entries()) {
      const r = runs[i];
      assert.ok(r !== undefined);
      assert.equal(r.code, 2, args.join(" "));
      assert.match(r.stderr, stderr);
      assert.doesNotMatch(r.stderr, /Invalid (input|option)|received undefined|To specify a positional argument/);
      assert.doesNotMatch(r.stderr, NO_STACK);
    }
  });

  it("--timeout 1 ends a run against a stream that stalls: FAIL streaming naming --timeout, exit 1", {
    timeout: 30_000,
  }, async () => {
    const f = await fake({ stallAfterChunks: 1 });
    const r = await smoke(["--url", f.baseUrl, "--api-key", KEY, "--model", "Qwen3-8B", "--timeout", "1"]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      /^FAIL {2}streaming +1\.\d s {2}timed out: no complete stream within 1 s \(--timeout\), 1 chunks with text before it stalled$/m,
    );
    assert.match(r.stdout, /^5 passed, 1 failed, 0 skipped/m);
  });

  it("--json to a path that cannot be written fails first, naming --json, with no request sent and no stack trace", async () => {
    const f = await fake();
    const dir = mkdtempSync(path.join(os.tmpdir(), "smoke-json-"));
    try {
      const missing = path.join(dir, "no-such-folder", "out.json");
      const r = await smoke(["--url", f.baseUrl, "--api-key", KEY, "--json", missing]);
      assert.equal(r.code, 2, r.stdout + r.stderr);
      assert.equal(r.stdout, "");
      assert.equal(
        r.stderr,
        `error: --json = ${JSON.stringify(missing)}: cannot be written: its folder does not exist ` +
          `(ENOENT).\nGive a file in an existing folder you can write to, e.g. --json results.json.\n`,
      );
      const folder = await smoke(["--url", f.baseUrl, "--api-key", KEY, "--bench", "--json", dir]);
      assert.equal(folder.code, 2);
      assert.match(folder.stderr, /^error: --json = ".*": cannot be written: it is a folder \(EISDIR\)\./);
      assert.doesNotMatch(r.stderr + folder.stderr, NO_STACK);
      assert.equal(f.requests.length, 0, "nothing ran against the endpoint");
      // The check leaves no empty file behind where none was.
      const fresh = path.join(dir, "fresh.json");
      const ok = await smoke([
        "--url",
        "http://127.0.0.1:9/v1",
        "--api-key",
        KEY,
        "--since-up",
        "--timeout",
        "1",
        "--json",
        fresh,
      ]);
      assert.equal(ok.code, 1, ok.stdout + ok.stderr);
      assert.equal(existsSync(fresh), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("--bench prints the table, writes --json, and keeps to its streams", async () => {
    const f = await fake({ tokenDelayMs: 20, reasoningChunks: 0, answerChunks: 5 });
    const dir = mkdtempSync(path.join(os.tmpdir(), "smoke-bench-"));
    try {
      const file = path.join(dir, "bench.json");
      const r = await smoke([
        "--url",
        f.baseUrl,
        "--api-key",
        KEY,
        "--bench",
        "--streams",
        "2",
        "--duration",
        "1.5",
        "--json",
        file,
      ]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /^bench \d+ of 1\.5 s: \d+ done, \d in flight, \d+ tokens, 0 errors$/m);
      assert.match(r.stdout, /^ {2}requests +\d+ started: \d+ completed, 0 failed, \d cut off at the time limit$/m);
      assert.match(r.stdout, /^ {2}TTFT +p50 \d+ ms, p95 \d+ ms$/m);
      assert.match(r.stdout, /^ {2}output tokens\/s +\d+\.\d/m);
      assert.match(r.stdout, /^No estimate: no stack plan with --url alone; give --stack or --outputs to compare\.$/m);
      const doc = JSON.parse(readFileSync(file, "utf8")) as {
        settings: { streams: number };
        summary: { completed: number; requests: number; errors: number };
        estimate: unknown;
      };
      assert.deepEqual(doc.estimate, {
        missing: "no stack plan with --url alone; give --stack or --outputs to compare",
      });
      assert.equal(doc.settings.streams, 2);
      assert.equal(doc.summary.errors, 0);
      assert.equal(doc.summary.requests, f.chats());
      assert.ok(doc.summary.completed >= 2);
      assert.equal(f.maxInFlight(), 2);
      assertKeyOnEvery(f, []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("--bench with stack outputs piped in prints the plan's estimates beside the measured figures, and --json carries them", async () => {
    const f = await fake({ tokenDelayMs: 20, reasoningChunks: 0, answerChunks: 5 });
    const dir = mkdtempSync(path.join(os.tmpdir(), "smoke-bench-plan-"));
    try {
      const file = path.join(dir, "bench.json");
      const args = ["--bench", "--streams", "2", "--duration", "1", "--max-tokens", "64", "--json", file];
      const r = await smoke(args, JSON.stringify(outputsWithPlan(f.baseUrl)));
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const lines = r.stdout.split("\n");
      const at = lines.indexOf("Against the plan (Qwen3-8B bf16 on vllm, 1 x L40S, single GPU):");
      assert.ok(at > 0, r.stdout);
      assert.equal(lines[at + 1], "                       measured  estimate  measured/estimate");
      // Estimates pinned for 2 streams at 25 + 32 tokens of context; the measured figures are the fake's.
      assert.match(lines[at + 2] ?? "", /^ {2}tokens\/s per stream +\d+\.\d +41\.0 +\d+\.\d\d$/);
      assert.match(lines[at + 3] ?? "", /^ {2}output tokens\/s +\d+\.\d +82\.0 +\d+\.\d\d$/);
      assert.match(lines[at + 4] ?? "", /^ {2}TTFT p50 +\d+ ms +74 ms +\d+\.\d\d$/);
      assert.equal(
        lines[at + 5],
        "Estimates: the plan's throughput model for this run, 2 streams decoding at 57 tokens of context each",
      );
      const doc = JSON.parse(readFileSync(file, "utf8")) as { estimate: Record<string, unknown> };
      assert.deepEqual(
        [doc.estimate.tokensPerSecondPerStream, doc.estimate.aggregateTokensPerSecond, doc.estimate.ttftSeconds],
        [41.008, 82.017, 0.074],
      );
      // A --url over the outputs may be another server, so the stack's plan is not held against it.
      const other = await smoke(
        ["--bench", "--outputs", "-", "--url", f.baseUrl, "--streams", "1", "--duration", "0.5", "--max-requests", "1"],
        JSON.stringify(outputsWithPlan("http://203.0.113.7:8080/v1")),
      );
      assert.equal(other.code, 0, other.stdout + other.stderr);
      assert.match(
        other.stdout,
        /^No estimate: --url overrides the stack's endpoint, so its plan may not describe it\.$/m,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("--since-up with stack outputs piped in prints the cold-start table; a machine not ready yet exits 1", async () => {
    const f = await fake({ statusDoc: readyStatusDoc() });
    const outputs = JSON.stringify({
      endpoint: f.baseUrl,
      apiKey: KEY,
      modelName: "Qwen3-8B",
      statusUrl: `${f.root}/qwen3-serve/status`,
    });
    const r = await smoke(["--since-up"], outputs);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    for (const row of ["boot", "driver", "engine", "weights", "load", "first token", "total"])
      assert.match(r.stdout, new RegExp(`^ {2}${row} +\\S`, "m"));
    assert.match(r.stdout, /^ {2}engine +1m 52s +11% +runtime 2\.0 s \+ image 1m 50s$/m);
    f.settings.statusDoc = { state: "running", phase: "weights", progress: { percent: 43, detail: "12.1/28.0GB" } };
    const early = await smoke(["--since-up", "--outputs", "-"], outputs);
    assert.equal(early.code, 1);
    assert.match(early.stdout, /no cold start yet: the machine is running in phase weights \(43%, 12\.1\/28\.0GB\)/);
    assertKeyOnEvery(f, []);
  });

  it("says what is wrong with piped outputs that lack the key", async () => {
    const r = await smoke([], JSON.stringify({ endpoint: "http://127.0.0.1:9/v1", apiKey: "[secret]" }));
    assert.equal(r.code, 2);
    assert.equal(
      r.stderr,
      'error: stdin = "[secret]": apiKey is hidden.\nAdd --show-secrets: `pulumi stack output --json --show-secrets`.\n',
    );
  });
});

describe("a fleet waking from zero (503 until a replica is ready)", () => {
  /** A clock that only the waiter's sleeps move, and the sleeps it asked for. */
  const fakeTime = (): { now: () => number; sleep: (ms: number) => Promise<void>; sleeps: number[] } => {
    let t = 0;
    const sleeps: number[] = [];
    return {
      now: () => t,
      sleep: async (ms) => {
        sleeps.push(ms);
        t += ms;
      },
      sleeps,
    };
  };
  const wake = (f: FakeServer, over: Partial<WakeInput> = {}) => {
    const time = fakeTime();
    const lines: string[] = [];
    const run = waitForWake({
      baseUrl: f.baseUrl,
      apiKey: KEY,
      fleet: false,
      timeoutMs: 600_000,
      requestTimeoutMs: 5000,
      log: (l) => lines.push(l),
      now: time.now,
      sleep: time.sleep,
      ...over,
    });
    return { run, lines, sleeps: time.sleeps };
  };

  it("waits through the ALB's 503 page every 15 s, printing each phase, then says it is awake after 45 s", async () => {
    const f = await fake({ wakingRequests: 3 });
    const w = wake(f);
    assert.deepEqual(await w.run, { waitedSeconds: 45, polls: 4 });
    assert.deepEqual(w.lines, [
      "waking: the load balancer has no ready replica yet (503), 0 s so far; retrying in 15 s",
      "waking: the load balancer has no ready replica yet (503), 15 s so far; retrying in 15 s",
      "waking: the load balancer has no ready replica yet (503), 30 s so far; retrying in 15 s",
      `awake: ${f.baseUrl}/models answered after 45 s of waking`,
    ]);
    assert.deepEqual(w.sleeps, [15_000, 15_000, 15_000]);
    assert.deepEqual(
      f.requests.map((r) => `${r.method} ${r.path} ${r.authorization === `Bearer ${KEY}` ? "keyed" : "no key"}`),
      Array(4).fill("GET /v1/models keyed"),
    );
  });

  it("honours Retry-After on a JSON 503, and prints minutes past 60 s", async () => {
    const f = await fake({ wakingRequests: 2, wakingStyle: "json", wakingRetryAfter: 70 });
    const w = wake(f);
    assert.deepEqual(await w.run, { waitedSeconds: 140, polls: 3 });
    assert.deepEqual(w.sleeps, [70_000, 70_000]);
    assert.deepEqual(w.lines, [
      "waking: the load balancer has no ready replica yet (503), 0 s so far; retrying in 1 min 10 s (Retry-After)",
      "waking: the load balancer has no ready replica yet (503), 1 min 10 s so far; retrying in 1 min 10 s (Retry-After)",
      `awake: ${f.baseUrl}/models answered after 2 min 20 s of waking`,
    ]);
  });

  it("stops at --wake-timeout: the last sleep is cut to the deadline, then a WakeTimeoutError naming the flag", async () => {
    const f = await fake({ wakingRequests: 1000 });
    const w = wake(f, { timeoutMs: 40_000 });
    await assert.rejects(w.run, (e: unknown) => {
      assert.ok(e instanceof WakeTimeoutError);
      assert.match(
        e.message,
        /^the fleet did not wake within 40 s \(--wake-timeout\): http:\/\/127\.0\.0\.1:\d+\/v1\/models still answers 503/,
      );
      return true;
    });
    assert.deepEqual(w.sleeps, [15_000, 15_000, 10_000]);
    assert.equal(f.requests.length, 4);
  });

  it("a plain 503 (no ALB page, no Retry-After) is waking only on a stack whose outputs say fleet", async () => {
    const plain = await fake({ wakingRequests: 1, wakingStyle: "json" });
    assert.deepEqual(await wake(plain).run, { waitedSeconds: 0, polls: 1 });
    const fleet = await fake({ wakingRequests: 1, wakingStyle: "json" });
    assert.deepEqual(await wake(fleet, { fleet: true }).run, { waitedSeconds: 15, polls: 2 });
  });

  it("an endpoint that answers at once is not waited for and prints nothing", async () => {
    const w = wake(await fake());
    assert.deepEqual(await w.run, { waitedSeconds: 0, polls: 1 });
    assert.deepEqual([w.lines, w.sleeps], [[], []]);
  });

  it("--wake-timeout is validated; its default is the plan's readiness estimate, else 20 minutes; replicas mark a fleet", () => {
    const ctx: SmokeContext = { stdinIsTTY: false };
    assert.equal(parseSmokeOptions({ "wake-timeout": "90" }, ctx).wakeTimeoutSeconds, 90);
    assert.throws(
      () => parseSmokeOptions({ "wake-timeout": "-1" }, ctx),
      (e: unknown) => e instanceof UserError && e.message.includes("--wake-timeout"),
    );
    const base = { endpoint: "http://203.0.113.7/v1", apiKey: KEY };
    const planned = parseStackOutputs(
      {
        ...base,
        replicas: { min: 0, max: 4, desired: 0 },
        plan: {
          engine: "vllm",
          model: { thinking: "hybrid", id: "Qwen/Qwen3-8B" },
          disk: { engineGiB: 10 },
          serve: { weights: { expectedBytes: 16e9 } },
        },
      },
      "stdin",
    );
    // 600 boot + 900 driver + 215 image (10 GiB at 50 MB/s) + 320 weights (16 GB at 50 MB/s) + 680 load.
    assert.equal(wakeTimeoutSeconds({}, planned), 2715);
    assert.equal(wakeTimeoutSeconds({ wakeTimeoutSeconds: 30 }, planned), 30);
    assert.equal(wakeTimeoutSeconds({}, parseStackOutputs(base, "stdin")), 1200);
    assert.equal(wakeTimeoutSeconds({}, null), 1200);
    assert.equal(isFleet({}, planned), true);
    assert.equal(isFleet({ url: "http://203.0.113.9/v1" }, planned), false);
    assert.equal(isFleet({}, parseStackOutputs(base, "stdin")), false);
  });

  const fleetOutputs = (f: FakeServer): string =>
    JSON.stringify({
      endpoint: f.baseUrl,
      apiKey: KEY,
      modelName: "Qwen3-8B",
      replicas: { min: 0, max: 4, desired: 0 },
      autoScalingGroupName: "qwen3-serve-qwen3-serve-team-server",
    });
  const run = (args: string[], stdin: string): Promise<{ code: number | null; stdout: string; stderr: string }> =>
    new Promise((resolve, reject) => {
      const env = { ...process.env };
      delete env.OPENAI_API_KEY;
      const child = spawn(process.execPath, ["--import", "tsx", "scripts/smoke.ts", ...args], { cwd: ROOT, env });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
      child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
      child.on("error", reject);
      child.on("close", (code) => resolve({ code, stdout, stderr }));
      child.stdin.end(stdin);
    });

  it("the CLI waits for a waking fleet (Retry-After 1), then runs every check, and --json records the wake", async () => {
    const f = await fake({ wakingRequests: 2, wakingRetryAfter: 1 });
    const dir = mkdtempSync(path.join(os.tmpdir(), "smoke-wake-"));
    try {
      const file = path.join(dir, "wake.json");
      const r = await run(["--json", file], fleetOutputs(f));
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const lines = r.stdout.split("\n");
      assert.equal(
        lines[0],
        "waking: the load balancer has no ready replica yet (503), 0 s so far; retrying in 1 s (Retry-After)",
      );
      assert.match(
        lines[1] ?? "",
        /^waking: the load balancer has no ready replica yet \(503\), 1 s so far; retrying in 1 s \(Retry-After\)$/,
      );
      assert.match(lines[2] ?? "", /^awake: http:\/\/127\.0\.0\.1:\d+\/v1\/models answered after 2 s of waking$/);
      assert.match(r.stdout, /^6 passed, 0 failed, 0 skipped: the endpoint works$/m);
      const doc = JSON.parse(readFileSync(file, "utf8")) as { wake: { waitedSeconds: number; polls: number } };
      assert.equal(doc.wake.polls, 3);
      assert.ok(doc.wake.waitedSeconds >= 2 && doc.wake.waitedSeconds < 5, String(doc.wake.waitedSeconds));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the CLI exits 1 with the reason when the fleet does not wake within --wake-timeout, running no check", async () => {
    const f = await fake({ wakingRequests: 1000 });
    const r = await run(["--wake-timeout", "1"], fleetOutputs(f));
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /^error: the fleet did not wake within 1 s \(--wake-timeout\): /);
    assert.doesNotMatch(r.stderr, NO_STACK);
    assert.doesNotMatch(r.stdout, /PASS|FAIL/);
    assert.equal(f.chats(), 0);
  });
});

describe("cold start against the plan's estimate (--since-up)", () => {
  const estimate = {
    phases: [
      { name: "boot", seconds: 60, basis: "b" },
      { name: "driver", seconds: 0, basis: "b" },
      { name: "image", seconds: 126.4, basis: "b" },
      { name: "weights", seconds: 498.8, basis: "b" },
      { name: "load", seconds: 75.5, basis: "b" },
      { name: "compile", seconds: 60, basis: "b" },
      { name: "first token", seconds: 0.1, basis: "b" },
    ],
    totalSeconds: 820.8,
    mirrorTotalSeconds: 371.9,
  };

  it("prints each measured phase beside its estimate with measured / estimate; load is compared with load + compile", () => {
    const c = coldStartBreakdown(readyStatusDoc());
    assert.ok(c.kind === "ok");
    assert.equal(
      formatColdStartVsEstimate(c, estimate),
      [
        "Measured against the plan's estimate (load includes compile):",
        "  phase        measured  estimate  ratio",
        "  boot             40 s    1m 00s  x0.67",
        "  driver          4.0 s     0.0 s  -",
        "  engine         1m 52s    2m 06s  x0.89",
        "  weights        9m 00s    8m 19s  x1.08",
        "  load           4m 55s    2m 16s  x2.18",
        "  first token     5.0 s     0.1 s  x50.00",
        "  total         16m 40s   13m 41s  x1.22",
      ].join("\n"),
    );
  });

  it("says in one line that a plan without an estimate has nothing to compare", () => {
    const c = coldStartBreakdown(readyStatusDoc());
    assert.ok(c.kind === "ok");
    assert.equal(
      formatColdStartVsEstimate(c, undefined),
      "The stack's plan carries no cold-start estimate (deployed before plans had one).",
    );
  });

  it("reads the estimate from the stack's plan output, and none from an older plan", () => {
    const base = { endpoint: "https://x/v1", apiKey: "k" };
    const plan = { engine: "vllm", model: { thinking: "hybrid" } };
    assert.deepEqual(
      parseStackOutputs({ ...base, plan: { ...plan, coldStart: estimate } }, "--outputs").plan?.coldStart,
      estimate,
    );
    assert.equal(parseStackOutputs({ ...base, plan }, "--outputs").plan?.coldStart, undefined);
    assert.equal(
      parseStackOutputs({ ...base, plan: { ...plan, coldStart: { phases: "x" } } }, "--outputs").plan?.coldStart,
      undefined,
    );
  });
});
