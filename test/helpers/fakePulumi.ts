/**
 * A fake Pulumi backend for test/fixtures/fake-pulumi.js: one JSON state file per call, and the
 * CLI runner over it, as the reaper and the smoke client run the real CLI.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after } from "node:test";
import { pulumiCli } from "../../components/stacks/workspace";

const ROOT = path.resolve(__dirname, "..", "..");
/** The fake `pulumi` executable. */
export const FAKE_PULUMI = path.join(ROOT, "test", "fixtures", "fake-pulumi.js");

/** One stack in the fake Pulumi backend (see test/fixtures/fake-pulumi.js). */
export interface FakeStack {
  name: string;
  project: string;
  lastUpdate?: string;
  updateInProgress?: boolean;
  resourceCount: number;
  outputs: Record<string, unknown>;
  secretOutputs?: string[];
  /** The checkout's stack file. */
  config?: Record<string, string>;
  secretConfig?: string[];
  /** Updates, newest first, each with the config it ran with. */
  history: { kind: string; config: Record<string, string> }[];
  destroyFails?: string;
  outputFails?: string;
}

/** The fake backend: a legacy file backend unless `legacy` is false, with the selected stack in `current`. */
export interface FakeBackend {
  legacy: boolean;
  supportsProgress?: boolean;
  project: string;
  current: string | null;
  stacks: FakeStack[];
  listFails?: string;
  calls: string[][];
  destroyed: string[];
}

const tmp = mkdtempSync(path.join(os.tmpdir(), "fake-pulumi-"));
after(() => rmSync(tmp, { recursive: true, force: true }));
let backends = 0;

/** Write a fake backend and return the CLI runner over it, and a reader for its state afterwards. */
export function fakePulumi(backend: Omit<FakeBackend, "calls" | "destroyed">): {
  run: ReturnType<typeof pulumiCli>;
  state: () => FakeBackend;
  edit: (change: (b: FakeBackend) => void) => void;
} {
  const file = path.join(tmp, `backend-${++backends}.json`);
  writeFileSync(file, JSON.stringify({ ...backend, calls: [], destroyed: [] }));
  return {
    run: pulumiCli({ command: FAKE_PULUMI, workDir: ROOT, env: { ...process.env, FAKE_PULUMI_STATE: file } }),
    state: () => JSON.parse(readFileSync(file, "utf8")) as FakeBackend,
    // What another person's `pulumi` run would leave in the backend, written at once.
    edit: (change) => {
      const b = JSON.parse(readFileSync(file, "utf8")) as FakeBackend;
      change(b);
      writeFileSync(file, JSON.stringify(b));
    },
  };
}
