/**
 * The smoke checks against a live OpenAI-compatible endpoint: the model is listed, thinking comes
 * back separately from the answer and can be turned off, streaming works (time to first token),
 * a tool call makes the round trip, and a request without the key is refused. Every model call
 * goes through the official openai SDK; only the keyless probe uses plain fetch, because the SDK
 * always sends the key.
 */
import type {
  ChatCompletionCreateParamsNonStreaming,
  ChatCompletionMessageParam,
  ChatCompletionTool,
} from "openai/resources/chat/completions";
import {
  skipReason,
  thinkingSwitch,
  type CheckId,
  type SmokeOptions,
  type SmokeTarget,
  type ThinkingSwitch,
} from "./options";
import type { CheckResult } from "./report";
import { describeError, inlineThinking, makeClient, reasoningOf, StreamMeter } from "./chat";

/** Names as the report prints them. */
export const CHECK_NAMES: Readonly<Record<CheckId, string>> = {
  models: "models",
  thinking: "thinking",
  "thinking-off": "thinking off",
  streaming: "streaming",
  "tool-call": "tool call",
  "no-key": "key required",
};

/** Checks that ask no model, so they run when none could be found. */
const MODEL_FREE: ReadonlySet<CheckId> = new Set<CheckId>(["models", "no-key"]);

/** What {@link runChecks} needs. */
export interface ChecksInput {
  readonly target: SmokeTarget;
  readonly options: Pick<SmokeOptions, "engine" | "thinkingMode" | "tools" | "timeoutSeconds">;
  /** Called as each check starts, for a progress indicator. */
  readonly onStart?: (name: string) => void;
  /** Called with each result as soon as it is known. */
  readonly onResult?: (r: CheckResult) => void;
  readonly fetchImpl?: typeof fetch;
  readonly now?: () => number;
}

/** All check results, and the model they ran against. */
export interface ChecksRun {
  /** The model checked: --model, the stack's, or the first listed; null if none could be found. */
  readonly model: string | null;
  readonly results: readonly CheckResult[];
}

// A question with a short, checkable answer, so thinking ends quickly even on a small model.
const QUESTION = "What is 17 + 25? Reply with the number only.";
// Room for Qwen3 to finish thinking about the question above and still answer.
const THINKING_BUDGET = 2048;
const ANSWER_BUDGET = 256;

const WEATHER_TOOL: ChatCompletionTool = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Current weather for a city.",
    parameters: {
      type: "object",
      properties: { city: { type: "string", description: "City name, e.g. Paris" } },
      required: ["city"],
    },
  },
};

/** A short quote of model text for a report line. */
export const excerpt = (s: string, n = 60): string => {
  const flat = s.replace(/\s+/g, " ").trim();
  return JSON.stringify(flat.length > n ? `${flat.slice(0, n - 1)}…` : flat);
};

interface Verdict {
  readonly status: "pass" | "fail";
  readonly detail: string;
}
const pass = (detail: string): Verdict => ({ status: "pass", detail });
const fail = (detail: string): Verdict => ({ status: "fail", detail });

/** A non-streaming request with the thinking switch applied; extra fields ride along in the body. */
function chatParams(
  model: string,
  messages: ChatCompletionMessageParam[],
  sw: ThinkingSwitch,
  maxTokens: number,
): ChatCompletionCreateParamsNonStreaming {
  return { model, messages, max_tokens: maxTokens, ...sw.extraBody };
}

