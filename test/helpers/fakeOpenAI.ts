/**
 * A loopback OpenAI-compatible server for the smoke and benchmark tests, standing in for vLLM,
 * SGLang or Ollama behind the qwen3-serve proxy. Its behaviour is set per test through `settings`
 * (mutable while it runs): streaming delays, a stream that stalls mid-way, which reasoning field it uses (or none, or inline
 * <think>), which thinking-off switches it obeys, whether it demands the key, tool calls, injected
 * 500s, and the bootstrap status document. It records every request (method, path, Authorization
 * header, body) and the most chat requests it had open at once.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

/** The switches a real server may honour to turn thinking off. */
export type OffSwitch = "kwargs" | "effort" | "no_think";

/** How the fake behaves; every field can be changed between (or during) requests. */
export interface FakeSettings {
  key: string;
  models: string[];
  /** Where reasoning goes: vLLM >= 0.10/Ollama style, SGLang style, nowhere, or inside content (no reasoning parser). */
  reasoningField: "reasoning" | "reasoning_content" | "none" | "inline";
  /** The thinking-off switches it obeys: chat_template_kwargs (vLLM/SGLang), reasoning_effort "none" (Ollama), /no_think. */
  offSwitches: OffSwitch[];
  /** Answer a get_weather tool offer with a tool call, then answer from the tool's result. */
  tools: boolean;
  /** Delay before each streamed chunk, ms. */
  tokenDelayMs: number;
  /** Reasoning chunks streamed when thinking. */
  reasoningChunks: number;
  /** Content chunks per streamed answer (capped with the reasoning by max_tokens, counted in tokens). */
  answerChunks: number;
  /** Tokens each streamed chunk stands for, as a server that batches tokens into chunks. */
  tokensPerChunk: number;
  /** Send a usage chunk when the client asks for it. */
  usage: boolean;
  /** Stop a stream after this many text chunks and hold the connection open, as a wedged engine does; null never stalls. */
  stallAfterChunks: number | null;
  /** Fail this many of the next chat requests with HTTP 500. */
  failNextChats: number;
  /** Status for a request with no Authorization header at all (401 like the proxy; 200 for an open server). */
  keylessStatus: number;
  /** The document at /qwen3-serve/status; null answers 404. */
  statusDoc: unknown;
  /** Answer this many of the next keyed requests with 503, as a load balancer in front of a fleet at zero does. */
  wakingRequests: number;
  /** The 503's form: the ALB's own HTML page (Server: awselb/2.0), or a JSON body. */
  wakingStyle: "alb" | "json";
  /** The Retry-After header on each 503, seconds; null sends none. */
  wakingRetryAfter: number | null;
}

/** One request as the server saw it. */
export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly authorization: string | undefined;
  readonly body: Record<string, unknown> | null;
}

/** A running fake. */
export interface FakeServer {
  /** http://127.0.0.1:PORT (the proxy's root). */
  readonly root: string;
  /** The OpenAI base URL: root + /v1. */
  readonly baseUrl: string;
  readonly settings: FakeSettings;
  readonly requests: RecordedRequest[];
  /** Chat requests received so far. */
  chats(): number;
  /** The most chat requests open at the same time. */
  maxInFlight(): number;
  close(): Promise<void>;
}

/** Defaults: a well-behaved vLLM-like server with a fast stream. */
export function defaultSettings(key: string): FakeSettings {
  return {
    key,
    models: ["Qwen3-8B"],
    reasoningField: "reasoning",
    offSwitches: ["kwargs", "effort", "no_think"],
    tools: true,
    tokenDelayMs: 1,
    reasoningChunks: 3,
    answerChunks: 4,
    tokensPerChunk: 1,
    usage: true,
    stallAfterChunks: null,
    failNextChats: 0,
    keylessStatus: 401,
    statusDoc: null,
    wakingRequests: 0,
    wakingStyle: "alb",
    wakingRetryAfter: null,
  };
}

/**
 * The ALB's 503 while its target group has no healthy target: its fixed HTML page and Server header
 * (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-troubleshooting.html, read 2026-11-30).
 * Keyless requests never get here: the fleet's listener rule answers 401 at the edge first.
 */
function sendWaking(res: http.ServerResponse, s: FakeSettings): void {
  const retry = s.wakingRetryAfter === null ? {} : { "Retry-After": String(s.wakingRetryAfter) };
  if (s.wakingStyle === "json") {
    res
      .writeHead(503, { "Content-Type": "application/json", ...retry })
      .end(JSON.stringify({ error: { message: "the fleet is waking a replica; retry shortly", type: "unavailable" } }));
    return;
  }
  const page =
    "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n" +
    "<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n</body>\r\n</html>\r\n";
  res.writeHead(503, { "Content-Type": "text/html", Server: "awselb/2.0", ...retry }).end(page);
}

