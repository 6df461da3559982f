/**
 * `npm run status`: every stack of this project, one line each: target, model and engine, where it runs,
 * its state, its endpoint's health (a real authenticated GET /v1/models, timed), uptime, the idle clock,
 * TTL and expiry, $/h and cost this month. Reads, never changes: no stack is selected, started or woken
 * (a fleet at zero replicas is not probed, since a keyed request would wake it).
 * Exit codes: 0 every stack read; 1 the stacks could not be listed or a stack could not be read; 2 bad flags.
 */
import path from "node:path";
import {
  awsEc2Lookup,
  awsGroupLookup,
  readStack,
  type Ec2Lookup,
  type GroupLookup,
  type StackRecord as InventoryRecord,
} from "../components/stacks/inventory";
import { pulumiFailure, pulumiWorkspace, type StackWorkspace } from "../components/stacks/workspace";
import { monthCostReader } from "../components/status/monthCost";
import { probeEndpoint, readStatusDoc } from "../components/status/probe";
import type { StatusInput } from "../components/status/rules";
import type { LiveReaders, StatusDeps, StatusOptions, StatusSource } from "../components/status/status";
import { runStatus } from "../components/status/status";
import { parseFlags } from "./cli";

const USAGE = `Usage: npm run --silent status -- [--json] [--watch <seconds>] [--concurrency <n>] [--stack <name>]
  --json              print every stack as one JSON object on stdout
  --watch <s>         redraw the table every s seconds on a terminal, until Ctrl-C
  --concurrency <n>   read at most n stacks at once (default ${8}, 1 to 64)
  --stack <name>      show only this stack
Needs AWS credentials to read instance states and fleets' Auto Scaling groups. Cost this month is an estimate.`;

const OPTIONS = {
  json: { type: "boolean" },
  watch: { type: "string" },
  concurrency: { type: "string" },
  stack: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** The CLI's world: the run's dependencies and whether stdout is a terminal (for --watch). */
export interface StatusCliDeps {
  readonly status: StatusDeps;
  readonly stdoutTty: boolean;
}

/** A flag value as a number in [min, max], or the error line naming the flag, the value and the valid range. */
function numberFlag(flag: string, raw: string, min: number, max: number, integer: boolean): number | string {
  const n = Number(raw);
  if (raw.trim() === "" || !Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n)))
    return `--${flag} "${raw}": not ${integer ? "a whole number" : "a number of seconds"} from ${min} to ${max}; e.g. --${flag} ${integer ? 4 : 10}.`;
  return n;
}

/** The flags as run options, or the error line for stderr. */
function optionsOf(
  v: NonNullable<ReturnType<typeof parseFlags<typeof OPTIONS>>>,
  tty: boolean,
): StatusOptions | string {
  const concurrency = v.concurrency === undefined ? 8 : numberFlag("concurrency", v.concurrency, 1, 64, true);
  if (typeof concurrency === "string") return concurrency;
  const watch = v.watch === undefined ? undefined : numberFlag("watch", v.watch, 1, 3600, false);
  if (typeof watch === "string") return watch;
  if (watch !== undefined && v.json === true)
    return "--watch redraws a table; it does not combine with --json. Run --json alone, e.g. from a loop.";
  if (watch !== undefined && !tty)
    return "--watch redraws a terminal, and stdout is not one. Run without --watch (or with --json) when piping.";
  return { json: v.json === true, watchSeconds: watch, concurrency, stack: v.stack };
}

/** Parse the flags and run; resolves to the exit code. */
export async function runStatusCli(argv: readonly string[], deps: StatusCliDeps): Promise<number> {
  const v = parseFlags(argv, OPTIONS, USAGE);
  if (v === null) return 2;
  if (v.help === true) {
    deps.status.out(`${USAGE}\n`);
    return 0;
  }
  const opts = optionsOf(v, deps.stdoutTty);
  if (typeof opts === "string") {
    deps.status.err(`error: ${opts}\n${USAGE}\n`);
    return 2;
  }
  return runStatus(opts, deps.status);
}

/** The shared inventory's record (components/stacks/inventory.ts) as the status view's input. */
export function statusInputOf(r: InventoryRecord): StatusInput {
  const m = r.machine;
  return {
    name: r.name,
    readError: r.error,
    outputs: r.outputs ?? {},
    deployedConfig: r.deployedConfig,
    ...(m.kind === "instance" ? { instance: m.instance, instanceError: m.error } : {}),
    ...(m.kind === "group" ? { group: m.group, groupError: m.error } : {}),
  };
}

