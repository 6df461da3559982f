/**
 * `npm run reap`: list this project's stacks, decide for each, from what is deployed, whether it has
 * expired (expiresAt), runs past its TTL, sat stopped too long, or stays; print the table; with --yes,
 * look at each one to go again and run `pulumi destroy --stack` on it. Only stacks whose outputs and
 * instance tags show they are this program's are ever destroyed, and the user's selected stack is
 * never changed. Without --yes nothing changes, so it is safe to run from cron as a report.
 * The table also shows each stack's $/h now and its cost this month ("n/a" until a cost module is wired in).
 * Exit codes: 0 done; 1 a destroy failed, a stack (or its instance) could not be read and was kept
 * unseen, or the stacks could not be listed; 2 bad flags (reason on stderr, no stack trace).
 */
import { monthCostReader } from "../components/status/monthCost";
import {
  destroyStacks,
  gatherRecords,
  reaperInput,
  recheckStack,
  ReaperError,
  type DestroyResult,
} from "../components/reaper/adapters";
import {
  awsEc2Lookup,
  awsGroupLookup,
  DEFAULT_CONCURRENCY,
  type Ec2Lookup,
  type GroupLookup,
  type StackRecord,
} from "../components/stacks/inventory";
import { hourlyCostNow } from "../components/stacks/inventoryRules";
import { projectName, pulumiWorkspace, type StackWorkspace } from "../components/stacks/workspace";
import { isUserError } from "../components/errors/userError";
import {
  DEFAULT_STOPPED_FOR_HOURS,
  decideStack,
  formatReapTable,
  keptBlind,
  parseReapSettings,
  type ReaperSettings,
  type ReapRow,
} from "../components/reaper/rules";
import { parseFlags } from "./cli";

const USAGE = `Usage: npm run --silent reap -- [--yes] [--stopped-for <hours>] [--now <ISO 8601>] [--json]
  --yes               destroy the stacks decided "destroy" (without it, only print what would happen)
  --stopped-for <h>   destroy a stack whose instance has been stopped, or whose fleet has sat at zero replicas,
                      longer than this (default ${DEFAULT_STOPPED_FOR_HOURS})
  --now <time>        decide as if it were this time, e.g. 2026-11-29T10:00:00Z (default: now)
  --json              print the decisions as one JSON object on stdout
Needs AWS credentials to read instance states and fleets' Auto Scaling groups, and PULUMI_CONFIG_PASSPHRASE (like pulumi up) to destroy.`;

