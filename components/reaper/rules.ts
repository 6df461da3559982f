/**
 * The reaper's decisions, as pure functions: one stack's deployed outputs, the config of its last
 * update, its listing and its instance (state and tags) in, "destroy" or "keep" out, with the
 * reason a person reads in the table. No clock: the caller passes `now` in epoch milliseconds, so
 * a cron dry run and the tests can pin it.
 *
 * A fleet has no instance: its Auto Scaling group (capacity, when it went to zero, tags) stands in,
 * and its expiresAt and ttlHours come from the last update's config.
 *
 * Everything comes from what is deployed, never from the checkout's stack files: those may be
 * stale, missing, or edited but not yet deployed.
 *
 * A tool that destroys things leans towards keeping: an update in progress, a stack whose outputs
 * or instance tags do not prove it is this project's, a value it cannot read, an instance it
 * cannot see or a stop time it cannot parse all keep the stack, and say so.
 */
import { z } from "zod";
import { CONFIG_NAMESPACE } from "../config/schema";
import { UserError } from "../errors/userError";
import {
  type GroupRef,
  type GroupView,
  type InstanceRef,
  type InstanceView,
  missingMarkers,
} from "../stacks/inventoryRules";

// Moved to the shared inventory; re-exported so the reaper's callers and tests keep their imports.
export {
  type GroupRef,
  groupToLookUp,
  type InstanceRef,
  instanceToLookUp,
  missingMarkers,
  parseStopTime,
  regionFromOutputs,
  regionOf,
} from "../stacks/inventoryRules";

/** How long an instance may sit stopped before the reaper destroys its stack, by default. */
export const DEFAULT_STOPPED_FOR_HOURS = 72;

const HOUR_MS = 3_600_000;
const KEY_EXPIRES_AT = `${CONFIG_NAMESPACE}:expiresAt`;
/** Time the watchdog gets past the TTL (it checks every minute) before the reaper steps in. */
export const TTL_SLACK_MINUTES = 15;
const KEY_TARGET = `${CONFIG_NAMESPACE}:target`;
const KEY_TTL_HOURS = `${CONFIG_NAMESPACE}:ttlHours`;
/** How far back Auto Scaling keeps scaling activities (DescribeScalingActivities: "the past six weeks"). */
export const ACTIVITY_RETENTION_MS = 42 * 24 * HOUR_MS;
// The instance tags components/targets/stackContext.ts (stackTags) writes; the watchdog reads the lifetime ones too.
const TAG_PROJECT = "qwen3-serve:project";
const TAG_STACK = "qwen3-serve:stack";
const TAG_EXPIRES_AT = "qwen3-serve:expires-at";
const TAG_TTL_HOURS = "qwen3-serve:ttl-hours";
const MACHINE_TARGETS = new Set(["docker", "workstation"]);

/** An EC2 instance as the reaper sees it (the inventory's view). */
export type ReaperInstance = InstanceView;
/** A fleet's Auto Scaling group as the reaper sees it (the inventory's view). */
export type ReaperGroup = GroupView;

/** Everything the reaper knows about one stack, all of it read from the deployment. */
export interface ReaperStackInput {
  /** Stack name as `pulumi stack ls` lists it (bare, or `organization/project/stack`). */
  readonly name: string;
  /** The last update's time, as the backend reports it (ISO 8601); absent for a stack never updated. */
  readonly lastUpdate?: string | undefined;
  /** An update is running now (the Pulumi Cloud backend reports it; the file backend never does). */
  readonly updateInProgress: boolean;
  /** The deployed stack outputs, plain values (secrets blinded). */
  readonly outputs: Readonly<Record<string, unknown>>;
  /** The config of the stack's last update (`pulumi stack history`), full keys; empty when not read. */
  readonly deployedConfig: Readonly<Record<string, string>>;
  /** The EC2 instance in the outputs and its region; absent when the outputs name no EC2 instance. */
  readonly instanceRef?: InstanceRef | undefined;
  /** The instance: undefined when not looked up, null when EC2 does not know it in that region. */
  readonly instance?: ReaperInstance | null | undefined;
  /** Why the instance could not be looked up (no region, credentials, network). */
  readonly instanceError?: string | undefined;
  /** Why the stack's outputs or history could not be read. */
  readonly readError?: string | undefined;
  /** A fleet's group and region; absent when the outputs name no Auto Scaling group. */
  readonly groupRef?: GroupRef | undefined;
  /** The group: undefined when not looked up, null when Auto Scaling does not know it in that region. */
  readonly group?: ReaperGroup | null | undefined;
  /** Why the group could not be looked up. */
  readonly groupError?: string | undefined;
}

