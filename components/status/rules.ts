/**
 * `npm run status` decisions and wording, as pure functions: one stack's deployed record (outputs, the
 * last update's config, its EC2 instance or its fleet's Auto Scaling group) and what was read live
 * (the endpoint's health, the bootstrap status document, the cost) in; the facts, the table line and
 * the JSON object out. No clock: the caller passes `now` in epoch milliseconds.
 *
 * Nothing here holds the API key: the facts carry what the key let us read, never the key.
 */
import { missingMarkers } from "../stacks/inventoryRules";
import { z } from "zod";
import { CONFIG_NAMESPACE } from "../config/schema";
import { table } from "../text/table";

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;

/** An EC2 instance as the status view needs it (the reaper's instance view fits). */
export interface InstanceView {
  /** EC2 state name: pending, running, stopping, stopped, shutting-down, terminated. */
  readonly state: string;
  /** When it last started (EC2 LaunchTime), epoch ms. */
  readonly launchedAt?: number | undefined;
  /** When it stopped, epoch ms. */
  readonly stoppedAt?: number | undefined;
}

/** A fleet's Auto Scaling group as the status view needs it (the reaper's group view fits). */
export interface GroupView {
  readonly desired: number;
  readonly min: number;
  readonly max: number;
  /** Instances in the group now, in any lifecycle state. */
  readonly instances: number;
  /** The end of its latest scaling activity, epoch ms. */
  readonly lastActivityAt?: number | undefined;
}

/**
 * One stack as the inventory reads it from its deployment. The outputs include the API key (read with
 * secrets shown) so the probe can use it; nothing derived from this record carries it on.
 */
export interface StatusInput {
  /** Stack name as the backend lists it. */
  readonly name: string;
  /** Why the outputs or the last update's config could not be read. */
  readonly readError?: string | undefined;
  /** The deployed outputs, secrets shown. */
  readonly outputs: Readonly<Record<string, unknown>>;
  /** The config of the last update, full keys, secrets left out. */
  readonly deployedConfig: Readonly<Record<string, string>>;
  /** The instance: undefined when not looked up (not an EC2 stack), null when EC2 does not know it. */
  readonly instance?: InstanceView | null | undefined;
  /** Why the instance could not be looked up. */
  readonly instanceError?: string | undefined;
  /** The fleet's group: undefined when not a fleet, null when Auto Scaling does not know it. */
  readonly group?: GroupView | null | undefined;
  /** Why the group could not be looked up. */
  readonly groupError?: string | undefined;
}

/** The endpoint's answer to an authenticated `GET <endpoint>/models`. */
export type ProbeResult =
  | { readonly ok: true; readonly latencyMs: number; readonly modelListed: boolean }
  | {
      readonly ok: false;
      /** What failed: an HTTP status, the timeout, a refused connection, a name that does not resolve, or else. */
      readonly kind: "http" | "timeout" | "refused" | "dns" | "network";
      /** The HTTP status, for kind "http". */
      readonly status?: number | undefined;
      /** The underlying words (the error's cause, or the timeout in seconds). */
      readonly detail: string;
    };

/** The bootstrap status document as the status view reads it (components/machine/status.py, idle.py). */
export type Bootstrap =
  | { readonly state: "ready" }
  | { readonly state: "loading"; readonly phase: string | undefined; readonly percent: number | undefined }
  | { readonly state: "failed"; readonly phase: string | undefined; readonly reason: string }
  | { readonly state: "unreadable"; readonly reason: string };

/** The watchdog's idle clock. */
export interface IdleClock {
  /** The last inference request (or other activity) the watchdog saw, epoch ms. */
  readonly lastRequestAt?: number | undefined;
  /** When the watchdog will stop the machine (idle window or TTL, whichever is first), epoch ms. */
  readonly stopAt?: number | undefined;
  /** The idle window in minutes; undefined when off. */
  readonly idleMinutes?: number | undefined;
  /** Where these came from: the machine's status document, or only the stack's config. */
  readonly source: "status" | "config";
}

/** Cost so far this month, from the cost module. */
export interface MonthCost {
  /** US dollars. */
  readonly usd: number;
  /** How it was counted, e.g. "estimate: EC2 running hours at the catalog price". */
  readonly basis: string;
}

