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
import { type FlagValues, parseFlags } from "./cli";
import { BUCKET_PARAMETER } from "../components/mirror/keys";
import { UserError } from "../components/errors/userError";
import { pulumiFailure } from "../components/stacks/workspace";
import {
  deleteKeys,
  deleteModel,
  freshMarkers,
  type MirrorS3,
  type MirrorSnapshot,
  type ReadModel,
  readMirror,
  readStackUses,
  sdkMirrorS3,
} from "../components/reaper/weights";
import {
  blindStacks,
  blobsToDelete,
  bytesText,
  chunk,
  DEFAULT_UNUSED_DAYS,
  DELETE_BATCH,
  decideModel,
  formatWeightsTable,
  type ModelVerdict,
  parseUnusedDays,
  type StackUseInput,
  type WeightsSettings,
} from "../components/reaper/weightsRules";

const USAGE = `Usage: npm run --silent reap -- [--yes] [--stopped-for <hours>] [--now <ISO 8601>] [--json]
       npm run --silent reap -- --weights [--region <region>] [--unused-days <days>] [--yes] [--now <ISO 8601>]
  --yes               destroy the stacks decided "destroy" (without it, only print what would happen)
  --stopped-for <h>   destroy a stack whose instance has been stopped, or whose fleet has sat at zero replicas,
                      longer than this (default ${DEFAULT_STOPPED_FOR_HOURS})
  --now <time>        decide as if it were this time, e.g. 2026-11-29T10:00:00Z (default: now)
  --json              print the decisions as one JSON object on stdout
  --weights           reap the S3 weights mirror instead: models no stack uses and no machine used for --unused-days
  --region <region>   the mirror's region (default: AWS_REGION, else AWS_DEFAULT_REGION)
  --unused-days <d>   with --weights: delete a model unused for longer than this (default ${DEFAULT_UNUSED_DAYS})
Needs AWS credentials to read instance states and fleets' Auto Scaling groups, and PULUMI_CONFIG_PASSPHRASE (like pulumi up) to destroy.`;