/** The clock, the limit and whose stacks these are. */
export interface ReaperSettings {
  /** Now, epoch milliseconds. */
  readonly now: number;
  /** Destroy a stack whose instance has been stopped for longer than this. */
  readonly stoppedForHours: number;
  /** This program's Pulumi project name (Pulumi.yaml), which our instances carry in their project tag. */
  readonly project: string;
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

/** The stack name without its `organization/project/` qualifier, as the program's stack tag holds it. */
export function shortStackName(name: string): string {
  return name.slice(name.lastIndexOf("/") + 1);
}

type Rule = { readonly verdict: ReapDecision } | { readonly note: string };

const keep = (reason: string): ReapDecision => ({ decision: "keep", reason, kind: "keep" });

/** The expiresAt rule on the deployed value: a destroy verdict, a keep verdict for an unreadable date, or a note. */
function lifetime(expiresRaw: string | undefined, now: number): Rule {
  if (expiresRaw === undefined) return { note: "no expiry set" };
  const expiresAt = parseIsoTime(expiresRaw);
  // Guessing what a garbled date meant could destroy a stack someone still uses.
  if (expiresAt === undefined)
    return {
      verdict: keep(
        `expiresAt "${expiresRaw}" is not an ISO 8601 time with an offset (e.g. 2027-03-31T00:00:00Z); fix it to let the reaper act`,
      ),
    };
  if (now > expiresAt)
    return {
      verdict: {
        decision: "destroy",
        reason: `expired ${formatDuration(now - expiresAt)} ago (expiresAt ${expiresRaw})`,
        kind: "expired",
      },
    };
  return { note: `expires in ${formatDuration(expiresAt - now)}` };
}

/**
 * expiresAt and ttlHours as the AWS and fleet rules read them (from tags or the last update's config): a verdict
 * when expired or either is malformed, else the expiry note and the TTL (undefined when none is set).
 */
function lifeLimits(
  expiresRaw: string | undefined,
  ttlRaw: string | undefined,
  now: number,
): { verdict: ReapDecision } | { life: { note: string }; ttlHours: number | undefined } {
  const life = lifetime(expiresRaw, now);
  if ("verdict" in life) return life;
  const ttlHours = parseTtlHours(ttlRaw);
  if (Number.isNaN(ttlHours))
    return {
      verdict: keep(`ttlHours "${ttlRaw ?? ""}" is not a positive number of hours; fix it to let the reaper act`),
    };
  return { life, ttlHours };
}

/**
 * The TTL rule. ttlHours limits how long the machine runs after each start; the watchdog on the
 * machine enforces it. A running instance still up past its TTL plus a slack means the watchdog
 * did not act (dead, or the machine wedged), so the reaper ends it from outside.
 */
function ttlRule(ttlHours: number, launchedAt: number | undefined, now: number): Rule {
  const ttl = hoursText(ttlHours);
  if (launchedAt === undefined) return { note: `running, start time unknown (TTL ${ttl})` };
  const up = now - launchedAt;
  if (up > ttlHours * HOUR_MS + TTL_SLACK_MINUTES * 60_000) {
    return {
      verdict: {
        decision: "destroy",
        reason: `running ${formatDuration(up)} since its last start, past its TTL of ${ttl}: the watchdog did not stop it`,
        kind: "ttl",
      },
    };
  }
  return { note: `running ${formatDuration(up)} (TTL ${ttl})` };
}

/** ttlHours as the instance tag holds it: undefined when unset, NaN when unreadable. */
function parseTtlHours(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const h = raw.trim() === "" ? Number.NaN : Number(raw);
  return Number.isFinite(h) && h > 0 ? h : Number.NaN;
}

/** The state rule: a destroy verdict for a stop past the limit or a run past the TTL, otherwise the note for the table. */
function stateRule(instance: ReaperInstance, settings: ReaperSettings, ttlHours: number | undefined): Rule {
  const { state, stoppedAt, launchedAt } = instance;
  if (state === "running" && ttlHours !== undefined) return ttlRule(ttlHours, launchedAt, settings.now);
  if (state !== "stopped") return { note: state };
  const limit = `limit ${hoursText(settings.stoppedForHours)}`;
  if (stoppedAt === undefined) return { note: `stopped, stop time unknown (${limit})` };
  const stoppedFor = settings.now - stoppedAt;
  if (stoppedFor > settings.stoppedForHours * HOUR_MS) {
    return {
      verdict: { decision: "destroy", reason: `stopped for ${formatDuration(stoppedFor)} (${limit})`, kind: "stopped" },
    };
  }
  return { note: `stopped for ${formatDuration(stoppedFor)} (${limit})` };
}

/** The instance seen and tagged as this project's stack, or the keep verdict saying why not. */
function ourInstance(stack: ReaperStackInput, ref: InstanceRef, project: string): ReaperInstance | ReapDecision {
  const id = ref.instanceId;
  if (stack.instanceError !== undefined) return keep(`instance ${id} unreadable: ${stack.instanceError}`);
  if (stack.instance === undefined) return keep(`instance ${id} not looked up`);
  if (stack.instance === null)
    return keep(
      `instance ${id} not found in ${ref.region ?? "its region"}, so its tags cannot show the stack is this project's`,
    );
  const tags = stack.instance.tags;
  const want = shortStackName(stack.name);
  if (tags[TAG_PROJECT] !== project || tags[TAG_STACK] !== want) {
    const seen = `${TAG_PROJECT}=${tags[TAG_PROJECT] ?? "(none)"}, ${TAG_STACK}=${tags[TAG_STACK] ?? "(none)"}`;
    return keep(`instance ${id} is tagged ${seen}, not ${project} and ${want}: not this project's stack`);
  }
  return stack.instance;
}

/** An AWS stack: its instance must carry our tags; lifetime settings come from those tags. */
function decideAws(stack: ReaperStackInput, ref: InstanceRef, settings: ReaperSettings): ReapDecision {
  const instance = ourInstance(stack, ref, settings.project);
  if ("decision" in instance) return instance;
  const limits = lifeLimits(instance.tags[TAG_EXPIRES_AT], instance.tags[TAG_TTL_HOURS], settings.now);
  if ("verdict" in limits) return limits.verdict;
  const { life, ttlHours } = limits;
  const inst = stateRule(instance, settings, ttlHours);
  if ("verdict" in inst) return inst.verdict;
  return keep(`${inst.note}; ${life.note}`);
}

/**
 * A workstation or Docker stack: no EC2 instance to carry tags, so the config of its last update
 * must name that target under this program's namespace, and expiresAt comes from that config.
 */
function decideMachine(stack: ReaperStackInput, settings: ReaperSettings): ReapDecision {
  const target = stack.deployedConfig[KEY_TARGET];
  if (target === undefined || !MACHINE_TARGETS.has(target)) {
    return keep(
      `no EC2 instance in the outputs, and the last update's config sets no docker or workstation ${KEY_TARGET}: not recognisably this project's stack`,
    );
  }
  const life = lifetime(stack.deployedConfig[KEY_EXPIRES_AT], settings.now);
  if ("verdict" in life) return life.verdict;
  return keep(`no instance (${target} target); ${life.note}`);
}

/** The group seen and tagged as this project's stack, or the keep verdict saying why not. */
function ourGroup(stack: ReaperStackInput, ref: GroupRef, project: string): ReaperGroup | ReapDecision {
  const what = `Auto Scaling group ${ref.name}`;
  if (stack.groupError !== undefined) return keep(`${what} unreadable: ${stack.groupError}`);
  if (stack.group === undefined) return keep(`${what} not looked up`);
  if (stack.group === null)
    return keep(
      `${what} not found in ${ref.region ?? "its region"}, so its tags cannot show the stack is this project's`,
    );
  const tags = stack.group.tags;
  const want = shortStackName(stack.name);
  if (tags[TAG_PROJECT] !== project || tags[TAG_STACK] !== want) {
    const seen = `${TAG_PROJECT}=${tags[TAG_PROJECT] ?? "(none)"}, ${TAG_STACK}=${tags[TAG_STACK] ?? "(none)"}`;
    return keep(`${what} is tagged ${seen}, not ${project} and ${want}: not this project's stack`);
  }
  return stack.group;
}

/**
 * A fleet's TTL, counted from the stack's last update. The watchdog never stops a replica (the
 * group would replace it), so the reaper is what enforces ttlHours, and no watchdog slack applies.
 * The last update rather than the group's creation: a deliberate `pulumi up` is the fleet's
 * counterpart of a machine's start, from which a machine's TTL counts; it is never earlier than the
 * group's creation, so it never destroys sooner; and it is read from the backend, not from AWS.
 */
function fleetTtlRule(ttlHours: number, lastUpdate: string | undefined, now: number): Rule {
  const ttl = hoursText(ttlHours);
  const since = lastUpdate === undefined ? undefined : parseIsoTime(lastUpdate);
  if (since === undefined) return { note: `last update time unknown (TTL ${ttl})` };
  const age = now - since;
  if (age > ttlHours * HOUR_MS)
    return {
      verdict: {
        decision: "destroy",
        reason: `fleet deployed ${formatDuration(age)} ago (last update ${lastUpdate}), past its TTL of ${ttl}`,
        kind: "ttl",
      },
    };
  return { note: `deployed ${formatDuration(age)} ago (TTL ${ttl})` };
}

/**
 * When a group with no instance left went to zero: its latest scaling activity (the one that
 * removed the last replica); with none within the retention, its creation, but no earlier than the
 * retention allows proving.
 */
function zeroSince(g: ReaperGroup, now: number): number | undefined {
  if (g.lastActivityAt !== undefined) return g.lastActivityAt;
  return g.createdAt === undefined ? undefined : Math.max(g.createdAt, now - ACTIVITY_RETENTION_MS);
}

/** The replicas rule: a fleet at zero for longer than --stopped-for counts as stopped. */
function replicasRule(g: ReaperGroup, settings: ReaperSettings): Rule {
  const counts = `min ${g.min}, max ${g.max}`;
  const replicas = `${g.instances} replica${g.instances === 1 ? "" : "s"}`;
  if (g.desired > 0) return { note: `fleet: ${replicas}, desired ${g.desired} (${counts})` };
  if (g.instances > 0) return { note: `fleet: scaling to zero, ${replicas} left (${counts})` };
  const limit = `limit ${hoursText(settings.stoppedForHours)}`;
  const since = zeroSince(g, settings.now);
  if (since === undefined) return { note: `fleet: at zero replicas, since when unknown (${limit})` };
  const atZero = settings.now - since;
  if (atZero > settings.stoppedForHours * HOUR_MS)
    return {
      verdict: {
        decision: "destroy",
        reason: `fleet at zero replicas for ${formatDuration(atZero)} (${limit})`,
        kind: "stopped",
      },
    };
  return { note: `fleet: at zero replicas for ${formatDuration(atZero)} (${limit})` };
}

/** A fleet stack: its group must carry our tags; expiresAt and ttlHours come from the last update's config. */
function decideFleet(stack: ReaperStackInput, ref: GroupRef, settings: ReaperSettings): ReapDecision {
  const group = ourGroup(stack, ref, settings.project);
  if ("decision" in group) return group;
  const limits = lifeLimits(stack.deployedConfig[KEY_EXPIRES_AT], stack.deployedConfig[KEY_TTL_HOURS], settings.now);
  if ("verdict" in limits) return limits.verdict;
  const { life, ttlHours } = limits;
  const ttl = ttlHours === undefined ? undefined : fleetTtlRule(ttlHours, stack.lastUpdate, settings.now);
  if (ttl !== undefined && "verdict" in ttl) return ttl.verdict;
  const replicas = replicasRule(group, settings);
  if ("verdict" in replicas) return replicas.verdict;
  return keep([replicas.note, ...(ttl === undefined ? [] : [ttl.note]), life.note].join("; "));
}

/**
 * Decide one stack: destroy when it is provably this program's and is expired, running past its
 * TTL, or stopped too long; keep otherwise, with the reason.
 */
export function decideStack(stack: ReaperStackInput, settings: ReaperSettings): ReapDecision {
  if (stack.readError !== undefined) return keep(`cannot read the stack: ${stack.readError}`);
  // Destroying under a running update would fight it for the state lock and could orphan what it creates.
  if (stack.updateInProgress) return keep("update in progress");
  // On a legacy file backend `pulumi stack ls` lists every project's stacks (see components/stacks/workspace.ts).
  const missing = missingMarkers(stack.outputs);
  if (missing !== undefined) {
    return keep(
      Object.keys(stack.outputs).length === 0
        ? "nothing deployed (no stack outputs)"
        : `not a ${CONFIG_NAMESPACE} deployment: its outputs lack ${missing}`,
    );
  }
  if (stack.groupRef !== undefined) return decideFleet(stack, stack.groupRef, settings);
  return stack.instanceRef === undefined
    ? decideMachine(stack, settings)
    : decideAws(stack, stack.instanceRef, settings);
}

/** True when the stack is kept only because something about it could not be read, which a cron job should hear about. */
export function keptBlind(stack: ReaperStackInput, decision: ReapDecision): boolean {
  return (
    decision.decision === "keep" &&
    (stack.readError !== undefined || stack.instanceError !== undefined || stack.groupError !== undefined)
  );
}

/** The raw flag values the reaper's settings come from. */
export interface ReapFlagInput {
  /** `--now`: an ISO 8601 time with an offset. */
  readonly now?: string;
  /** `--stopped-for`: hours. */
  readonly stoppedFor?: string;
}

/**
 * Validate the flags into settings; `clock` is the real time, used when `--now` is absent; `project` is this
 * program's. Throws UserError keyed by flag name.
 */
export function parseReapSettings(flags: ReapFlagInput, clock: number, project: string): ReaperSettings {
  let now = clock;
  if (flags.now !== undefined) {
    const t = parseIsoTime(flags.now);
    if (t === undefined) {
      throw new UserError({
        key: "now",
        value: flags.now,
        problem: "not an ISO 8601 time with an offset.",
        hint: "Give a time such as 2026-11-29T10:00:00Z or 2026-11-29T11:00:00+01:00.",
      });
    }
    now = t;
  }
  let stoppedForHours = DEFAULT_STOPPED_FOR_HOURS;
  if (flags.stoppedFor !== undefined) {
    const h = Number(flags.stoppedFor);
    if (flags.stoppedFor.trim() === "" || !Number.isFinite(h) || h < 0) {
      throw new UserError({
        key: "stopped-for",
        value: flags.stoppedFor,
        problem: "not a number of hours.",
        hint: `Give hours, 0 or more (default ${DEFAULT_STOPPED_FOR_HOURS}), e.g. 48 or 1.5.`,
      });
    }
    stoppedForHours = h;
  }
  return { now, stoppedForHours, project };
}

/** One line of the reaper's table. */
export interface ReapRow {
  /** Stack name. */
  readonly stack: string;
  /** The verdict. */
  readonly decision: ReapDecision;
  /** What the run does or would do about it. */
  readonly action: string;
  /** Dollars per hour its machine costs now (stacks/inventoryRules.ts hourlyCostNow); null when unknown. */
  readonly costPerHour: number | null;
  /** Dollars it has cost this month so far; null or absent when not known (shown "n/a"). */
  readonly costThisMonth?: number | null | undefined;
}

/** Dollars with a fixed number of decimals, "n/a" when unknown. */
const dollars = (n: number | null | undefined, digits: number): string =>
  n === null || n === undefined ? "n/a" : `$${n.toFixed(digits)}`;

/** The table: stack, decision, action, $/h now, cost this month, reason, in aligned columns. */
export function formatReapTable(rows: readonly ReapRow[]): string {
  const header = ["STACK", "DECISION", "ACTION", "$/H NOW", "THIS MONTH", "REASON"];
  // The reason goes last: it is the long, ragged column, and padding it would only add trailing spaces.
  const cells = rows.map((r) => [
    r.stack,
    r.decision.decision,
    r.action,
    dollars(r.costPerHour, 3),
    dollars(r.costThisMonth, 2),
    r.decision.reason,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? "").length)));
  const line = (c: readonly string[]): string =>
    c.map((v, i) => (i === c.length - 1 ? v : v.padEnd(widths[i] ?? 0))).join("  ");
  return [line(header), ...cells.map(line)].join("\n");
}