/** Run every check in order; a failing check does not stop the others. */
export async function runChecks(input: ChecksInput): Promise<ChecksRun> {
  const { target, options } = input;
  const now = input.now ?? (() => performance.now());
  const fetchImpl = input.fetchImpl ?? fetch;
  const client = makeClient(target.baseUrl, target.apiKey, options.timeoutSeconds);
  const results: CheckResult[] = [];
  let model = target.model;

  const record = (r: CheckResult): void => {
    results.push(r);
    input.onResult?.(r);
  };
  // Why there is no model to ask, once /v1/models has failed or listed none and --model was not given.
  let noModel: string | null = null;
  const run = async (id: CheckId, body: () => Promise<Verdict>): Promise<void> => {
    const name = CHECK_NAMES[id];
    const skip = skipReason(id, options) ?? (MODEL_FREE.has(id) ? null : noModel);
    if (skip !== null) return record({ name, status: "skip", ms: 0, detail: skip });
    input.onStart?.(name);
    const t0 = now();
    let v: Verdict;
    try {
      v = await body();
    } catch (e) {
      v = fail(describeError(e));
    }
    record({ name, status: v.status, ms: now() - t0, detail: v.detail });
  };
  const needModel = (): string => {
    // Unreachable: run() skips every check that needs a model when there is none.
    if (model === null) throw new Error("no model to ask");
    return model;
  };

  await run("models", async () => {
    const page = await client.models.list();
    const ids = page.data.map((m) => m.id);
    if (model === null) {
      if (ids[0] === undefined) return fail("/v1/models lists no model");
      model = ids[0];
      return pass(`serves ${ids.join(", ")}; checking ${model}`);
    }
    return ids.includes(model)
      ? pass(`${model} is served${ids.length > 1 ? ` (of ${ids.length} models)` : ""}`)
      : fail(`${model} is not listed; served: ${ids.join(", ") || "none"}`);
  });
  const listing = results[0];
  if (model === null && listing?.status === "fail") {
    noModel =
      listing.detail === "/v1/models lists no model"
        ? "not run: /v1/models lists no model and --model was not given"
        : `not run: /v1/models failed (${listing.detail}) and --model was not given`;
  }

  const thinkingOnly = options.thinkingMode === "thinking";
  const on = thinkingSwitch(options.engine, options.thinkingMode, true);
  const off = thinkingSwitch(options.engine, options.thinkingMode, false);
  // Requests that need no thinking run with it off, when the model can, to keep them fast.
  const quick = thinkingOnly ? on : off;
  const quickBudget = thinkingOnly ? THINKING_BUDGET : ANSWER_BUDGET;

  await run("thinking", async () => {
    const r = await client.chat.completions.create(
      chatParams(needModel(), [{ role: "user", content: QUESTION + on.userSuffix }], on, THINKING_BUDGET),
    );
    const choice = r.choices[0];
    if (choice === undefined) return fail("the reply has no choices");
    const content = choice.message.content ?? "";
    const reasoning = reasoningOf(choice.message);
    if (reasoning === null) {
      return fail(
        inlineThinking(content)
          ? "the reasoning came inside the answer as <think>...</think>: the server runs without a reasoning parser (vLLM/SGLang: --reasoning-parser qwen3)"
          : `no reasoning in the reply (neither "reasoning" nor "reasoning_content"); answer ${excerpt(content)}`,
      );
    }
    if (content.trim() === "")
      return fail(
        `reasoning (${reasoning.text.length} chars) but no answer after it (finish_reason ${choice.finish_reason}; ${THINKING_BUDGET} tokens allowed)`,
      );
    if (inlineThinking(content))
      return fail(`reasoning in "${reasoning.field}" but the answer holds <think> too: ${excerpt(content)}`);
    return pass(`reasoning in "${reasoning.field}" (${reasoning.text.length} chars), answer ${excerpt(content)}`);
  });

  await run("thinking-off", async () => {
    const r = await client.chat.completions.create(
      chatParams(needModel(), [{ role: "user", content: QUESTION + off.userSuffix }], off, ANSWER_BUDGET),
    );
    const choice = r.choices[0];
    if (choice === undefined) return fail("the reply has no choices");
    const content = choice.message.content ?? "";
    const reasoning = reasoningOf(choice.message);
    const how = `${JSON.stringify(off.extraBody)}${off.userSuffix === "" ? "" : ' and "/no_think"'}`;
    if (reasoning !== null)
      return fail(
        `reasoning came back (${reasoning.text.length} chars in "${reasoning.field}") with thinking off (sent ${how})`,
      );
    if (inlineThinking(content)) return fail(`the answer holds <think> reasoning with thinking off (sent ${how})`);
    if (content.trim() === "") return fail(`no answer (finish_reason ${choice.finish_reason})`);
    return pass(`no reasoning (sent ${how}), answer ${excerpt(content)}`);
  });

  await run("streaming", async () => {
    const meter = await new StreamMeter(now).run(client, {
      ...chatParams(needModel(), [{ role: "user", content: QUESTION + quick.userSuffix }], quick, quickBudget),
      stream: true,
      stream_options: { include_usage: true },
    });
    if (meter.tokenChunks === 0)
      return fail(`the stream carried no tokens (finish_reason ${meter.finishReason ?? "none"})`);
    if (meter.finishReason === null)
      return fail(`the stream ended without a finish_reason after ${meter.tokenChunks} chunks`);
    const ttft = Math.round((meter.firstTokenMs ?? meter.startMs) - meter.startMs);
    const tokens =
      meter.usageTokens === null
        ? `${meter.tokenChunks} chunks`
        : `${meter.usageTokens} tokens in ${meter.tokenChunks} chunks`;
    return pass(`TTFT ${ttft} ms, ${tokens}, answer ${excerpt(meter.content || meter.reasoning)}`);
  });

  await run("tool-call", async () => {
    const m = needModel();
    const messages: ChatCompletionMessageParam[] = [
      { role: "user", content: `What is the weather in Paris right now? Use the get_weather tool.${quick.userSuffix}` },
    ];
    const first = await client.chat.completions.create({
      ...chatParams(m, messages, quick, quickBudget),
      tools: [WEATHER_TOOL],
      tool_choice: "auto",
    });
    const msg = first.choices[0]?.message;
    const call = msg?.tool_calls?.find((c) => c.type === "function" && c.function.name === "get_weather");
    if (msg === undefined || call === undefined || call.type !== "function") {
      const text = msg?.content ?? "";
      return fail(
        /<tool_call>/.test(text)
          ? "the tool call came back as text: the server runs without a tool-call parser (vLLM: --enable-auto-tool-choice --tool-call-parser hermes)"
          : `no get_weather call (finish_reason ${first.choices[0]?.finish_reason ?? "none"}); answer ${excerpt(text)}`,
      );
    }
    let args: unknown;
    try {
      args = JSON.parse(call.function.arguments);
    } catch {
      return fail(`get_weather arguments are not JSON: ${excerpt(call.function.arguments)}`);
    }
    const city =
      typeof args === "object" && args !== null && "city" in args && typeof args.city === "string"
        ? args.city
        : "Paris";
    const result = JSON.stringify({ city, temperature_c: 18, condition: "sunny" });
    const second = await client.chat.completions.create({
      ...chatParams(
        m,
        [
          ...messages,
          { role: "assistant", content: msg.content ?? null, tool_calls: [call] },
          { role: "tool", tool_call_id: call.id, content: result },
        ],
        quick,
        quickBudget,
      ),
      tools: [WEATHER_TOOL],
    });
    const answer = second.choices[0]?.message;
    if (answer?.tool_calls !== undefined && answer.tool_calls.length > 0)
      return fail("the model called a tool again instead of answering from the result");
    const text = answer?.content ?? "";
    if (text.trim() === "")
      return fail(`no answer after the tool result (finish_reason ${second.choices[0]?.finish_reason ?? "none"})`);
    return pass(`get_weather(${call.function.arguments.replace(/\s+/g, "")}), then ${excerpt(text)}`);
  });

  await run("no-key", async () => {
    // Plain fetch: the SDK always sends the key, and this request must go without one.
    const res = await fetchImpl(`${target.baseUrl}/models`, {
      signal: AbortSignal.timeout(options.timeoutSeconds * 1000),
    });
    await res.body?.cancel();
    if (res.status === 401 || res.status === 403) return pass(`HTTP ${res.status} without a key`);
    return fail(
      `HTTP ${res.status} without a key: ${res.ok ? "the endpoint is open to anyone who can reach it" : "expected 401 or 403"}`,
    );
  });

  return { model, results };
}
