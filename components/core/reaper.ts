/**
 * The reaper's decisions, as pure functions: one stack's config, outputs, last update and instance
 * state in, "destroy" or "keep" out, with the reason a person reads in the table. No clock: the
 * caller passes `now` in epoch milliseconds, so a cron dry run and the tests can pin it.
 *
 * A tool that destroys things leans towards keeping: an update in progress, a config value it
 * cannot read, an instance it cannot see or a stop time it cannot parse all keep the stack, and say
 * so.
 */
import { z } from "zod";
import { CONFIG_NAMESPACE } from "./config";
import { UserError } from "./errors";

/** How long an instance may sit stopped before the reaper destroys its stack, by default. */
export const DEFAULT_STOPPED_FOR_HOURS = 72;

const HOUR_MS = 3_600_000;
const KEY_EXPIRES_AT = `${CONFIG_NAMESPACE}:expiresAt`;
const KEY_TTL_HOURS = `${CONFIG_NAMESPACE}:ttlHours`;
/** Time the watchdog gets past the TTL (it checks every minute) before the reaper steps in. */
export const TTL_SLACK_MINUTES = 15;
const KEY_TARGET = `${CONFIG_NAMESPACE}:target`;
const KEY_AWS = `${CONFIG_NAMESPACE}:aws`;
const KEY_AWS_REGION = "aws:region";

/** An EC2 instance as the reaper sees it. */
export interface ReaperInstance {
  /** EC2 state name: pending, running, stopping, stopped, shutting-down, terminated. */
  readonly state: string;
  /** When it stopped (epoch ms), read from the state transition reason; absent when unknown. */
  readonly stoppedAt?: number;
  /** When it last started (EC2 LaunchTime, reset by every start), epoch ms; absent when unknown. */
  readonly launchedAt?: number;
}

/** Everything the reaper knows about one stack. */
export interface ReaperStackInput {
  /** Stack name as `pulumi stack ls` lists it. */
  readonly name: string;
  /** The last update's time, as the backend reports it (ISO 8601); absent for a stack never updated. */
  readonly lastUpdate?: string;
  /** An update is running now. */
  readonly updateInProgress: boolean;
  /** The stack's config, full keys (`qwen3-serve:expiresAt`, `aws:region`), values as Pulumi prints them. */
  readonly config: Readonly<Record<string, string>>;
  /** The stack outputs, plain values. */
  readonly outputs: Readonly<Record<string, unknown>>;
  /** The instance behind `instanceId`: undefined when not looked up, null when EC2 does not know it. */
  readonly instance?: ReaperInstance | null;
  /** Why the instance could not be looked up (credentials, network, region). */
  readonly instanceError?: string;
  /** Why the stack's outputs or config could not be read. */
  readonly readError?: string;
}

/** The clock and the limit, from the flags. */
export interface ReaperSettings {
  /** Now, epoch milliseconds. */
  readonly now: number;
  /** Destroy a stack whose instance has been stopped for longer than this. */
  readonly stoppedForHours: number;
}

/** Why a stack is destroyed (expired by date, running past its TTL, stopped too long), or kept. */
export type ReapKind = "expired" | "ttl" | "stopped" | "keep";

/** The verdict on one stack. */
export interface ReapDecision {
  /** What to do. */
  readonly decision: "destroy" | "keep";
  /** Why, in words for the table. */
  readonly reason: string;
  /** The rule that decided it. */
  readonly kind: ReapKind;
}

/** Where an instance lookup goes: the instance and its region (undefined: the SDK's default region). */
export interface InstanceRef {
  /** The EC2 instance id from the stack outputs. */
  readonly instanceId: string;
  /** Region from the stack config. */
  readonly region: string | undefined;
}

// The same rule the config schema applies to expiresAt: a date-time with an explicit offset, so a
// time never silently means the reaper's local zone.
const isoDateTime = z.iso.datetime({ offset: true });

/** Epoch ms of an ISO 8601 date-time with an offset (`2026-11-29T10:00:00Z`), or undefined. */
export function parseIsoTime(text: string): number | undefined {
  if (!isoDateTime.safeParse(text).success) return undefined;
  const t = Date.parse(text);
  return Number.isFinite(t) ? t : undefined;
}

/** "3 days", "5 hours", "1 minute", "less than a minute": floored, so a limit is never overstated. */
export function formatDuration(ms: number): string {
  const unit = (n: number, word: string): string => `${n} ${word}${n === 1 ? "" : "s"}`;
  const minutes = Math.floor(Math.abs(ms) / 60_000);
  if (minutes < 1) return "less than a minute";
  if (minutes < 60) return unit(minutes, "minute");
  const hours = Math.floor(minutes / 60);
  // Up to two days, hours read better than "1 day" for something that ends tonight.
  if (hours < 48) return unit(hours, "hour");
  return unit(Math.floor(hours / 24), "day");
}

/** Hours as the flag gives them: 72 -> "72 h", 1.5 -> "1.5 h". */
const hoursText = (h: number): string => `${h} h`;