/** What the inventory source reads through: the workspace, EC2 and Auto Scaling (fakes in tests). */
export interface InventoryReaders {
  readonly workspace: StackWorkspace;
  readonly ec2: Ec2Lookup;
  readonly autoScaling: GroupLookup;
}

/**
 * The stacks through the workspace and the shared inventory's per-stack read, outputs read with secrets
 * shown (the probe needs each stack's API key); the run bounds how many are read at once.
 */
export function inventorySource(
  readers: InventoryReaders,
  seen: Map<string, InventoryRecord> = new Map(),
): StatusSource {
  const deps = { ...readers, concurrency: 1, showSecrets: true };
  return {
    async list() {
      try {
        return await readers.workspace.listStacks();
      } catch (e) {
        throw new Error(pulumiFailure(e));
      }
    },
    read: async (listing) => {
      const record = await readStack(deps, listing);
      seen.set(record.name, record);
      return statusInputOf(record);
    },
  };
}

/** This month's cost of each stack the source has read, through the shared reader (CloudTrail, scaling activities). */
export function monthCostOf(
  seen: ReadonlyMap<string, InventoryRecord>,
  reader: ReturnType<typeof monthCostReader> = monthCostReader(),
): LiveReaders["monthCost"] {
  return async (input, now) => {
    const record = seen.get(input.name);
    if (record === undefined) return { unavailable: "the stack was not read" };
    const cost = await reader(record, now);
    return "unavailable" in cost ? cost : { usd: cost.usd, basis: cost.basis };
  };
}

/** The real world: the Pulumi CLI, EC2 and Auto Scaling through the AWS SDK, the endpoints, the system clock. */
function realDeps(): StatusCliDeps {
  const seen = new Map<string, InventoryRecord>();
  return {
    stdoutTty: process.stdout.isTTY === true,
    status: {
      source: inventorySource(
        { workspace: pulumiWorkspace(), ec2: awsEc2Lookup(), autoScaling: awsGroupLookup() },
        seen,
      ),
      probe: (endpoint, apiKey, model) => probeEndpoint(endpoint, apiKey, model),
      statusDoc: (url, apiKey) => readStatusDoc(url, apiKey),
      monthCost: monthCostOf(seen),
      now: () => Date.now(),
      out: (text) => void process.stdout.write(text),
      err: (text) => void process.stderr.write(text),
      progressTty: process.stderr.isTTY === true,
      signals: process,
      timers: { set: (fn, ms) => setTimeout(fn, ms), clear: (h) => clearTimeout(h as NodeJS.Timeout) },
    },
  };
}

/** The test-only hook's variable: a module under this checkout's test/ folder that replaces the real world. */
export const TEST_FAKES_ENV = "QWEN3_SERVE_STATUS_TEST_FAKES";

/**
 * The world the CLI runs in: the real one, unless the test-only variable names a module inside this
 * checkout's test/ folder (which is never published: package.json "files" is dist/ only); any other path
 * is refused, so the variable cannot point the command at arbitrary code.
 */
function worldOf(env: NodeJS.ProcessEnv): StatusCliDeps {
  const file = env[TEST_FAKES_ENV];
  if (file === undefined || file === "") return realDeps();
  const testDir = `${path.resolve(__dirname, "..", "test")}${path.sep}`;
  const abs = path.resolve(file);
  if (!abs.startsWith(testDir)) throw new Error(`${TEST_FAKES_ENV} must name a module under ${testDir}`);
  const mod = require(abs) as { statusCliDeps: () => StatusCliDeps };
  return mod.statusCliDeps();
}

// Run only as the entry point, so tests can import runStatusCli without starting a reading.
if (require.main === module) {
  runStatusCli(process.argv.slice(2), worldOf(process.env)).then(
    (code) => {
      // Exit once stdout has drained: under --watch, reads still in flight at Ctrl-C (pulumi child processes,
      // SDK sockets) must not hold the process open.
      process.stdout.write("", () => process.exit(code));
    },
    (e: unknown) => {
      process.stderr.write(`bug: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exit(1);
    },
  );
}
