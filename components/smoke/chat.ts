/**
 * The OpenAI SDK as the smoke checks and the benchmark use it: a client bound to one endpoint and
 * key, reading Qwen3's reasoning out of replies whichever field the engine puts it in, timing a
 * streamed completion chunk by chunk, and short error descriptions.
 */
import OpenAI from "openai";
import type { ChatCompletionChunk, ChatCompletionCreateParamsStreaming } from "openai/resources/chat/completions";

/** A client for one endpoint: no retries (a check must see the first failure), a fixed timeout. */
export function makeClient(baseUrl: string, apiKey: string, timeoutSeconds: number): OpenAI {
  // Null the org/project/admin settings so OPENAI_* variables meant for api.openai.com never reach this endpoint.
  return new OpenAI({
    baseURL: baseUrl,
    apiKey,
    organization: null,
    project: null,
    adminAPIKey: null,
    maxRetries: 0,
    timeout: timeoutSeconds * 1000,
  });
}

/** Where a reply's reasoning was found. */
export interface Reasoning {
  /** vLLM >= 0.10 and Ollama say `reasoning`; SGLang and older vLLM say `reasoning_content`. */
  readonly field: "reasoning" | "reasoning_content";
  readonly text: string;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null;

/** The reasoning text in a message or a stream delta, if any (empty strings count as none). */
export function reasoningOf(m: unknown): Reasoning | null {
  if (!isRecord(m)) return null;
  for (const field of ["reasoning", "reasoning_content"] as const) {
    const v = m[field];
    if (typeof v === "string" && v.trim() !== "") return { field, text: v };
  }
  return null;
}

/** True when reasoning leaked into the answer as <think>...</think>: no reasoning parser on the server. */
export const inlineThinking = (content: string): boolean => /<think>\s*\S/.test(content);

/** A streamed request that outlived its time limit; the SDK alone bounds only the wait for headers. */
export class StreamTimeoutError extends Error {
  constructor(
    /** The limit, ms. */
    readonly timeoutMs: number,
    /** Chunks with text that arrived before it. */
    readonly tokenChunks: number,
  ) {
    super(
      `timed out: no complete stream within ${timeoutMs / 1000} s (--timeout), ${tokenChunks} chunks with text before it stalled`,
    );
    this.name = "StreamTimeoutError";
  }
}

/** A one-line description of an SDK or network error, never a stack. */
export function describeError(e: unknown): string {
  if (e instanceof StreamTimeoutError) return e.message;
  if (e instanceof OpenAI.APIConnectionTimeoutError) return "timed out";
  if (e instanceof OpenAI.APIConnectionError) {
    const cause =
      e.cause instanceof Error ? (e.cause.cause instanceof Error ? e.cause.cause.message : e.cause.message) : "";
    return `cannot connect${cause ? `: ${cause}` : ""}`;
  }
  if (e instanceof OpenAI.APIError && e.status !== undefined) {
    const first = (e.message.split("\n")[0] ?? "").replace(/^\d{3}\s*/, "").trim();
    return `HTTP ${e.status}${first ? `: ${first.slice(0, 200)}` : ""}`;
  }
  if (e instanceof Error) return (e.message.split("\n")[0] ?? e.name).slice(0, 200);
  return String(e);
}

/** What one streamed completion looked like; filled in as chunks arrive, so an aborted stream still has its part. */
export class StreamMeter {
  startMs = 0;
  endMs = 0;
  firstTokenMs: number | null = null;
  lastTokenMs: number | null = null;
  readonly gapsMs: number[] = [];
  tokenChunks = 0;
  usageTokens: number | null = null;
  content = "";
  reasoning = "";
  finishReason: string | null = null;

  constructor(private readonly now: () => number) {}

  /**
   * Stream one completion to its end, timing every chunk that carries text. The whole stream must
   * end within the client's timeout: the SDK's own timeout stops at the response headers, and it
   * ends an aborted stream quietly, so the deadline is ours and a stall becomes an error here.
   */
  async run(client: OpenAI, params: ChatCompletionCreateParamsStreaming, signal?: AbortSignal): Promise<this> {
    this.startMs = this.now();
    const deadline = AbortSignal.timeout(client.timeout);
    const both = signal === undefined ? deadline : AbortSignal.any([signal, deadline]);
    try {
      const stream = await client.chat.completions.create(params, { signal: both });
      for await (const chunk of stream) this.take(chunk);
    } catch (e) {
      if (!deadline.aborted || signal?.aborted === true) throw e;
    } finally {
      this.endMs = this.now();
    }
    // The caller's own abort (the benchmark's deadline) is not a timeout; it reads the unfinished meter.
    if (deadline.aborted && signal?.aborted !== true && this.finishReason === null)
      throw new StreamTimeoutError(client.timeout, this.tokenChunks);
    return this;
  }

  private take(chunk: ChatCompletionChunk): void {
    const t = this.now();
    if (chunk.usage !== undefined && chunk.usage !== null) this.usageTokens = chunk.usage.completion_tokens;
    const choice = chunk.choices[0];
    if (choice === undefined) return;
    if (choice.finish_reason !== null && choice.finish_reason !== undefined) this.finishReason = choice.finish_reason;
    const content = choice.delta.content ?? "";
    const reasoning = reasoningOf(choice.delta)?.text ?? "";
    if (content === "" && reasoning === "") return;
    this.content += content;
    this.reasoning += reasoning;
    this.tokenChunks += 1;
    if (this.firstTokenMs === null) this.firstTokenMs = t;
    if (this.lastTokenMs !== null) this.gapsMs.push(t - this.lastTokenMs);
    this.lastTokenMs = t;
  }
}
