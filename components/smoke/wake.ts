/**
 * Waiting for a fleet to wake before the smoke checks or the benchmark: a fleet at zero replicas
 * answers a keyed request with 503 (the load balancer's own page, or JSON with Retry-After) while
 * an alarm starts one replica. The waiter polls GET /v1/models with the key, printing each phase,
 * until something other than that 503 answers, or the wait runs out. Network I/O only; fetch, the
 * clock and sleep are injectable so tests walk it through on loopback without real minutes.
 */
import { formatWait, nextPollMs, readWaking, wakePhase, type Waking } from "../machine/readiness";

/** Seconds to wait for a fleet to wake when the stack's plan gives no estimate. */
export const DEFAULT_WAKE_TIMEOUT_SECONDS = 20 * 60;
/** Seconds between polls while waking, when the answer names no Retry-After. */
export const WAKE_POLL_SECONDS = 15;

/** What {@link waitForWake} needs. */
export interface WakeInput {
  /** OpenAI base URL ending in /v1. */
  readonly baseUrl: string;
  readonly apiKey: string;
  /** The stack outputs say this endpoint is a fleet, so any 503 on it means waking. */
  readonly fleet: boolean;
  /** Give up after this long, ms; 0 never waits. */
  readonly timeoutMs: number;
  /** Between polls, ms, when no Retry-After is given. */
  readonly pollMs?: number;
  /** Each request's own limit, ms. */
  readonly requestTimeoutMs: number;
  /** Where phase lines go. */
  readonly log: (line: string) => void;
  readonly fetchImpl?: typeof fetch;
  /** Monotonic ms, for elapsed time. */
  readonly now?: () => number;
  /** Wall-clock epoch ms, for a Retry-After given as a date. */
  readonly wallNow?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** How the wait went: nothing to wait for (waitedSeconds 0, polls 1), or a fleet that woke. */
export interface WakeResult {
  /** Seconds from the first poll to the first answer that was not a waking 503. */
  readonly waitedSeconds: number;
  /** GET /v1/models requests sent. */
  readonly polls: number;
}

/** The fleet did not wake within the limit. */
export class WakeTimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WakeTimeoutError";
  }
}

/** One keyed GET /v1/models: the waking it describes, or null when the endpoint answered anything else (or nothing). */
async function probe(i: WakeInput, fetchImpl: typeof fetch, wallNow: number): Promise<Waking | null> {
  let res: Response;
  try {
    res = await fetchImpl(`${i.baseUrl}/models`, {
      headers: { Authorization: `Bearer ${i.apiKey}` },
      signal: AbortSignal.timeout(i.requestTimeoutMs),
    });
  } catch {
    // No answer at all is not waking: the checks report it in their own words.
    return null;
  }
  if (res.status !== 503) {
    await res.body?.cancel();
    return null;
  }
  // On a fleet any 503 is the empty target group; elsewhere only the load balancer's page or Retry-After says so.
  return (await readWaking(res, wallNow)) ?? (i.fleet ? { loadBalancer: false, retryAfterMs: null } : null);
}

/**
 * Poll until the endpoint stops answering a waking 503. Returns at once when the first answer is
 * anything else; throws {@link WakeTimeoutError} when the fleet has not woken within the limit.
 */
export async function waitForWake(i: WakeInput): Promise<WakeResult> {
  const fetchImpl = i.fetchImpl ?? fetch;
  const now = i.now ?? (() => performance.now());
  const wallNow = i.wallNow ?? Date.now;
  const sleep = i.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const pollMs = i.pollMs ?? WAKE_POLL_SECONDS * 1000;
  const start = now();
  let polls = 0;
  for (;;) {
    const waking = await probe(i, fetchImpl, wallNow());
    polls += 1;
    const elapsed = now() - start;
    if (waking === null) {
      if (polls > 1) i.log(`awake: ${i.baseUrl}/models answered after ${formatWait(elapsed)} of waking`);
      return { waitedSeconds: polls > 1 ? elapsed / 1000 : 0, polls };
    }
    const remaining = i.timeoutMs - elapsed;
    if (remaining <= 0) {
      throw new WakeTimeoutError(
        `the fleet did not wake within ${formatWait(i.timeoutMs)} (--wake-timeout): ${i.baseUrl}/models still answers 503 ` +
          "(no ready replica behind the load balancer). A replica may be failing its health check or lacking capacity: " +
          "look at the Auto Scaling group's activity, or run again with a longer --wake-timeout.",
      );
    }
    const next = nextPollMs(waking, pollMs, remaining);
    i.log(wakePhase(waking, elapsed, next));
    await sleep(next);
  }
}