const OPTIONS = {
  yes: { type: "boolean" },
  "stopped-for": { type: "string" },
  now: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/** What the reaper reaches: injectable, so tests run it in-process against fakes. */
export interface ReapDeps {
  /** The stacks' workspace (the real one runs the Pulumi CLI). */
  readonly workspace: () => StackWorkspace;
  /** Instance states and tags (the real one calls EC2). */
  readonly ec2: () => Ec2Lookup;
  /** Fleets' Auto Scaling groups (the real one calls Auto Scaling); absent means the real one. */
  readonly autoScaling?: () => GroupLookup;
  /** Stacks read at once (default DEFAULT_CONCURRENCY). */
  readonly concurrency?: number;
  /** The month's cost so far of one stack, in dollars (null when unknown: the column reads "n/a"); absent, no column figures. */
  readonly costThisMonth?: (stack: StackRecord, now: number) => Promise<number | null>;
  /** This program's Pulumi project name, which its instances' project tag must carry. */
  readonly project: () => string;
  /** The real time, epoch ms; `--now` overrides it. */
  readonly clock: () => number;
  /** Where the table and JSON go. */
  readonly stdout: (text: string) => void;
  /** Where errors go, and destroy output under --json. */
  readonly stderr: (text: string) => void;
}

/** JSON for one stack under --json. */
interface StackJson {
  stack: string;
  decision: "destroy" | "keep";
  kind: string;
  reason: string;
  action: string;
  destroyed?: boolean;
  kept?: string;
  error?: string;
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? "" : "s"}`;

/** The month's cost of one stack through the hook, if any; a failing hook is an unknown cost, never a failed run. */
async function monthCost(deps: ReapDeps, record: StackRecord, now: number): Promise<number | null> {
  if (deps.costThisMonth === undefined) return null;
  try {
    return await deps.costThisMonth(record, now);
  } catch {
    return null;
  }
}

/** Run the reaper with these flags; resolves to the exit code. */
export async function runReap(argv: readonly string[], deps: ReapDeps): Promise<number> {
  const v = parseFlags(argv, OPTIONS, USAGE);
  if (v === null) return 2;
  if (v.help === true) {
    deps.stdout(`${USAGE}\n`);
    return 0;
  }
  let settings: ReaperSettings;
  try {
    settings = parseReapSettings(
      {
        ...(v.now !== undefined ? { now: v.now } : {}),
        ...(v["stopped-for"] !== undefined ? { stoppedFor: v["stopped-for"] } : {}),
      },
      deps.clock(),
      deps.project(),
    );
  } catch (e) {
    if (!isUserError(e)) throw e;
    deps.stderr(`error: ${e.relabel((k) => `--${k}`).message}\n${USAGE}\n`);
    return 2;
  }
  const yes = v.yes === true;
  const json = v.json === true;

  const workspace = deps.workspace();
  const ec2 = deps.ec2();
  const groups = (deps.autoScaling ?? awsGroupLookup)();
  let records: StackRecord[];
  try {
    records = await gatherRecords(workspace, ec2, groups, deps.concurrency ?? DEFAULT_CONCURRENCY);
  } catch (e) {
    if (!(e instanceof ReaperError)) throw e;
    deps.stderr(`error: ${e.message}\n`);
    return 1;
  }
  const monthCosts = await Promise.all(records.map((r) => monthCost(deps, r, settings.now)));
  const decided = records.map((record, i) => {
    const input = reaperInput(record);
    const costPerHour = hourlyCostNow(record.outputs, record.machine);
    return { input, decision: decideStack(input, settings), costPerHour, costThisMonth: monthCosts[i] ?? null };
  });
  const doomed = decided.filter((d) => d.decision.decision === "destroy").map((d) => d.input.name);
  const blind = decided.filter((d) => keptBlind(d.input, d.decision)).map((d) => d.input.name);
  const rows: ReapRow[] = decided.map((d) => ({
    stack: d.input.name,
    decision: d.decision,
    action: d.decision.decision === "keep" ? "nothing" : yes ? "pulumi destroy" : "would pulumi destroy",
    costPerHour: d.costPerHour,
    costThisMonth: d.costThisMonth,
  }));

  if (!json) {
    deps.stdout(
      `Reaper at ${new Date(settings.now).toISOString()}: destroy when expired, running past TTL, or ` +
        `stopped over ${settings.stoppedForHours} h${yes ? "" : " (dry run)"}\n`,
    );
    deps.stdout(records.length === 0 ? "No stacks in this project.\n" : `${formatReapTable(rows)}\n`);
  }

  let results: DestroyResult[] = [];
  if (yes && doomed.length > 0) {
    // Under --json stdout carries exactly one JSON object, so Pulumi's progress goes to stderr.
    const progress = json ? deps.stderr : deps.stdout;
    const recheck = async (name: string) => {
      const fresh = await recheckStack(workspace, ec2, name, groups);
      return fresh === undefined
        ? { decision: "keep" as const, reason: "no longer listed", kind: "keep" as const }
        : decideStack(fresh, settings);
    };
    results = await destroyStacks(workspace, doomed, (_stack, text) => progress(text), recheck);
    for (const r of results) {
      if (!r.ok) deps.stderr(`error: pulumi destroy of ${r.stack} failed: ${r.error ?? "no reason given"}\n`);
      else if (r.kept !== undefined) progress(`Kept ${r.stack} after a fresh look: ${r.kept}.\n`);
      else progress(`Destroyed ${r.stack}.\n`);
    }
  }
  const failed = results.filter((r) => !r.ok);
  const kept = results.filter((r) => r.kept !== undefined);

  if (json) {
    const byStack = new Map(results.map((r) => [r.stack, r]));
    const doc = {
      now: new Date(settings.now).toISOString(),
      stoppedForHours: settings.stoppedForHours,
      yes,
      stacks: rows.map((r): StackJson => {
        const res = byStack.get(r.stack);
        return {
          stack: r.stack,
          decision: r.decision.decision,
          kind: r.decision.kind,
          reason: r.decision.reason,
          action: r.action,
          ...(res !== undefined ? { destroyed: res.ok && res.kept === undefined } : {}),
          ...(res?.kept !== undefined ? { kept: res.kept } : {}),
          ...(res?.error !== undefined ? { error: res.error } : {}),
        };
      }),
    };
    deps.stdout(`${JSON.stringify(doc, null, 2)}\n`);
  } else if (doomed.length > 0) {
    deps.stdout(
      yes
        ? `Destroyed ${results.length - failed.length - kept.length} of ${plural(doomed.length, "stack")}` +
            `${kept.length > 0 ? `; kept after a fresh look: ${kept.map((k) => k.stack).join(", ")}` : ""}` +
            `${failed.length > 0 ? `; failed: ${failed.map((f) => f.stack).join(", ")}` : ""}.\n`
        : `${plural(doomed.length, "stack")} would be destroyed (${doomed.join(", ")}); run again with --yes to destroy.\n`,
    );
  }
  if (blind.length > 0) deps.stderr(`warning: kept without a full look (read failed): ${blind.join(", ")}\n`);
  return failed.length > 0 || blind.length > 0 ? 1 : 0;
}

/** The shared month-cost reader (components/status/monthCost.ts) in dollars, null where it cannot say. */
function monthCostDollars(): (stack: StackRecord, now: number) => Promise<number | null> {
  const reader = monthCostReader();
  return async (stack, now) => {
    const cost = await reader(stack, now);
    return "unavailable" in cost ? null : cost.usd;
  };
}

/** The real world: the Pulumi CLI, EC2 through the AWS SDK, the project name from Pulumi.yaml, the system clock. */
const REAL: ReapDeps = {
  workspace: () => pulumiWorkspace(),
  ec2: () => awsEc2Lookup(),
  autoScaling: () => awsGroupLookup(),
  costThisMonth: monthCostDollars(),
  project: () => projectName(),
  clock: () => Date.now(),
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
};

// Run only as the entry point, so tests can import runReap without starting a reap.
if (require.main === module) {
  runReap(process.argv.slice(2), REAL).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`bug: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
