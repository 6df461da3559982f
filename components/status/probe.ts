/**
 * The status view's live reads of one endpoint: an authenticated `GET <endpoint>/models` with a timeout,
 * timed, and the bootstrap status document (read by components/stacks/outputs.ts fetchStatus). The API
 * key goes only into the Authorization header: no result, error or log line carries it.
 */
import { fetchStatus } from "../stacks/outputs";
import type { ProbeResult } from "./rules";

/** Seconds a probe or a status read waits before it reports a timeout. */
export const PROBE_TIMEOUT_SECONDS = 5;

/** How a probe runs: its timeout, the fetch it uses and the clock it times with (tests pin both). */
export interface ProbeOptions {
  readonly timeoutSeconds?: number;
  readonly fetchImpl?: typeof fetch;
  /** Milliseconds from an arbitrary origin (default performance.now). */
  readonly clock?: () => number;
}

/** The error code under a failed fetch: undici puts the socket's error in `cause` (ECONNREFUSED, ENOTFOUND, ...). */
function causeOf(e: unknown): { code: string; message: string } {
  const cause: unknown = e instanceof Error && e.cause !== undefined ? e.cause : e;
  const code =
    typeof cause === "object" && cause !== null && "code" in cause && typeof cause.code === "string" ? cause.code : "";
  return { code, message: cause instanceof Error ? cause.message : String(cause) };
}

/** A failed fetch as a probe failure: timeout, refused, DNS, or the network's own words. */
export function fetchFailure(e: unknown, timeoutSeconds: number): ProbeResult {
  // AbortSignal.timeout aborts with a DOMException named TimeoutError (https://nodejs.org/api/globals.html#abortsignaltimeoutdelay, read 2026-11-30).
  if (e instanceof Error && (e.name === "TimeoutError" || e.name === "AbortError"))
    return { ok: false, kind: "timeout", detail: `${timeoutSeconds} s` };
  const { code, message } = causeOf(e);
  if (code === "ECONNREFUSED") return { ok: false, kind: "refused", detail: message };
  if (code === "ENOTFOUND" || code === "EAI_AGAIN")
    return { ok: false, kind: "dns", detail: code === "ENOTFOUND" ? "host not found" : "lookup failed, try again" };
  if (code === "UND_ERR_CONNECT_TIMEOUT") return { ok: false, kind: "timeout", detail: `${timeoutSeconds} s` };
  return { ok: false, kind: "network", detail: code === "" ? message : `${code}: ${message}` };
}

/** Whether a `/models` answer lists the model (OpenAI list shape: `{ data: [{ id }] }`). */
function listsModel(body: unknown, model: string): boolean {
  if (typeof body !== "object" || body === null || !("data" in body) || !Array.isArray(body.data)) return false;
  return body.data.some((m: unknown) => typeof m === "object" && m !== null && "id" in m && m.id === model);
}

/** GET <endpoint>/models with the key; ok with the latency and whether the model is listed, or why not. */
export async function probeEndpoint(
  endpoint: string,
  apiKey: string,
  model: string,
  opts: ProbeOptions = {},
): Promise<ProbeResult> {
  const timeoutSeconds = opts.timeoutSeconds ?? PROBE_TIMEOUT_SECONDS;
  const clock = opts.clock ?? (() => performance.now());
  const url = `${endpoint.replace(/\/+$/, "")}/models`;
  const signal = AbortSignal.timeout(timeoutSeconds * 1000);
  const started = clock();
  try {
    const res = await (opts.fetchImpl ?? fetch)(url, { headers: { Authorization: `Bearer ${apiKey}` }, signal });
    const latencyMs = clock() - started;
    if (!res.ok) {
      await res.body?.cancel();
      return { ok: false, kind: "http", status: res.status, detail: res.statusText };
    }
    let body: unknown;
    try {
      body = await res.json();
    } catch {
      body = undefined;
    }
    return { ok: true, latencyMs, modelListed: listsModel(body, model) };
  } catch (e) {
    return fetchFailure(e, timeoutSeconds);
  }
}

/** The bootstrap status document, or the reason it could not be read (fetchStatus's sentence). */
export async function readStatusDoc(
  statusUrl: string,
  apiKey: string,
  opts: Pick<ProbeOptions, "timeoutSeconds" | "fetchImpl"> = {},
): Promise<{ readonly doc: unknown } | { readonly error: string }> {
  try {
    return { doc: await fetchStatus(statusUrl, apiKey, opts.timeoutSeconds ?? PROBE_TIMEOUT_SECONDS, opts.fetchImpl) };
  } catch (e) {
    return { error: e instanceof Error ? e.message : String(e) };
  }
}
