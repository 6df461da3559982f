/**
 * Cost so far this month, as arithmetic: running hours (or replica-hours) inside the calendar month (UTC)
 * that holds `now`, times the catalog price. Pure: no clock (the caller passes `now`), no I/O; the
 * histories come from ./history.ts. Every figure is an estimate and says so, with what it leaves out.
 *
 * EC2 bills instance usage in the running state only (pending, stopping, stopped, shutting-down and
 * terminated are not billed): https://github.com/awsdocs/amazon-ec2-user-guide/blob/master/doc_source/ec2-instance-lifecycle.md
 * (read 2026-11-30). CloudTrail records the API call that starts a machine, not the moment it reaches
 * running, so a start is counted from the call: the pending seconds are included.
 */

/** EC2 instance states, as DescribeInstances and the state-change events name them. */
export const INSTANCE_STATES = ["pending", "running", "stopping", "stopped", "shutting-down", "terminated"] as const;
/** One EC2 instance state. */
export type InstanceState = (typeof INSTANCE_STATES)[number];
/** Why a state changed: a user's API call, the idle watchdog's poweroff from inside the machine, or EC2 taking spot capacity back. */
export type TransitionCause = "user" | "watchdog" | "spot-interruption";

/** One change of a machine's state at a time (epoch ms). */
export interface StateTransition {
  readonly at: number;
  readonly state: InstanceState;
  readonly cause: TransitionCause;
}

/** One replica's launch or termination, from the fleet's Auto Scaling activities (times in epoch ms). */
export interface ReplicaActivity {
  readonly instanceId: string;
  readonly kind: "launch" | "terminate";
  readonly start: number;
  /** When the activity finished; absent while it is in progress. */
  readonly end?: number;
  /** Auto Scaling's StatusCode: Successful, InProgress, Failed, Cancelled and the waiting states. */
  readonly status: string;
}

/** A history as its reader found it: the items, or why it could not be read (e.g. AccessDenied). */
export type History<T> =
  | { readonly kind: "read"; readonly items: readonly T[] }
  | { readonly kind: "unreadable"; readonly reason: string };

/** Where the hours came from. */
export type CostBasis = "CloudTrail events" | "scaling activities" | "launch time only";

/** Cost so far this month, with what it rests on. */
export interface CostEstimate {
  /** USD, to the cent. */
  readonly usd: number;
  /** Running hours (replica-hours for a fleet) inside the month, to 0.01 h. */
  readonly hours: number;
  readonly basis: CostBasis;
  /** The calendar month counted, UTC, e.g. "2026-11". */
  readonly month: string;
  /** The catalog price per hour (per replica-hour) the hours were multiplied by. */
  readonly pricePerHour: number;
  /** Always "estimate": catalog prices, not the bill. */
  readonly kind: "estimate";
  /** What the figure is and leaves out, then anything that bent the count; the first is always the estimate note. */
  readonly notes: readonly string[];
}

/** The machine as DescribeInstances shows it now, for the fallback and to close what CloudTrail cannot see. */
export interface MachineNow {
  readonly state: string;
  /** LaunchTime: EC2 sets it at launch and again at every start. */
  readonly launchedAt?: number;
  /** When it last stopped or terminated, from StateTransitionReason ("User initiated (… GMT)"). */
  readonly stoppedAt?: number;
}

/** What one machine's cost is worked out from. */
export interface MachineCostInput {
  readonly now: number;
  readonly pricePerHour: number;
  readonly market: "on-demand" | "spot";
  readonly current: MachineNow;
  readonly history: History<StateTransition>;
}

/** What a fleet's cost is worked out from. */
export interface FleetCostInput {
  readonly now: number;
  /** The catalog price of one replica-hour (the first candidate type's, in the plan's market). */
  readonly pricePerReplicaHour: number;
  readonly market: "on-demand" | "spot";
  readonly history: History<ReplicaActivity>;
  /** Replicas in the group now and their EC2 launch times, for the fallback when activities cannot be read. */
  readonly current?: readonly { readonly instanceId: string; readonly launchedAt?: number }[];
}