type Json = Record<string, unknown>;
const isRecord = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

function lastMessage(body: Json): Json {
  const msgs = Array.isArray(body.messages) ? body.messages : [];
  const last: unknown = msgs[msgs.length - 1];
  return isRecord(last) ? last : {};
}

function thinkingOff(body: Json, s: FakeSettings): boolean {
  const kwargs = isRecord(body.chat_template_kwargs) ? body.chat_template_kwargs : {};
  const text = typeof lastMessage(body).content === "string" ? String(lastMessage(body).content) : "";
  return (
    (s.offSwitches.includes("kwargs") && kwargs.enable_thinking === false) ||
    (s.offSwitches.includes("effort") && body.reasoning_effort === "none") ||
    (s.offSwitches.includes("no_think") && /\/no_think\s*$/.test(text))
  );
}

const send = (res: http.ServerResponse, status: number, doc: unknown): void => {
  res.writeHead(status, { "Content-Type": "application/json" }).end(JSON.stringify(doc));
};

/** Start a fake on 127.0.0.1, port chosen by the OS. */
export function startFakeOpenAI(overrides: Partial<FakeSettings> & { key: string }): Promise<FakeServer> {
  const settings: FakeSettings = { ...defaultSettings(overrides.key), ...overrides };
  const requests: RecordedRequest[] = [];
  let chats = 0;
  let inFlight = 0;
  let maxInFlight = 0;

  const chat = (body: Json, res: http.ServerResponse): void => {
    chats += 1;
    if (settings.failNextChats > 0) {
      settings.failNextChats -= 1;
      send(res, 500, { error: { message: "injected failure", type: "server_error" } });
      return;
    }
    const model = typeof body.model === "string" ? body.model : "";
    if (!settings.models.includes(model)) {
      send(res, 404, { error: { message: `The model \`${model}\` does not exist.`, type: "NotFoundError" } });
      return;
    }
    const thinks = settings.reasoningField !== "none" && !thinkingOff(body, settings);
    const last = lastMessage(body);
    const offersWeather =
      Array.isArray(body.tools) &&
      body.tools.some((t) => isRecord(t) && isRecord(t.function) && t.function.name === "get_weather");

    if (body.stream === true) {
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      let closed = false;
      let timer: NodeJS.Timeout | undefined;
      res.on("close", () => {
        closed = true;
        inFlight -= 1;
        clearTimeout(timer);
      });
      res.writeHead(200, { "Content-Type": "text/event-stream", "Cache-Control": "no-cache" });
      const base = { id: "chatcmpl-fake", object: "chat.completion.chunk", created: 0, model };
      const maxTokens = typeof body.max_tokens === "number" ? body.max_tokens : Infinity;
      const plan: Json[] = [];
      let tokens = 0;
      const add = (delta: Json): boolean => {
        if (tokens + settings.tokensPerChunk > maxTokens) return false;
        tokens += settings.tokensPerChunk;
        plan.push(delta);
        return true;
      };
      let cut = false;
      const word = "tok ".repeat(settings.tokensPerChunk);
      for (let i = 0; i < (thinks ? settings.reasoningChunks : 0) && !cut; i++) {
        cut = !add(
          settings.reasoningField === "inline"
            ? { content: i === 0 ? `<think>${word}` : word }
            : { [settings.reasoningField]: word },
        );
      }
      if (thinks && settings.reasoningField === "inline" && !cut) cut = !add({ content: "</think>" });
      for (let i = 0; i < settings.answerChunks && !cut; i++) cut = !add({ content: i === 0 ? "42 " : word });
      const wantsUsage = isRecord(body.stream_options) && body.stream_options.include_usage === true && settings.usage;
      const write = (doc: unknown): void => void res.write(`data: ${JSON.stringify(doc)}\n\n`);
      write({ ...base, choices: [{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }] });
      let i = 0;
      const next = (): void => {
        // A stall sends nothing more and never ends the response; only the client's hang-up frees it.
        if (closed || (settings.stallAfterChunks !== null && i >= settings.stallAfterChunks)) return;
        const delta = plan[i];
        if (delta !== undefined) {
          i += 1;
          write({ ...base, choices: [{ index: 0, delta, finish_reason: null }] });
          timer = setTimeout(next, settings.tokenDelayMs);
          return;
        }
        write({ ...base, choices: [{ index: 0, delta: {}, finish_reason: cut ? "length" : "stop" }] });
        if (wantsUsage)
          write({
            ...base,
            choices: [],
            usage: { prompt_tokens: 20, completion_tokens: tokens, total_tokens: 20 + tokens },
          });
        res.end("data: [DONE]\n\n");
      };
      timer = setTimeout(next, settings.tokenDelayMs);
      return;
    }

    let message: Json;
    let finish = "stop";
    if (last.role === "tool") {
      const result: unknown = JSON.parse(typeof last.content === "string" ? last.content : "{}");
      const city = isRecord(result) && typeof result.city === "string" ? result.city : "?";
      const temp = isRecord(result) ? String(result.temperature_c) : "?";
      message = { role: "assistant", content: `It is ${temp} °C and sunny in ${city}.` };
    } else if (offersWeather && settings.tools) {
      message = {
        role: "assistant",
        content: null,
        tool_calls: [
          { id: "call_fake_1", type: "function", function: { name: "get_weather", arguments: '{"city": "Paris"}' } },
        ],
      };
      finish = "tool_calls";
    } else if (offersWeather) {
      message = { role: "assistant", content: "I cannot look up the weather." };
    } else {
      const reasoning = "The user asks 17 + 25. That is 42.";
      message = !thinks
        ? { role: "assistant", content: "42" }
        : settings.reasoningField === "inline"
          ? { role: "assistant", content: `<think>${reasoning}</think>\n\n42` }
          : { role: "assistant", content: "42", [settings.reasoningField]: reasoning };
    }
    send(res, 200, {
      id: "chatcmpl-fake",
      object: "chat.completion",
      created: 0,
      model,
      choices: [{ index: 0, message, finish_reason: finish }],
      usage: { prompt_tokens: 20, completion_tokens: 12, total_tokens: 32 },
    });
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      let body: Json | null = null;
      try {
        const parsed: unknown = text === "" ? null : JSON.parse(text);
        body = isRecord(parsed) ? parsed : null;
      } catch {
        body = null;
      }
      const path = (req.url ?? "/").split("?")[0] ?? "/";
      const authorization = req.headers.authorization;
      requests.push({ method: req.method ?? "", path, authorization, body });
      if (authorization === undefined && settings.keylessStatus !== 200) {
        send(res, settings.keylessStatus, { error: { message: "missing API key", type: "auth" } });
        return;
      }
      if (authorization !== undefined && settings.wakingRequests > 0) {
        settings.wakingRequests -= 1;
        sendWaking(res, settings);
        return;
      }
      if (authorization !== undefined && authorization !== `Bearer ${settings.key}`) {
        send(res, 401, { error: { message: "invalid API key", type: "auth" } });
        return;
      }
      if (req.method === "GET" && path === "/v1/models") {
        send(res, 200, {
          object: "list",
          data: settings.models.map((id) => ({ id, object: "model", created: 0, owned_by: "fake" })),
        });
      } else if (req.method === "POST" && path === "/v1/chat/completions" && body !== null) {
        chat(body, res);
      } else if (req.method === "GET" && path === "/qwen3-serve/status" && settings.statusDoc !== null) {
        send(res, 200, settings.statusDoc);
      } else {
        send(res, 404, { error: { message: `no route for ${req.method} ${path}` } });
      }
    });
  });

  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => {
      const root = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      resolve({
        root,
        baseUrl: `${root}/v1`,
        settings,
        requests,
        chats: () => chats,
        maxInFlight: () => maxInFlight,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    }),
  );
}