/** What was read live for one stack, beside its record. */
export interface LiveReads {
  /** The health probe; undefined when not probed (why: {@link probePlan}). */
  readonly probe?: ProbeResult | undefined;
  /** The parsed status document, or why it could not be read; undefined when not read. */
  readonly statusDoc?: { readonly doc: unknown } | { readonly error: string } | undefined;
  /** Cost this month, or why there is none (e.g. the cost module is not wired). */
  readonly month?: MonthCost | { readonly unavailable: string } | undefined;
}

/** Where the machine is as the status view reports it. */
export type MachineState =
  | { readonly state: "running"; readonly startedAt?: number | undefined }
  | { readonly state: "stopped"; readonly stoppedAt?: number | undefined }
  | { readonly state: "replicas"; readonly instances: number; readonly desired: number; readonly max: number }
  | { readonly state: "zero"; readonly since?: number | undefined }
  | { readonly state: "other"; readonly name: string }
  | { readonly state: "unmanaged" }
  | { readonly state: "unknown"; readonly reason: string };

/** Everything one status line shows. */
export interface StackFacts {
  readonly name: string;
  /** Why the stack could not be read; when set, only the name and this are shown. */
  readonly problem?: string | undefined;
  readonly target: string;
  readonly model: string;
  readonly engine: string;
  /** Instance type and zone, the workstation host, or the Docker host. */
  readonly where: string;
  readonly machine: MachineState;
  readonly bootstrap?: Bootstrap | undefined;
  readonly probe?: ProbeResult | undefined;
  /** The last start (EC2 LaunchTime, else the machine's boot from the status document), epoch ms. */
  readonly startedAt?: number | undefined;
  readonly idle: IdleClock;
  readonly ttlHours?: number | undefined;
  /** The deployed expiresAt, as written. */
  readonly expiresAt?: string | undefined;
  /** What it costs per hour now: the planned price while running, 0 while stopped; undefined when unknown. */
  readonly perHour?: number | undefined;
  readonly month?: MonthCost | { readonly unavailable: string } | undefined;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);
// The config schema's rule for expiresAt, and status.py's and idle.py's "%Y-%m-%dT%H:%M:%SZ": a time with an offset.
const isoDateTime = z.iso.datetime({ offset: true });
const isoMs = (v: unknown): number | undefined =>
  typeof v === "string" && isoDateTime.safeParse(v).success ? Date.parse(v) : undefined;

const isFleet = (r: StatusInput): boolean => typeof r.outputs.autoScalingGroupName === "string";

/** The target a record deploys to: "fleet" for an AWS fleet, else the deployed target (aws when unset, as the schema defaults). */
export function targetOf(r: StatusInput): string {
  if (isFleet(r)) return "fleet";
  return r.deployedConfig[`${CONFIG_NAMESPACE}:target`] ?? "aws";
}

/** The machine's state from the instance or group lookup; workstation and Docker hosts are not ours to read. */
export function machineOf(r: StatusInput): MachineState {
  if (isFleet(r)) {
    if (r.groupError !== undefined) return { state: "unknown", reason: r.groupError };
    if (r.group === null) return { state: "unknown", reason: "Auto Scaling does not know the group" };
    if (r.group === undefined) return { state: "unknown", reason: "group not looked up" };
    const g = r.group;
    if (g.desired === 0 && g.instances === 0) return { state: "zero", since: g.lastActivityAt };
    return { state: "replicas", instances: g.instances, desired: g.desired, max: g.max };
  }
  if (targetOf(r) !== "aws") return { state: "unmanaged" };
  if (r.instanceError !== undefined) return { state: "unknown", reason: r.instanceError };
  if (r.instance === null) return { state: "unknown", reason: "EC2 does not know the instance (terminated?)" };
  if (r.instance === undefined) return { state: "unknown", reason: "instance not looked up" };
  const i = r.instance;
  if (i.state === "running") return { state: "running", startedAt: i.launchedAt };
  if (i.state === "stopped") return { state: "stopped", stoppedAt: i.stoppedAt };
  return { state: "other", name: i.state };
}

/** Whether the machine may answer: a keyed request to a fleet at zero would wake it, and a stopped box cannot answer. */
function answers(m: MachineState): boolean {
  return m.state === "running" || m.state === "replicas" || m.state === "unmanaged";
}