const HOUR_MS = 3_600_000;
const ON: ReadonlySet<string> = new Set(["pending", "running"]);
const STATE_ORDER: Readonly<Record<InstanceState, number>> = {
  pending: 0,
  running: 1,
  stopping: 2,
  stopped: 3,
  "shutting-down": 4,
  terminated: 5,
};

/** Year and month (0-11) in UTC of an instant, by Date.UTC alone (this file constructs no Date: the layer rule). */
function utcMonth(t: number): { readonly year: number; readonly month: number; readonly start: number } {
  let year = 1970 + Math.floor(t / 31_556_952_000);
  while (Date.UTC(year + 1, 0, 1) <= t) year += 1;
  while (Date.UTC(year, 0, 1) > t) year -= 1;
  let month = 11;
  while (Date.UTC(year, month, 1) > t) month -= 1;
  return { year, month, start: Date.UTC(year, month, 1) };
}

const pad = (n: number): string => String(n).padStart(2, "0");

/** The calendar month (UTC) holding `now`: its first instant and its label. */
export function monthOf(now: number): { readonly start: number; readonly label: string } {
  const { year, month, start } = utcMonth(now);
  return { start, label: `${year}-${pad(month + 1)}` };
}

/** An instant to the minute, UTC: 2026-11-01T00:00Z. */
function iso(t: number): string {
  const { year, month, start } = utcMonth(t);
  const minutes = Math.floor((t - start) / 60_000);
  const day = Math.floor(minutes / 1440) + 1;
  return `${year}-${pad(month + 1)}-${pad(day)}T${pad(Math.floor((minutes % 1440) / 60))}:${pad(minutes % 60)}Z`;
}
const round = (x: number, places: number): number => Math.round(x * 10 ** places) / 10 ** places;

/** The first note of every estimate: the price it used and what it leaves out. */
function estimateNote(price: number, market: string, unit: string, fleet: boolean): string {
  const spot = market === "spot" ? " (spot prices move; the catalog's is a snapshot)" : "";
  const alb = fleet ? ", the load balancer (ALB hours and LCUs)" : "";
  return (
    `estimate at the catalog ${market} price of $${price.toFixed(3)} per ${unit}${spot}: no discounts ` +
    `(Savings Plans, Reserved Instances, credits); EBS volumes (billed even while stopped), data transfer${alb} ` +
    "and public IPv4 addresses are not included"
  );
}

/** Time order, then state order for a tie; exact repeats (same time and state) dropped. */
function normalise(transitions: readonly StateTransition[], now: number): StateTransition[] {
  const sorted = transitions
    .filter((t) => Number.isFinite(t.at) && t.at <= now)
    .sort((a, b) => a.at - b.at || STATE_ORDER[a.state] - STATE_ORDER[b.state]);
  return sorted.filter((t, i) => i === 0 || t.at !== sorted[i - 1]?.at || t.state !== sorted[i - 1]?.state);
}

/** Running intervals from ordered transitions; `onAtFirst` says the machine was on before the first one. */
function intervals(
  events: readonly StateTransition[],
  onAtFirst: boolean,
  from: number,
  now: number,
): { spans: [number, number][]; unseenStops: number } {
  const spans: [number, number][] = [];
  let since: number | null = onAtFirst ? from : null;
  let unseenStops = 0;
  for (const e of events) {
    const on = ON.has(e.state);
    // A start (pending) with the machine already counted as running: a stop in between left no event.
    if (e.state === "pending" && since !== null) unseenStops += 1;
    if (on && since === null) since = e.at;
    if (!on && since !== null) {
      spans.push([since, e.at]);
      since = null;
    }
  }
  if (since !== null) spans.push([since, now]);
  return { spans, unseenStops };
}