/**
 * The stop time in EC2's StateTransitionReason, e.g. "User initiated (2026-11-29 10:00:00 GMT)";
 * undefined when the text carries no such date.
 */
export function parseStopTime(stateTransitionReason: string | undefined): number | undefined {
  const m = /\((\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}) GMT\)/.exec(stateTransitionReason ?? "");
  if (m === null) return undefined;
  const t = Date.parse(`${m[1]}T${m[2]}Z`);
  return Number.isFinite(t) ? t : undefined;
}

/** The stack's target, `aws` unless the config says otherwise. */
function targetOf(config: Readonly<Record<string, string>>): string {
  return config[KEY_TARGET] ?? "aws";
}

/** The region the stack's instance lives in: `aws:region` (the provider the program uses), else `qwen3-serve:aws` region. */
export function regionOf(config: Readonly<Record<string, string>>): string | undefined {
  const provider = config[KEY_AWS_REGION];
  if (provider !== undefined && provider !== "") return provider;
  const raw = config[KEY_AWS];
  if (raw === undefined) return undefined;
  try {
    const settings: unknown = JSON.parse(raw);
    if (typeof settings === "object" && settings !== null && "region" in settings && typeof settings.region === "string" && settings.region !== "") return settings.region;
  } catch {
    // An unreadable aws setting leaves the region to the SDK's default chain (AWS_REGION).
  }
  return undefined;
}

/** The instance to look up for a stack: an AWS-target stack with an `instanceId` output; otherwise undefined. */
export function instanceToLookUp(config: Readonly<Record<string, string>>, outputs: Readonly<Record<string, unknown>>): InstanceRef | undefined {
  if (targetOf(config) !== "aws") return undefined;
  const id = outputs.instanceId;
  if (typeof id !== "string" || id === "") return undefined;
  return { instanceId: id, region: regionOf(config) };
}

type Lifetime =
  | { readonly verdict: ReapDecision }
  /** Still alive: the note for the table ("expires in 3 days"). */
  | { readonly note: string };

/** The expiresAt rule: a destroy verdict, a keep verdict for an unreadable date, or a note. */
function lifetime(stack: ReaperStackInput, now: number): Lifetime {
  const keep = (reason: string): Lifetime => ({ verdict: { decision: "keep", reason, kind: "keep" } });
  const ends: { at: number; note: (left: string) => string }[] = [];

  const expiresRaw = stack.config[KEY_EXPIRES_AT];
  if (expiresRaw !== undefined) {
    const expiresAt = parseIsoTime(expiresRaw);
    // Guessing what a garbled date meant could destroy a stack someone still uses.
    if (expiresAt === undefined) return keep(`expiresAt "${expiresRaw}" is not an ISO 8601 time with an offset (e.g. 2027-03-31T00:00:00Z); fix it to let the reaper act`);
    if (now > expiresAt) return { verdict: { decision: "destroy", reason: `expired ${formatDuration(now - expiresAt)} ago (expiresAt ${expiresRaw})`, kind: "expired" } };
    ends.push({ at: expiresAt, note: (left) => `expires in ${left}` });
  }

  const soonest = ends.sort((a, b) => a.at - b.at)[0];
  return { note: soonest === undefined ? "no expiry set" : soonest.note(formatDuration(soonest.at - now)) };
}

/**
 * The TTL rule. ttlHours limits how long the machine runs after each start; the watchdog on the
 * machine enforces it. A running instance still up past its TTL plus a slack means the watchdog
 * did not act (dead, or the machine wedged), so the reaper ends it from outside.
 */
function ttlRule(ttlHours: number, launchedAt: number | undefined, now: number): { readonly verdict: ReapDecision } | { readonly note: string } {
  const ttl = hoursText(ttlHours);
  if (launchedAt === undefined) return { note: `running, start time unknown (TTL ${ttl})` };
  const up = now - launchedAt;
  if (up > ttlHours * HOUR_MS + TTL_SLACK_MINUTES * 60_000) {
    return { verdict: { decision: "destroy", reason: `running ${formatDuration(up)} since its last start, past its TTL of ${ttl}: the watchdog did not stop it`, kind: "ttl" } };
  }
  return { note: `running ${formatDuration(up)} (TTL ${ttl})` };
}

/** ttlHours as the stack file holds it: undefined when unset, NaN when unreadable. */
function ttlHoursOf(config: Readonly<Record<string, string>>): number | undefined {
  const raw = config[KEY_TTL_HOURS];
  if (raw === undefined) return undefined;
  const h = raw.trim() === "" ? Number.NaN : Number(raw);
  return Number.isFinite(h) && h > 0 ? h : Number.NaN;
}