const OPTIONS = {
  yes: { type: "boolean" },
  "stopped-for": { type: "string" },
  now: { type: "string" },
  json: { type: "boolean" },
  weights: { type: "boolean" },
  region: { type: "string" },
  "unused-days": { type: "string" },
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
  /** The mirror's S3 and SSM calls in a region (`--weights`); absent means the real ones. */
  readonly mirror?: (region: string) => MirrorS3;
  /** The environment the default region comes from (default this process's). */
  readonly env?: Readonly<Record<string, string | undefined>>;
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
  if (v.weights === true) return runReapWeights(v, deps);
  const stray = (["region", "unused-days"] as const).find((k) => v[k] !== undefined);
  if (stray !== undefined) {
    deps.stderr(`error: --${stray} applies only with --weights.\n${USAGE}\n`);
    return 2;
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

/** A failure from AWS in one line: the SDK's error name and message, never a stack trace. */
const awsFailure = (e: unknown): string =>
  e instanceof Error ? `${e.name === "Error" ? "" : `${e.name}: `}${e.message}` : String(e);

/** The region the mirror is reaped in: --region, else the environment's; a UserError when none or malformed. */
function mirrorRegion(flag: string | undefined, env: Readonly<Record<string, string | undefined>>): string {
  const region = flag ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  if (region === undefined || !/^[a-z]{2}(-gov)?-[a-z]+-\d+$/.test(region))
    throw new UserError({
      key: "region",
      value: region ?? "(none)",
      problem:
        region === undefined
          ? "no region given, and AWS_REGION and AWS_DEFAULT_REGION are unset."
          : "not an AWS region.",
      hint: "Give the mirror's region, e.g. --region us-east-1: each region has its own bucket.",
    });
  return region;
}

/** The weights reap's settings from the flags; throws UserError keyed by flag name. */
function weightsSettings(v: FlagValues<typeof OPTIONS>, deps: ReapDeps): WeightsSettings {
  const stray = (["stopped-for", "json"] as const).find((k) => v[k] !== undefined);
  if (stray !== undefined)
    throw new UserError({
      key: stray,
      value: String(v[stray]),
      problem: "does not apply with --weights.",
      hint: "Run the stack reaper and the weights reaper separately.",
    });
  const now = parseReapSettings(v.now !== undefined ? { now: v.now } : {}, deps.clock(), "").now;
  return {
    now,
    unusedDays: parseUnusedDays(v["unused-days"]),
    region: mirrorRegion(v.region, deps.env ?? process.env),
  };
}

/** The models whose verdict still stands after a fresh look at the markers; the others, kept, with why. */
function recheckDoomed(
  doomed: readonly ReadModel[],
  markers: MirrorSnapshot["contents"]["markers"],
  stacks: readonly StackUseInput[],
  settings: WeightsSettings,
): { go: ReadModel[]; kept: ModelVerdict[] } {
  const go: ReadModel[] = [];
  const kept: ModelVerdict[] = [];
  for (const m of doomed) {
    const fresh = decideModel(m.model, m.bytes, markers, stacks, settings);
    if (fresh.decision === "delete") go.push(m);
    else kept.push(fresh);
  }
  return { go, kept };
}

/** The Ollama blob lists of the models that stay (undefined where unread), for the blob rule. */
const keptBlobLists = (models: readonly ReadModel[], gone: ReadonlySet<string>): (readonly string[] | undefined)[] =>
  models.filter((m) => m.model.source === "ollama" && !gone.has(m.model.prefix)).map((m) => m.blobs);

/** Delete the doomed models (after a fresh look at the markers), then the blobs no remaining manifest lists. */
async function deleteUnused(
  s3: MirrorS3,
  bucket: string,
  snap: MirrorSnapshot,
  doomed: readonly ReadModel[],
  stacks: readonly StackUseInput[],
  settings: WeightsSettings,
  deps: ReapDeps,
): Promise<boolean> {
  const { go, kept } = recheckDoomed(doomed, await freshMarkers(s3, bucket), stacks, settings);
  for (const k of kept) deps.stdout(`Kept ${k.prefix} after a fresh look: ${k.reason}.\n`);
  const gone = new Set<string>();
  let ok = true;
  for (const m of go) {
    const failed = await deleteModel(s3, bucket, m.model);
    if (failed.length === 0) {
      gone.add(m.model.prefix);
      deps.stdout(`Deleted ${m.model.prefix} (${m.model.keys.length} objects).\n`);
    } else {
      ok = false;
      const f = failed[0];
      deps.stderr(`error: deleting ${m.model.prefix} failed: ${f?.key}: ${f?.code} ${f?.message}\n`);
    }
  }
  const blobs = blobsToDelete(snap.contents.blobs, keptBlobLists(snap.models, gone), settings);
  const failed = await deleteKeys(s3, bucket, chunk(blobs, DELETE_BATCH));
  for (const f of failed) deps.stderr(`error: deleting blob ${f.key} failed: ${f.code} ${f.message}\n`);
  deps.stdout(
    `Deleted ${gone.size} of ${doomed.length} unused model${doomed.length === 1 ? "" : "s"} and ` +
      `${blobs.length - failed.length} of ${blobs.length} unlisted Ollama blob${blobs.length === 1 ? "" : "s"}.\n`,
  );
  return ok && failed.length === 0;
}

/** The blob line of the report: how many, how much, and how many no kept manifest lists. */
function blobSummary(snap: MirrorSnapshot, deletable: readonly string[], yes: boolean): string {
  const all = snap.contents.blobs;
  const bytes = (keys: ReadonlySet<string>) => all.filter((b) => keys.has(b.key)).reduce((s, b) => s + b.size, 0);
  const total = all.reduce((s, b) => s + b.size, 0);
  const free = bytes(new Set(deletable));
  return (
    `Ollama blobs: ${all.length} (${bytesText(total)}); ${deletable.length} (${bytesText(free)}) listed by no ` +
    `manifest that stays${deletable.length > 0 ? (yes ? ": deleting" : ": would delete") : ""}.\n`
  );
}

/**
 * `--weights`: list the mirror in the region, decide each model prefix from the listed stacks and the
 * "last used" markers, print the table, and with --yes delete the unused ones and the blobs no
 * remaining manifest lists. Exit codes as the stack reaper: 0 done, 1 a delete or a read failed or a
 * stack could not be read (everything kept), 2 bad flags.
 */
async function runReapWeights(v: FlagValues<typeof OPTIONS>, deps: ReapDeps): Promise<number> {
  let settings: WeightsSettings;
  try {
    settings = weightsSettings(v, deps);
  } catch (e) {
    if (!isUserError(e)) throw e;
    deps.stderr(`error: ${e.relabel((k) => `--${k}`).message}\n${USAGE}\n`);
    return 2;
  }
  const yes = v.yes === true;
  const s3 = (deps.mirror ?? sdkMirrorS3)(settings.region);
  let stacks: StackUseInput[];
  try {
    stacks = await readStackUses(deps.workspace());
  } catch (e) {
    deps.stderr(`error: cannot list this project's stacks: ${pulumiFailure(e)}\n`);
    return 1;
  }
  try {
    const bucket = await s3.bucketName();
    if (bucket === null) {
      deps.stdout(`No weights mirror in ${settings.region}: SSM parameter ${BUCKET_PARAMETER} does not exist.\n`);
      return 0;
    }
    const snap = await readMirror(s3, bucket);
    const verdicts = snap.models.map((m) => decideModel(m.model, m.bytes, snap.contents.markers, stacks, settings));
    const doomed = snap.models.filter((_, i) => verdicts[i]?.decision === "delete");
    const gone = new Set(doomed.map((m) => m.model.prefix));
    const blobs = blobsToDelete(snap.contents.blobs, keptBlobLists(snap.models, gone), settings);
    deps.stdout(
      `Weights mirror s3://${bucket} (${settings.region}) at ${new Date(settings.now).toISOString()}: delete models no ` +
        `stack uses and no machine used for over ${settings.unusedDays} d${yes ? "" : " (dry run)"}\n`,
    );
    deps.stdout(
      verdicts.length === 0 ? "No models in the mirror.\n" : `${formatWeightsTable(verdicts, settings.now, yes)}\n`,
    );
    deps.stdout(blobSummary(snap, blobs, yes));
    const blind = blindStacks(stacks);
    if (blind.length > 0) deps.stderr(`warning: kept every model: a stack could not be read: ${blind.join("; ")}\n`);
    let ok = true;
    if (yes && (doomed.length > 0 || blobs.length > 0))
      ok = await deleteUnused(s3, bucket, snap, doomed, stacks, settings, deps);
    else if (!yes && (doomed.length > 0 || blobs.length > 0))
      deps.stdout(
        `${doomed.length} model${doomed.length === 1 ? "" : "s"} and ${blobs.length} blob${blobs.length === 1 ? "" : "s"} ` +
          "would be deleted; run again with --yes to delete.\n",
      );
    return ok && blind.length === 0 ? 0 : 1;
  } catch (e) {
    deps.stderr(`error: the weights mirror in ${settings.region}: ${awsFailure(e)}\n`);
    return 1;
  }
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