const hoursIn = (spans: readonly [number, number][], start: number, now: number): number =>
  spans.reduce((sum, [a, b]) => sum + Math.max(0, Math.min(b, now) - Math.max(a, start)), 0) / HOUR_MS;

/** The estimate from hours, price and notes. */
function estimate(hours: number, price: number, basis: CostBasis, month: string, notes: string[]): CostEstimate {
  return {
    usd: round(hours * price, 2),
    hours: round(hours, 2),
    basis,
    month,
    pricePerHour: price,
    kind: "estimate",
    notes,
  };
}

/**
 * What DescribeInstances adds that CloudTrail cannot know: a stop from inside the machine (the idle
 * watchdog's poweroff is an OS shutdown, not an API call, so no event records it) and a start newer
 * than the events (CloudTrail delivers events minutes late).
 */
function fromNow(current: MachineNow, events: readonly StateTransition[]): StateTransition[] {
  const lastAt = events.at(-1)?.at ?? Number.NEGATIVE_INFINITY;
  if (current.state === "running" && current.launchedAt !== undefined && current.launchedAt > lastAt)
    return [{ at: current.launchedAt, state: "running", cause: "user" }];
  if ((current.state === "stopped" || current.state === "terminated") && current.stoppedAt !== undefined)
    if (current.stoppedAt >= lastAt && ON.has(events.at(-1)?.state ?? "stopped"))
      return [{ at: current.stoppedAt, state: current.state, cause: "watchdog" }];
  return [];
}

/** Notes on what bent the count from CloudTrail events. */
function eventNotes(events: readonly StateTransition[], onAtStart: boolean, start: number, unseen: number): string[] {
  const notes: string[] = [];
  if (onAtStart) notes.push(`running when the month began (started before it): counted from ${iso(start)}`);
  for (const e of events) {
    if (e.cause === "spot-interruption") notes.push(`spot capacity taken back by EC2 at ${iso(e.at)}: counted to then`);
    if (e.cause === "watchdog")
      notes.push(`stopped from inside the machine at ${iso(e.at)} (the idle watchdog's poweroff; no CloudTrail event)`);
  }
  if (unseen > 0)
    notes.push(
      `${unseen} start(s) while already counted as running: a stop from inside the machine leaves no CloudTrail ` +
        "event, so the hours between may be overstated",
    );
  return notes;
}

/** One machine's cost this month from its state transitions, or from its launch time when there are none. */
export function machineCost(input: MachineCostInput): CostEstimate {
  const { now, pricePerHour: price, market } = input;
  const month = monthOf(now);
  const first = estimateNote(price, market, "hour", false);
  if (input.history.kind === "unreadable") return launchTimeCost(input, input.history.reason);
  const read = normalise(input.history.items, now);
  const inMonth = read.filter((t) => t.at >= month.start);
  if (inMonth.length === 0) return launchTimeCost(input, "no CloudTrail events for the instance this month");
  const before = read.filter((t) => t.at < month.start).at(-1);
  // With nothing from before the month, a stop as the month's first event means it was running when the month began.
  const onAtStart = before !== undefined ? ON.has(before.state) : !ON.has(inMonth[0]?.state ?? "pending");
  const events = [...inMonth, ...fromNow(input.current, inMonth)];
  const { spans, unseenStops } = intervals(events, onAtStart, month.start, now);
  const notes = [first, ...eventNotes(events, onAtStart, month.start, unseenStops)];
  return estimate(hoursIn(spans, month.start, now), price, "CloudTrail events", month.label, notes);
}

