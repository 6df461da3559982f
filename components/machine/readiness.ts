/**
 * Waiting for a new machine: poll the bootstrap's status document through the proxy, report each
 * phase and download progress, and finish with a real one-token chat completion. Used by every
 * target's readiness step (scripts/wait-ready.ts). A fleet's load balancer answering 503 (no ready
 * replica yet) is shown as waking, and its Retry-After honoured. Network I/O only; the clock and fetch are
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

/**
 * A 503 that means "no replica is ready yet, come back": a fleet at zero or waking. The Application
 * Load Balancer answers 503 with its own small HTML page ("503 Service Temporarily Unavailable",
 * `Server: awselb/2.0`) while its target group has no healthy target
 * (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-troubleshooting.html,
 * "HTTP 503: Service unavailable", read 2026-11-30); a fleet may instead answer JSON with a
 * `Retry-After` header (RFC 9110 section 10.2.3: delay-seconds or an HTTP-date).
 */
export interface Waking {
  /** The 503 is the load balancer's own page. */
  readonly loadBalancer: boolean;
  /** The wait the answer asks for, ms (Retry-After); null when it names none. */
  readonly retryAfterMs: number | null;
}

/** Shortest wait between polls, whatever Retry-After says: a 0 must not turn the waiter into a flood. */
export const MIN_RETRY_MS = 1000;

/** Retry-After as ms from `wallNow` (epoch ms): delay-seconds or an HTTP-date; null when absent or unreadable. */
export function parseRetryAfter(value: string | null, wallNow: number): number | null {
  if (value === null || value.trim() === "") return null;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Math.max(MIN_RETRY_MS, Number(v) * 1000);
  const at = Date.parse(v);
  return Number.isFinite(at) ? Math.max(MIN_RETRY_MS, at - wallNow) : null;
}

/** The load balancer's own 503 page, by its Server header or its title. */
function isLoadBalancerPage(res: Response, body: string): boolean {
  return /^awselb\//i.test(res.headers.get("server") ?? "") || body.includes("503 Service Temporarily Unavailable");
}

/** Read a 503 answer (its body is consumed): the waking it describes, or null for any other answer. */
export async function readWaking(res: Response, wallNow: number): Promise<Waking | null> {
  if (res.status !== 503) return null;
  const body = await res.text().catch(() => "");
  const retryAfterMs = parseRetryAfter(res.headers.get("retry-after"), wallNow);
  const loadBalancer = isLoadBalancerPage(res, body);
  return loadBalancer || retryAfterMs !== null ? { loadBalancer, retryAfterMs } : null;
}

/** A wait for a human: 45 s, 2 min 10 s, 20 min. */
export function formatWait(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const rest = s % 60;
  return `${Math.floor(s / 60)} min${rest === 0 ? "" : ` ${rest} s`}`;
}

/** The phase line while a fleet wakes: what answered, how long so far, when the next try is. */
export function wakePhase(w: Waking, elapsedMs: number, nextMs: number): string {
  const why = w.retryAfterMs !== null ? " (Retry-After)" : "";
  return `waking: the load balancer has no ready replica yet (503), ${formatWait(elapsedMs)} so far; retrying in ${formatWait(nextMs)}${why}`;
}

/** The next poll's delay: Retry-After when given, else the usual interval, never past the deadline. */
export function nextPollMs(w: Waking | null, pollMs: number, remainingMs: number): number {
  return Math.max(0, Math.min(w?.retryAfterMs ?? pollMs, remainingMs));
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
    let waking: Waking | null = null;
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
      } else waking = await readWaking(res, Date.now());
    } catch (e) {
      if (e instanceof NotReadyError) throw e;
      // Booting, installing, or the proxy not up yet: keep waiting.
    }
    if (waking !== null) {
      // A fleet at zero or waking: the load balancer has no healthy replica to send this to yet.
      const next = nextPollMs(waking, pollMs, o.timeoutMs - (now() - start));
      lastSeen = "waking (the load balancer had no ready replica, 503)";
      say(wakePhase(waking, now() - start, next));
      await sleep(next);
      continue;
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
