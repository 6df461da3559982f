/**
 * The `npm run status` run: list the stacks, read each one (its deployment, its endpoint's health, its
 * bootstrap status and its cost) with at most N stacks in flight, then print one line per stack, or one
 * JSON object; with a refresh interval, redraw a terminal until Ctrl-C. Everything it reaches is
 * injected ({@link StatusDeps}), so tests run it against fakes. Decisions and wording: `./rules.ts`.
 *
 * Exit codes: 0 every stack was read (a dead endpoint is part of the report, not a failure); 1 the stacks
 * could not be listed, or a stack could not be read (its line says why; the others are still shown);
 * 2 a --stack that names no listed stack.
 */
import { mapBounded } from "../stacks/inventory";
import type { StackListing } from "../stacks/workspace";
import {
  factsFromRecord,
  formatStatusTable,
  probePlan,
  statusDocument,
  type MonthCost,
  type ProbeResult,
  type StackFacts,
  type StatusInput,
} from "./rules";

/** Where the stacks come from: the inventory behind a list and a per-stack read. */
export interface StatusSource {
  /** The backend's stacks of this project. Throws (with the reason as its message) when they cannot be listed. */
  list(): Promise<readonly StackListing[]>;
  /**
   * One stack's deployment: outputs with secrets shown (the probe needs the API key), the last update's
   * config, and its EC2 instance or its fleet's group. A failure belongs in `readError`; a throw is taken as one.
   */
  read(listing: StackListing): Promise<StatusInput>;
}

/** The live reads of one stack. */
export interface LiveReaders {
  /** `GET <endpoint>/models` with the key (./probe.ts probeEndpoint); never throws. */
  probe(endpoint: string, apiKey: string, model: string): Promise<ProbeResult>;
  /** The bootstrap status document, or why it could not be read (./probe.ts readStatusDoc); never throws. */
  statusDoc(statusUrl: string, apiKey: string): Promise<{ readonly doc: unknown } | { readonly error: string }>;
  /** Cost so far this month for a stack of this program, or why there is none; a throw is taken as unavailable. */
  monthCost(record: StatusInput, now: number): Promise<MonthCost | { readonly unavailable: string }>;
}

/** Something that delivers SIGINT (process, or a fake in tests). */
export interface SignalSource {
  on(event: "SIGINT", listener: () => void): unknown;
  off(event: "SIGINT", listener: () => void): unknown;
}

/** Timers for --watch (the real ones, or a fake in tests). */
export interface Timers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

/** Everything the run reaches. */
export interface StatusDeps extends LiveReaders {
  readonly source: StatusSource;
  /** Epoch milliseconds. */
  now(): number;
  /** Standard output: the table, the JSON, the --watch screen. */
  out(text: string): void;
  /** Standard error: the progress line, errors and warnings. */
  err(text: string): void;
  /** Standard error is a terminal: show a live progress line while reading. */
  readonly progressTty: boolean;
  readonly signals: SignalSource;
  readonly timers: Timers;
}

/** What the flags asked for (scripts/status.ts validates them). */
export interface StatusOptions {
  readonly json: boolean;
  /** Redraw every this many seconds until SIGINT; undefined for one reading. */
  readonly watchSeconds?: number | undefined;
  /** Most stacks read at once. */
  readonly concurrency: number;
  /** Show only this stack (its listed name, or the name without `organization/project/`). */
  readonly stack?: string | undefined;
}

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** One stack, read and probed: a read that throws becomes that stack's reason, never the run's failure. */
async function readOne(listing: StackListing, deps: StatusDeps, now: number): Promise<StackFacts> {
  let record: StatusInput;
  try {
    record = await deps.source.read(listing);
  } catch (e) {
    record = { name: listing.name, outputs: {}, deployedConfig: {}, readError: message(e) };
  }
  const live = probePlan(record);
  const [probe, statusDoc, month] = await Promise.all([
    live === undefined ? undefined : deps.probe(live.endpoint, live.apiKey, live.model),
    live?.statusUrl === undefined ? undefined : deps.statusDoc(live.statusUrl, live.apiKey),
    record.readError !== undefined || Object.keys(record.outputs).length === 0
      ? undefined
      : deps.monthCost(record, now).catch((e: unknown) => ({ unavailable: message(e) })),
  ]);
  return factsFromRecord(record, { probe, statusDoc, month });
}