/** What to read live for a stack: the endpoint and key for the probe, the status URL; nothing for a stack that cannot answer. */
export function probePlan(
  r: StatusInput,
):
  | { readonly endpoint: string; readonly apiKey: string; readonly model: string; readonly statusUrl?: string }
  | undefined {
  if (r.readError !== undefined || missingMarkers(r.outputs) !== undefined || !answers(machineOf(r))) return undefined;
  const endpoint = str(r.outputs.endpoint);
  const apiKey = str(r.outputs.apiKey);
  const model = str(r.outputs.modelName);
  if (endpoint === undefined || apiKey === undefined || model === undefined) return undefined;
  const statusUrl = str(r.outputs.statusUrl);
  return { endpoint, apiKey, model, ...(statusUrl?.startsWith("http") === true ? { statusUrl } : {}) };
}

/** The bootstrap state in a status document, or why it cannot be read. */
export function bootstrapOf(doc: unknown): Bootstrap {
  if (!isRecord(doc)) return { state: "unreadable", reason: "the status document is not a JSON object" };
  if (doc.state === "ready") return { state: "ready" };
  if (doc.state === "failed") {
    const e = isRecord(doc.error) ? doc.error : {};
    return { state: "failed", phase: str(e.phase), reason: str(e.reason) ?? "no reason recorded" };
  }
  if (doc.state === "running" || doc.state === "rebooting") {
    const p = isRecord(doc.progress) ? doc.progress : {};
    return { state: "loading", phase: str(doc.phase), percent: num(p.percent) };
  }
  return { state: "unreadable", reason: `unknown bootstrap state ${JSON.stringify(doc.state ?? null)}` };
}

/** The idle clock: the watchdog's last decision in the status document, else the window in the deployed config. */
export function idleOf(r: StatusInput, doc: unknown): IdleClock {
  const idle = isRecord(doc) && isRecord(doc.idle) ? doc.idle : undefined;
  if (idle !== undefined)
    return {
      source: "status",
      lastRequestAt: isoMs(idle.lastActivityAt),
      stopAt: isoMs(idle.stopAt),
      idleMinutes: num(idle.idleMinutes),
    };
  const raw = r.deployedConfig[`${CONFIG_NAMESPACE}:idleMinutes`];
  const minutes = raw === undefined ? undefined : Number(raw);
  return { source: "config", idleMinutes: minutes !== undefined && Number.isFinite(minutes) ? minutes : undefined };
}

/** Instance type and zone, the workstation host, the Docker host, or the fleet's type and region. */
function whereOf(r: StatusInput, target: string): string {
  const o = r.outputs;
  if (target === "workstation") return str(o.publicIp) ?? str(o.instanceId) ?? "?";
  if (target === "docker") return str(o.publicIp) ?? "local";
  const place = str(o.availabilityZone) ?? str(o.awsRegion) ?? "";
  return `${str(o.instanceType) ?? "?"} ${place}`.trim();
}

/** What it costs per hour now: the planned price while running (per replica for a fleet), 0 while stopped or at zero. */
function perHourOf(r: StatusInput, m: MachineState): number | undefined {
  const price = num(r.outputs.pricePerHour);
  if (m.state === "stopped" || m.state === "zero") return 0;
  if (m.state === "replicas") return price === undefined ? undefined : price * m.instances;
  if (m.state === "running" || m.state === "unmanaged") return price;
  return undefined;
}

/** Everything the line shows, from the record and what was read live. */
export function factsFromRecord(r: StatusInput, live: LiveReads): StackFacts {
  const blank = { name: r.name, target: "", model: "", engine: "", where: "", idle: { source: "config" } } as const;
  if (r.readError !== undefined)
    return { ...blank, machine: { state: "unknown", reason: r.readError }, problem: `cannot read: ${r.readError}` };
  const missing = missingMarkers(r.outputs);
  if (missing !== undefined) {
    const problem =
      Object.keys(r.outputs).length === 0
        ? "nothing deployed (no stack outputs)"
        : `not a ${CONFIG_NAMESPACE} deployment: its outputs lack ${missing}`;
    return { ...blank, machine: { state: "unknown", reason: problem }, problem };
  }
  const plan = r.outputs.plan as { engine: string; model: { id: string } };
  const target = targetOf(r);
  const machine = machineOf(r);
  const doc = live.statusDoc !== undefined && "doc" in live.statusDoc ? live.statusDoc.doc : undefined;
  const bootstrap =
    live.statusDoc === undefined
      ? undefined
      : "error" in live.statusDoc
        ? ({ state: "unreadable", reason: live.statusDoc.error } as const)
        : bootstrapOf(doc);
  const bootAt = isRecord(doc) ? isoMs(doc.bootAt) : undefined;
  const startedAt = machine.state === "running" ? (machine.startedAt ?? bootAt) : answers(machine) ? bootAt : undefined;
  const ttl = Number(r.deployedConfig[`${CONFIG_NAMESPACE}:ttlHours`]);
  return {
    name: r.name,
    target,
    model: plan.model.id,
    engine: plan.engine,
    where: whereOf(r, target),
    machine,
    bootstrap,
    probe: live.probe,
    startedAt,
    idle: idleOf(r, doc),
    ttlHours: Number.isFinite(ttl) && ttl > 0 ? ttl : undefined,
    expiresAt: r.deployedConfig[`${CONFIG_NAMESPACE}:expiresAt`],
    perHour: perHourOf(r, machine),
    month: live.month,
  };
}