/** The instance rule: a destroy verdict for a stop past the limit or a run past the TTL, otherwise the note for the table. */
function instanceRule(stack: ReaperStackInput, settings: ReaperSettings, ttlHours: number | undefined): { readonly verdict: ReapDecision } | { readonly note: string } {
  const target = targetOf(stack.config);
  if (target !== "aws") return { note: `no instance (${target} target)` };
  const ref = instanceToLookUp(stack.config, stack.outputs);
  if (ref === undefined) return { note: "no instance in the stack outputs" };
  if (stack.instanceError !== undefined) return { note: `instance ${ref.instanceId} unreadable: ${stack.instanceError}` };
  if (stack.instance === undefined) return { note: `instance ${ref.instanceId} not looked up` };
  if (stack.instance === null) return { note: `instance ${ref.instanceId} not found${ref.region === undefined ? "" : ` in ${ref.region}`}` };
  const { state, stoppedAt, launchedAt } = stack.instance;
  if (state === "running" && ttlHours !== undefined) return ttlRule(ttlHours, launchedAt, settings.now);
  if (state !== "stopped") return { note: state };
  const limit = `limit ${hoursText(settings.stoppedForHours)}`;
  if (stoppedAt === undefined) return { note: `stopped, stop time unknown (${limit})` };
  const stoppedFor = settings.now - stoppedAt;
  if (stoppedFor > settings.stoppedForHours * HOUR_MS) {
    return { verdict: { decision: "destroy", reason: `stopped for ${formatDuration(stoppedFor)} (${limit})`, kind: "stopped" } };
  }
  return { note: `stopped for ${formatDuration(stoppedFor)} (${limit})` };
}

/** Decide one stack: destroy when expired, running past its TTL, or stopped too long; keep otherwise, with the reason. */
export function decideStack(stack: ReaperStackInput, settings: ReaperSettings): ReapDecision {
  if (stack.readError !== undefined) return { decision: "keep", reason: `cannot read the stack: ${stack.readError}`, kind: "keep" };
  // Destroying under a running update would fight it for the state lock and could orphan what it creates.
  if (stack.updateInProgress) return { decision: "keep", reason: "update in progress", kind: "keep" };
  const life = lifetime(stack, settings.now);
  if ("verdict" in life) return life.verdict;
  const ttlHours = ttlHoursOf(stack.config);
  if (Number.isNaN(ttlHours)) {
    return { decision: "keep", reason: `ttlHours "${stack.config[KEY_TTL_HOURS] ?? ""}" is not a positive number of hours; fix it to let the reaper act`, kind: "keep" };
  }
  const inst = instanceRule(stack, settings, ttlHours);
  if ("verdict" in inst) return inst.verdict;
  return { decision: "keep", reason: `${inst.note}; ${life.note}`, kind: "keep" };
}

/** True when the stack is kept only because something about it could not be read, which a cron job should hear about. */
export function keptBlind(stack: ReaperStackInput, decision: ReapDecision): boolean {
  return decision.decision === "keep" && (stack.readError !== undefined || stack.instanceError !== undefined);
}

/** The raw flag values the reaper's settings come from. */
export interface ReapFlagInput {
  /** `--now`: an ISO 8601 time with an offset. */
  readonly now?: string;
  /** `--stopped-for`: hours. */
  readonly stoppedFor?: string;
}

/** Validate the flags into settings; `clock` is the real time, used when `--now` is absent. Throws UserError keyed by flag name. */
export function parseReapSettings(flags: ReapFlagInput, clock: number): ReaperSettings {
  let now = clock;
  if (flags.now !== undefined) {
    const t = parseIsoTime(flags.now);
    if (t === undefined) {
      throw new UserError({ key: "now", value: flags.now, problem: "not an ISO 8601 time with an offset.", hint: "Give a time such as 2026-11-29T10:00:00Z or 2026-11-29T11:00:00+01:00." });
    }
    now = t;
  }
  let stoppedForHours = DEFAULT_STOPPED_FOR_HOURS;
  if (flags.stoppedFor !== undefined) {
    const h = Number(flags.stoppedFor);
    if (flags.stoppedFor.trim() === "" || !Number.isFinite(h) || h < 0) {
      throw new UserError({ key: "stopped-for", value: flags.stoppedFor, problem: "not a number of hours.", hint: `Give hours, 0 or more (default ${DEFAULT_STOPPED_FOR_HOURS}), e.g. 48 or 1.5.` });
    }
    stoppedForHours = h;
  }
  return { now, stoppedForHours };
}

/** One line of the reaper's table. */
export interface ReapRow {
  /** Stack name. */
  readonly stack: string;
  /** The verdict. */
  readonly decision: ReapDecision;
  /** What the run does or would do about it. */
  readonly action: string;
}

/** The table: stack, decision, reason, action, in aligned columns. */
export function formatReapTable(rows: readonly ReapRow[]): string {
  const header = ["STACK", "DECISION", "ACTION", "REASON"];
  // The reason goes last: it is the long, ragged column, and padding it would only add trailing spaces.
  const cells = rows.map((r) => [r.stack, r.decision.decision, r.action, r.decision.reason]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? "").length)));
  const line = (c: readonly string[]): string => c.map((v, i) => (i === c.length - 1 ? v : v.padEnd(widths[i] ?? 0))).join("  ");
  return [line(header), ...cells.map(line)].join("\n");
}
