/**
 * `npm run bake -- -s <stack>`: image a ready machine of an AWS stack into an AMI (engine image,
 * weights and caches on its disk) and print the `aws.amiId` line that pins it. Reads the stack's
 * outputs and last update's config through the Pulumi CLI (components/stacks/workspace.ts: the
 * user's selected stack is never changed), the bootstrap status through the proxy with the stack's
 * key, then runs the EC2 flow in components/bake/bake.ts. Secrets live on tmpfs on the machine
 * (components/machine/lib.sh SECRETS_DIR), so the reboot CreateImage does empties them before the snapshot.
 * Exit codes: 0 the image is available; 1 a read or AWS call failed, or the image failed; 2 bad
 * flags, or a stack that cannot be baked (reason on stderr, no stack trace).
 */
import { bake, BakeError, type BakeEc2, type BakeWaits, checkInstance, sdkBakeEc2 } from "../components/bake/bake";
import { bakeRefusal, bakeTags, bakeTarget, type BakeTarget, imageName, pinText } from "../components/bake/rules";
import { isUserError } from "../components/errors/userError";
import { pulumiFailure, projectName, pulumiWorkspace, type StackWorkspace } from "../components/stacks/workspace";
import { readStatusDoc } from "../components/status/probe";
import { type Bootstrap, bootstrapOf } from "../components/status/rules";
import { parseFlags } from "./cli";

const USAGE = `Usage: npm run --silent bake -- -s <stack> [--instance <id>] [--stop]
  -s, --stack <name>   the AWS stack whose machine to image (it must be ready: npm run status)
  --instance <id>      a fleet: the replica to image (a single machine needs none)
  --stop               stop the machine, image it without a reboot, start it again (single machines only);
                       by default EC2 reboots the machine for the image, which keeps its file systems consistent
Needs AWS credentials (ec2:CreateImage, DescribeImages, DescribeInstances, CreateTags; with --stop, Stop/StartInstances).`;

const OPTIONS = {
  stack: { type: "string", short: "s" },
  instance: { type: "string" },
  stop: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/** What the bake reaches: injectable, so tests run it in-process against fakes. */
export interface BakeDeps {
  readonly workspace: () => StackWorkspace;
  /** The bootstrap state behind a status URL, read with the stack's key. */
  readonly bootstrap: (statusUrl: string, apiKey: string) => Promise<Bootstrap>;
  readonly ec2: (region: string) => BakeEc2;
  readonly waits: BakeWaits;
  readonly project: () => string;
  readonly clock: () => number;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

/** The stack's outputs (secrets shown: the status read needs the key) and last update's config. */
async function readStack(
  ws: StackWorkspace,
  stack: string,
): Promise<{ outputs: Record<string, unknown>; config: Record<string, string> }> {
  return { outputs: await ws.outputs(stack, { showSecrets: true }), config: await ws.deployedConfig(stack) };
}

/** The bootstrap's state, or a refusal when the outputs carry no status URL or key to read it with. */
async function readiness(deps: BakeDeps, outputs: Record<string, unknown>): Promise<Bootstrap> {
  const url = outputs.statusUrl;
  const key = outputs.apiKey;
  if (typeof url !== "string" || !url.startsWith("http") || typeof key !== "string")
    return { state: "unreadable", reason: "the outputs carry no status URL and API key" };
  return deps.bootstrap(url, key);
}

/** The checked target, or the exit code after saying why not. */
async function checkedTarget(
  deps: BakeDeps,
  stack: string,
  instance: string | undefined,
  stop: boolean,
): Promise<{ target: BakeTarget; outputs: Record<string, unknown>; config: Record<string, string> } | number> {
  let read: { outputs: Record<string, unknown>; config: Record<string, string> };
  try {
    read = await readStack(deps.workspace(), stack);
  } catch (e) {
    deps.stderr(`error: cannot read stack ${stack}: ${pulumiFailure(e)}\n`);
    return 1;
  }
  let target: BakeTarget;
  try {
    target = bakeTarget(stack, read.outputs, read.config, instance);
  } catch (e) {
    if (!isUserError(e)) throw e;
    deps.stderr(`error: ${e.relabel((k) => `--${k}`).message}\n`);
    return 2;
  }
  const refusal = bakeRefusal(await readiness(deps, read.outputs), target, stop);
  if (refusal !== undefined) {
    deps.stderr(`error: not baking ${stack}: ${refusal}.\n`);
    return 2;
  }
  return { target, ...read };
}

/** Run the bake with these flags; resolves to the exit code. */
export async function runBake(argv: readonly string[], deps: BakeDeps): Promise<number> {
  const v = parseFlags(argv, OPTIONS, USAGE);
  if (v === null) return 2;
  if (v.help === true) {
    deps.stdout(`${USAGE}\n`);
    return 0;
  }
  if (v.stack === undefined || v.stack === "") {
    deps.stderr(`error: name the stack to bake with -s <stack>.\n${USAGE}\n`);
    return 2;
  }
  const stop = v.stop === true;
  const checked = await checkedTarget(deps, v.stack, v.instance, stop);
  if (typeof checked === "number") return checked;
  const { target, outputs, config } = checked;
  const ec2 = deps.ec2(target.region);
  try {
    await checkInstance(ec2, target.instanceId, target.group);
    const name = imageName(v.stack, new Date(deps.clock()).toISOString());
    deps.stdout(`Baking ${target.instanceId} of stack ${v.stack} (${target.region}) into image "${name}".\n`);
    const tags = bakeTags(v.stack, deps.project(), target, outputs, config);
    const imageId = await bake(ec2, { instanceId: target.instanceId, name, tags, stop }, deps.waits, deps.stdout);
    deps.stdout(`Image ${imageId} is available.\n${pinText(v.stack, imageId)}\n`);
    return 0;
  } catch (e) {
    const what = e instanceof BakeError ? e.message : e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    deps.stderr(`error: bake of ${v.stack} failed: ${what}\n`);
    return 1;
  }
}

/** The real world: the Pulumi CLI, the proxy's status document, EC2 through the SDK, a poll every 15 s for up to 2 h. */
const REAL: BakeDeps = {
  workspace: () => pulumiWorkspace(),
  bootstrap: async (url, key) => {
    const read = await readStatusDoc(url, key);
    return "doc" in read ? bootstrapOf(read.doc) : { state: "unreadable", reason: read.error };
  },
  ec2: (region) => sdkBakeEc2(region),
  waits: { sleep: (ms) => new Promise((r) => setTimeout(r, ms)), pollMs: 15_000, imagePolls: 480, instancePolls: 40 },
  project: () => projectName(),
  clock: () => Date.now(),
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
};

// Run only as the entry point, so tests can import runBake without starting a bake.
if (require.main === module) {
  runBake(process.argv.slice(2), REAL).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`bug: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