/** The stacks to read: all listed, or the one --stack names; a name not listed is a string of the choices. */
function pick(listings: readonly StackListing[], stack: string | undefined): readonly StackListing[] | string {
  if (stack === undefined) return listings;
  const short = (n: string): string => n.slice(n.lastIndexOf("/") + 1);
  const found = listings.filter((l) => l.name === stack || short(l.name) === stack);
  if (found.length > 0) return found.slice(0, 1);
  const names = listings.map((l) => l.name);
  return `--stack "${stack}": no such stack in this project. Listed: ${names.length > 0 ? names.join(", ") : "none"}.`;
}

/** One reading's outcome: what to print and the exit code. */
interface Reading {
  readonly code: number;
  /** The table or the JSON (empty when the stacks could not be listed). */
  readonly text: string;
  /** Errors and warnings for stderr. */
  readonly errors: string;
}

/** List, read every stack with the bound (a live progress line on a terminal), and render. */
async function reading(opts: StatusOptions, deps: StatusDeps, live: boolean): Promise<Reading> {
  let listings: readonly StackListing[];
  try {
    listings = await deps.source.list();
  } catch (e) {
    return { code: 1, text: "", errors: `error: cannot list this project's stacks: ${message(e)}\n` };
  }
  const chosen = pick(
    [...listings].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    opts.stack,
  );
  if (typeof chosen === "string") return { code: 2, text: "", errors: `error: ${chosen}\n` };
  const now = deps.now();
  const progress = (done: number): void => {
    if (live) deps.err(`\r\x1b[2KReading stacks: ${done}/${chosen.length}`);
  };
  progress(0);
  const facts = await mapBounded(chosen, opts.concurrency, (l) => readOne(l, deps, now), progress);
  if (live) deps.err("\r\x1b[2K");
  const unread = facts.filter((f) => f.problem?.startsWith("cannot read") === true).map((f) => f.name);
  const errors = unread.length > 0 ? `warning: could not read: ${unread.join(", ")}\n` : "";
  if (opts.json)
    return {
      code: unread.length > 0 ? 1 : 0,
      text: `${JSON.stringify(
        statusDocument(facts, now, (t) => new Date(t).toISOString()),
        null,
        2,
      )}\n`,
      errors,
    };
  const text = facts.length === 0 ? "No stacks in this project.\n" : `${formatStatusTable(facts, now)}\n`;
  return { code: unread.length > 0 ? 1 : 0, text, errors };
}

// ANSI: hide and show the cursor, home and clear the screen (ECMA-48 / DEC private modes, as every terminal reads them).
const HIDE_CURSOR = "\x1b[?25l";
const SHOW_CURSOR = "\x1b[?25h";
const CLEAR_SCREEN = "\x1b[H\x1b[2J";

/** Redraw every `seconds` until SIGINT; then clear the timer, show the cursor again and resolve 0. */
function watch(opts: StatusOptions, deps: StatusDeps, seconds: number): Promise<number> {
  return new Promise((resolve) => {
    let timer: unknown;
    let stopped = false;
    const stop = (): void => {
      stopped = true;
      deps.timers.clear(timer);
      deps.signals.off("SIGINT", stop);
      deps.out(`${SHOW_CURSOR}\n`);
      resolve(0);
    };
    deps.signals.on("SIGINT", stop);
    deps.out(HIDE_CURSOR);
    const tick = async (): Promise<void> => {
      const r = await reading(opts, deps, false);
      if (stopped) return;
      const when = new Date(deps.now()).toISOString().replace(/\.\d+Z$/, "Z");
      const head = `qwen3-serve status at ${when}, every ${seconds} s (Ctrl-C to stop)\n\n`;
      deps.out(`${CLEAR_SCREEN}${head}${r.text}${r.errors}`);
      timer = deps.timers.set(() => void tick(), seconds * 1000);
    };
    void tick();
  });
}

/** Run the status view; resolves to the exit code. */
export async function runStatus(opts: StatusOptions, deps: StatusDeps): Promise<number> {
  if (opts.watchSeconds !== undefined) return watch(opts, deps, opts.watchSeconds);
  const r = await reading(opts, deps, deps.progressTty);
  deps.out(r.text);
  deps.err(r.errors);
  return r.code;
}