/** A status document as components/machine/status.py writes it once ready, phases in seconds from boot. */
export function readyStatusDoc(): Record<string, unknown> {
  // Boot at 10:00:00, bootstrap from 10:00:40, ready at 10:16:40: total 1000 s.
  const phase = (startedAt: string, finishedAt: string, seconds: number, state = "done"): Json => ({
    startedAt,
    finishedAt,
    seconds,
    state,
  });
  const phases = {
    driver: phase("2026-11-29T10:00:40Z", "2026-11-29T10:00:44Z", 4),
    runtime: phase("2026-11-29T10:00:44Z", "2026-11-29T10:00:46Z", 2),
    secrets: phase("2026-11-29T10:00:46Z", "2026-11-29T10:00:47Z", 1),
    engine: phase("2026-11-29T10:00:47Z", "2026-11-29T10:02:37Z", 110),
    proxy: phase("2026-11-29T10:02:37Z", "2026-11-29T10:02:40Z", 3),
    weights: phase("2026-11-29T10:02:40Z", "2026-11-29T10:11:40Z", 540),
    load: phase("2026-11-29T10:11:40Z", "2026-11-29T10:16:35Z", 295),
    "first-token": phase("2026-11-29T10:16:35Z", "2026-11-29T10:16:40Z", 5),
  };
  return {
    version: 1,
    run: 1,
    state: "ready",
    phase: null,
    readyAt: "2026-11-29T10:16:40Z",
    coldStart: {
      bootAt: "2026-11-29T10:00:00Z",
      startedAt: "2026-11-29T10:00:40Z",
      readyAt: "2026-11-29T10:16:40Z",
      phases,
    },
  };
}
