/**
 * Waiting for a new machine: poll the bootstrap's status document through the proxy, report each
 * phase and download progress, and finish with a real one-token chat completion. Used by every
 * target's readiness step (scripts/wait-ready.ts). Network I/O only; the clock and fetch are
 * injectable so tests can walk it through phases on loopback.
 */
import { STATUS_URL_PATH } from "./render";

/** What the status document says (the parts the waiter reads). */
interface StatusView {
  state?: string;
  phase?: string | null;
  progress?: { percent?: number; detail?: string } | null;
  error?: { phase?: string; reason?: string } | null;
  coldStart?: { phases?: Record<string, { seconds?: number; state?: string }> };
}

/** Options for {@link waitForReady}. */
export interface ReadinessOptions {
  /** Proxy base URL, e.g. http://203.0.113.7:8080 (no trailing /v1). */
  readonly baseUrl: string;
  readonly apiKey: string;
  /** The model name clients send. */
  readonly model: string;
  /** Whether the machine serves the bootstrap's status document (no for the Docker target). */
  readonly hasStatus?: boolean;
  /** Give up after this long. */
  readonly timeoutMs: number;
  /** Time between polls. */
  readonly pollMs?: number;
  /** Where progress lines go. */
  readonly log: (line: string) => void;
  readonly fetchImpl?: typeof fetch;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** The outcome when the endpoint is ready. */
export interface ReadyResult {
  /** Seconds from the first poll to a successful completion. */
  readonly waitedSeconds: number;
  /** Phase timings of the machine's first successful run, when it reports them. */
  readonly coldStart: Readonly<Record<string, number>>;
}

/** Why waiting stopped without a ready endpoint. */
export class NotReadyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NotReadyError";
  }
}

/** Read /v1/models as a status: ready once the model is listed, loading before. */
function modelsAsStatus(body: unknown, model: string): StatusView {
  const data = (body as { data?: { id?: string }[] } | null)?.data ?? [];
  return data.some((m) => m.id === model) ? { state: "ready" } : { state: "running", phase: "load" };
}

const describe = (s: StatusView): string => {
  const phase = s.phase ?? s.state ?? "unknown";
  const p = s.progress;
  return p?.percent !== undefined ? `${phase} ${p.percent}%${p.detail ? ` (${p.detail})` : ""}` : phase;
};

/**
 * The machine's failure as one message. A reason may carry the engine's last log lines after its
 * first line (a crash-looping engine); they are indented so they read as quoted output in `pulumi up`.
 */
function failureMessage(error: StatusView["error"]): string {
  const [first, ...rest] = (error?.reason ?? "no reason given").split("\n");
  const quoted = rest
    .filter((l) => l.trim() !== "")
    .map((l) => `\n    ${l}`)
    .join("");
  return `the bootstrap failed in phase ${error?.phase ?? "unknown"}: ${first ?? ""}${quoted}`;
}

/** Poll until the endpoint answers a real completion, the bootstrap fails, or time runs out. */
export async function waitForReady(o: ReadinessOptions): Promise<ReadyResult> {
  const fetchImpl = o.fetchImpl ?? fetch;
  const now = o.now ?? Date.now;
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const pollMs = o.pollMs ?? 10_000;
  const start = now();
  const auth = { Authorization: `Bearer ${o.apiKey}` };
  let last = "";
  let lastSeen = "no answer yet";
  const say = (line: string): void => {
    if (line !== last) o.log(line);
    last = line;
  };

  while (now() - start < o.timeoutMs) {
    let status: StatusView | null = null;
    try {
      // Without a bootstrap (Docker), the model appearing on /v1/models stands in for "ready".
      const path = o.hasStatus === false ? "/v1/models" : STATUS_URL_PATH;
      const res = await fetchImpl(`${o.baseUrl}${path}`, { headers: auth, signal: AbortSignal.timeout(15_000) });
      if (res.status === 401)
        throw new NotReadyError(
          "the endpoint refused this stack's API key (401); the machine was configured with another key",
        );
      if (res.ok) {
        const body: unknown = await res.json();
        status = o.hasStatus === false ? modelsAsStatus(body, o.model) : (body as StatusView);
      }
    } catch (e) {
      if (e instanceof NotReadyError) throw e;
      // Booting, installing, or the proxy not up yet: keep waiting.
    }
    if (status === null) {
      say("waiting for the machine: no answer from the proxy yet (booting or installing)");
    } else if (status.state === "failed") {
      throw new NotReadyError(failureMessage(status.error ?? null));
    } else if (status.state === "ready") {
      const res = await fetchImpl(`${o.baseUrl}/v1/chat/completions`, {
        method: "POST",
        headers: { ...auth, "Content-Type": "application/json" },
        body: JSON.stringify({
          model: o.model,
          messages: [{ role: "user", content: "Reply with OK." }],
          max_tokens: 1,
        }),
        signal: AbortSignal.timeout(120_000),
      }).catch(() => null);
      if (res?.ok) {
        const body = (await res.json()) as { choices?: unknown[] };
        if (Array.isArray(body.choices) && body.choices.length > 0) {
          const phases = status.coldStart?.phases ?? {};
          const coldStart = Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, v.seconds ?? 0]));
          const waitedSeconds = Math.round((now() - start) / 1000);
          o.log(`ready: ${o.model} answered a chat completion after ${waitedSeconds}s of waiting`);
          return { waitedSeconds, coldStart };
        }
      }
      say(
        `the machine reports ready; waiting for a chat completion to succeed (last HTTP ${res?.status ?? "no answer"})`,
      );
    } else {
      lastSeen = describe(status);
      say(`bootstrap: ${status.state === "rebooting" ? "rebooting to load the NVIDIA driver" : lastSeen}`);
    }
    await sleep(pollMs);
  }
  throw new NotReadyError(`not ready after ${Math.round(o.timeoutMs / 60_000)} min; last seen: ${lastSeen}`);
}