/** "0m", "12m", "5h 03m", "3d 4h": compact, floored, for a table cell. */
export function shortDuration(ms: number): string {
  const minutes = Math.floor(Math.max(ms, 0) / MINUTE_MS);
  if (minutes < 60) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h ${String(minutes % 60).padStart(2, "0")}m`;
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

const replicas = (n: number): string => `${n} replica${n === 1 ? "" : "s"}`;

/** The bootstrap part of the state: ready, loading with phase and percent, failed with the reason. */
function bootstrapText(b: Exclude<Bootstrap, { state: "unreadable" }>): string {
  if (b.state === "ready") return "ready";
  if (b.state === "failed") return `failed${b.phase === undefined ? "" : ` in ${b.phase}`}: ${b.reason}`;
  const pct = b.percent === undefined ? "" : ` ${Math.floor(b.percent)}%`;
  return `loading${b.phase === undefined ? "" : ` ${b.phase}`}${pct}`;
}

/** The STATE cell: the machine's state, and for one that runs, the bootstrap's. */
export function stateText(f: StackFacts): string {
  const m = f.machine;
  if (m.state === "unknown") return `unknown: ${m.reason}`;
  if (m.state === "stopped") return "stopped";
  if (m.state === "zero") return "at zero replicas";
  if (m.state === "other") return m.name;
  // An unreadable status document is in the JSON; the line's HEALTH cell already says why the machine did not answer.
  const boot = f.bootstrap === undefined || f.bootstrap.state === "unreadable" ? undefined : bootstrapText(f.bootstrap);
  if (m.state === "replicas") {
    const count =
      m.instances === m.desired ? replicas(m.instances) : `scaling ${m.instances} -> ${m.desired} of max ${m.max}`;
    return boot === undefined ? count : `${boot}, ${count}`;
  }
  return boot ?? "running";
}

/** The HEALTH cell: latency, or why the endpoint did not answer; "-" when not probed. */
export function healthText(p: ProbeResult | undefined, fleet: boolean): string {
  if (p === undefined) return "-";
  if (p.ok) return `ok ${Math.round(p.latencyMs)} ms${p.modelListed ? "" : ", model not listed"}`;
  if (p.kind === "http") {
    // The waker (components/fleet/waker.py) and the ALB without a healthy target both answer 503 while a fleet wakes.
    if (p.status === 503 && fleet) return "waking (HTTP 503)";
    if (p.status === 401 || p.status === 403) return `key refused (HTTP ${p.status})`;
    return `HTTP ${p.status ?? "?"}`;
  }
  if (p.kind === "timeout") return `timeout after ${p.detail}`;
  if (p.kind === "refused") return "connection refused";
  if (p.kind === "dns") return `DNS: ${p.detail}`;
  return `unreachable: ${p.detail}`;
}

/** The IDLE cell: last request and the watchdog's stop time, or the configured window. */
export function idleText(f: StackFacts, now: number): string {
  if (!answers(f.machine)) return "-";
  const i = f.idle;
  if (i.source === "config") return i.idleMinutes === undefined ? "off" : `after ${i.idleMinutes}m idle`;
  const parts = [
    ...(i.lastRequestAt === undefined ? [] : [`last ${shortDuration(now - i.lastRequestAt)} ago`]),
    ...(i.stopAt === undefined ? [] : [`stops in ${shortDuration(i.stopAt - now)}`]),
  ];
  return parts.length > 0 ? parts.join(", ") : i.idleMinutes === undefined ? "off" : `after ${i.idleMinutes}m idle`;
}

/** The TTL cell: hours, and what is left since the last start while running. */
function ttlText(f: StackFacts, now: number): string {
  if (f.ttlHours === undefined) return "-";
  const h = `${f.ttlHours}h`;
  if (!answers(f.machine) || f.startedAt === undefined) return h;
  return `${h} (${shortDuration(f.startedAt + f.ttlHours * HOUR_MS - now)} left)`;
}

/** The EXPIRES cell. */
function expiresText(raw: string | undefined, now: number): string {
  if (raw === undefined) return "-";
  const t = isoMs(raw);
  if (t === undefined) return `unreadable "${raw}"`;
  return t > now ? `in ${shortDuration(t - now)}` : `expired ${shortDuration(now - t)} ago`;
}

const dollars = (usd: number): string => `$${usd.toFixed(2)}`;

/** The column titles of the status table. */
export const STATUS_HEADER = [
  "STACK",
  "TARGET",
  "MODEL",
  "ENGINE",
  "WHERE",
  "STATE",
  "HEALTH",
  "UP",
  "IDLE",
  "TTL",
  "EXPIRES",
  "$/H",
  "MONTH",
] as const;

/** One stack's cells, in {@link STATUS_HEADER} order; an unreadable stack shows only its name and reason. */
export function statusCells(f: StackFacts, now: number): string[] {
  if (f.problem !== undefined) return [f.name, "-", "-", "-", "-", f.problem];
  const running = answers(f.machine);
  return [
    f.name,
    f.target,
    f.model,
    f.engine,
    f.where,
    stateText(f),
    healthText(f.probe, f.target === "fleet"),
    running && f.startedAt !== undefined ? shortDuration(now - f.startedAt) : "-",
    idleText(f, now),
    ttlText(f, now),
    expiresText(f.expiresAt, now),
    f.perHour === undefined ? "?" : dollars(f.perHour),
    f.month === undefined || "unavailable" in f.month ? "n/a" : `${dollars(f.month.usd)} est.`,
  ];
}

/** The table: a header and one aligned line per stack (components/text/table.ts, no indent). */
export function formatStatusTable(facts: readonly StackFacts[], now: number): string {
  return table([[...STATUS_HEADER], ...facts.map((f) => statusCells(f, now))], "").join("\n");
}

/** Formats an epoch-ms instant as ISO 8601; the caller passes the clock-free formatter (Date's), so this file reads no clock. */
export type IsoFormatter = (t: number) => string;

/** One stack under --json: the values behind the cells, times as ISO 8601, and the cells' words. */
export function statusJson(f: StackFacts, now: number, iso: IsoFormatter): Record<string, unknown> {
  const isoOrNull = (t: number | undefined): string | null => (t === undefined ? null : iso(t));
  if (f.problem !== undefined) return { stack: f.name, error: f.problem };
  const month = f.month === undefined ? { unavailable: "not computed" } : f.month;
  return {
    stack: f.name,
    target: f.target,
    model: f.model,
    engine: f.engine,
    where: f.where,
    machine: f.machine,
    state: stateText(f),
    bootstrap: f.bootstrap ?? null,
    health: f.probe === undefined ? null : { ...f.probe, text: healthText(f.probe, f.target === "fleet") },
    startedAt: isoOrNull(f.startedAt),
    uptimeSeconds: answers(f.machine) && f.startedAt !== undefined ? Math.floor((now - f.startedAt) / 1000) : null,
    idle: {
      source: f.idle.source,
      lastRequestAt: isoOrNull(f.idle.lastRequestAt),
      stopAt: isoOrNull(f.idle.stopAt),
      idleMinutes: f.idle.idleMinutes ?? null,
    },
    ttlHours: f.ttlHours ?? null,
    expiresAt: f.expiresAt ?? null,
    pricePerHourNow: f.perHour ?? null,
    monthToDate: month,
  };
}

/** The whole --json document: the time of the reading and one object per stack. */
export function statusDocument(facts: readonly StackFacts[], now: number, iso: IsoFormatter): Record<string, unknown> {
  return { now: iso(now), stacks: facts.map((f) => statusJson(f, now, iso)) };
}