/** The fallback: the run since the last start (LaunchTime), clipped to the month; earlier runs are not seen. */
function launchTimeCost(input: MachineCostInput, reason: string): CostEstimate {
  const { now, current, pricePerHour: price } = input;
  const month = monthOf(now);
  const notes = [
    estimateNote(price, input.market, "hour", false),
    `estimate from launch time only (${reason}): runs before the last start this month are not counted`,
  ];
  const end = ON.has(current.state) ? now : current.stoppedAt;
  if (current.launchedAt === undefined || end === undefined || end < current.launchedAt) {
    notes.push(`no launch time to count from (state ${current.state}): nothing counted`);
    return estimate(0, price, "launch time only", month.label, notes);
  }
  if (current.launchedAt < month.start && end > month.start)
    notes.push(`running since ${iso(current.launchedAt)}, before the month began: counted from ${iso(month.start)}`);
  return estimate(
    hoursIn([[current.launchedAt, end]], month.start, now),
    price,
    "launch time only",
    month.label,
    notes,
  );
}

/** Each replica's span: its first launch to its finished termination (or now), from deduplicated activities. */
function replicaSpans(activities: readonly ReplicaActivity[], start: number, now: number) {
  const byId = new Map<string, { launch?: number; end?: number; ended: boolean }>();
  for (const a of activities) {
    if (!Number.isFinite(a.start) || a.start > now) continue;
    const r = byId.get(a.instanceId) ?? { ended: false };
    if (a.kind === "launch" && (a.status === "Successful" || a.status === "InProgress"))
      r.launch = Math.min(r.launch ?? a.start, a.start);
    if (a.kind === "terminate" && a.status === "Successful") {
      r.end = Math.max(r.end ?? Number.NEGATIVE_INFINITY, a.end ?? a.start);
      r.ended = true;
    }
    byId.set(a.instanceId, r);
  }
  const spans: [number, number][] = [];
  let launchedBefore = 0;
  for (const r of byId.values()) {
    if (r.launch === undefined && !r.ended) continue;
    // Auto Scaling keeps six weeks of activities, longer than any month: no launch means it began before the month.
    if (r.launch === undefined) launchedBefore += 1;
    spans.push([r.launch ?? start, r.end ?? now]);
  }
  return { spans, launchedBefore };
}

/** A fleet's cost this month: replica-hours from its scaling activities x the price of a replica-hour. */
export function fleetCost(input: FleetCostInput): CostEstimate {
  const { now, pricePerReplicaHour: price } = input;
  const month = monthOf(now);
  const first = estimateNote(price, input.market, "replica-hour", true);
  if (input.history.kind === "unreadable") return fleetLaunchTimeCost(input, input.history.reason);
  const { spans, launchedBefore } = replicaSpans(input.history.items, month.start, now);
  // A replica there now with no activity at all was launched before Auto Scaling's six weeks: all month.
  const seen = new Set(input.history.items.map((a) => a.instanceId));
  const unlisted = (input.current ?? []).filter((r) => !seen.has(r.instanceId));
  for (const r of unlisted) spans.push([r.launchedAt ?? month.start, now]);
  const counted = spans.filter(([a, b]) => b > month.start && a < now);
  const notes = [first, `${counted.length} replica(s) ran this month`];
  if (launchedBefore + unlisted.length > 0)
    notes.push(
      `${launchedBefore + unlisted.length} replica(s) launched before the month began: counted from ${iso(month.start)}`,
    );
  return estimate(hoursIn(spans, month.start, now), price, "scaling activities", month.label, notes);
}

/** The fleet fallback: the replicas there now, each from its launch time; replicas gone already are not seen. */
function fleetLaunchTimeCost(input: FleetCostInput, reason: string): CostEstimate {
  const { now, pricePerReplicaHour: price } = input;
  const month = monthOf(now);
  const current = input.current ?? [];
  const spans = current.flatMap((r) => (r.launchedAt === undefined ? [] : [[r.launchedAt, now] as [number, number]]));
  const notes = [
    estimateNote(price, input.market, "replica-hour", true),
    `estimate from launch time only (${reason}): the ${spans.length} replica(s) there now, from their launch; ` +
      "replicas already gone are not counted",
  ];
  return estimate(hoursIn(spans, month.start, now), price, "launch time only", month.label, notes);
}
