/**
 * `npm run shared -- up|preview|destroy --region <r> [--vpc <vpc-id> ...]`: the account's one weights-mirror
 * stack per region (project qwen3-serve-shared, stack named after the region), through the Pulumi Automation API
 * with an inline program, in the same backend as this project's stacks. It declares
 * components/mirror/bucket.ts's WeightsBucket for the default VPC and every --vpc, reusing an S3 gateway endpoint
 * a VPC already has (a route table takes only one).
 */
import type * as Ec2Sdk from "@aws-sdk/client-ec2";
import { readFileSync } from "node:fs";
import path from "node:path";
import { parse } from "yaml";
import { UserError, isUserError } from "../components/errors/userError";
import { ENDPOINT_OWNER_TAG, type GatewayVpc, WeightsBucket } from "../components/mirror/bucket";
import { SHARED_PROJECT } from "../components/mirror/keys";
import { PROJECT_DIR, pulumiFailure } from "../components/stacks/workspace";
import { parseFlags } from "./cli";

/** What the command does to the region's shared stack. */
export const SHARED_ACTIONS = ["up", "preview", "destroy"] as const;
/** One of {@link SHARED_ACTIONS}. */
export type SharedAction = (typeof SHARED_ACTIONS)[number];

const USAGE = "usage: npm run shared -- up|preview|destroy --region <region> [--vpc <vpc-id> ...]";
const OPTIONS = {
  region: { type: "string" },
  vpc: { type: "string", multiple: true },
  help: { type: "boolean" },
} as const;

/** The parsed command line. */
export interface SharedRequest {
  readonly action: SharedAction;
  readonly region: string;
  /** VPCs besides the default one. */
  readonly vpcs: readonly string[];
}

/** The action word, region and VPC ids, checked; a UserError names the bad one. */
export function sharedRequest(
  action: string | undefined,
  region: string | undefined,
  vpcs: readonly string[],
): SharedRequest {
  if (!SHARED_ACTIONS.includes(action as SharedAction))
    throw new UserError({
      key: "action",
      value: action ?? "(none)",
      problem: "the first word says what to do with the region's shared stack.",
      hint: USAGE,
      choices: [...SHARED_ACTIONS],
    });
  if (region === undefined || !/^[a-z]{2}(-gov)?(-[a-z]+)+-\d+$/.test(region))
    throw new UserError({
      key: "--region",
      value: region ?? "(none)",
      problem: "one bucket serves one region: name it, as AWS spells it (us-east-1).",
      hint: USAGE,
    });
  const bad = vpcs.find((v) => !/^vpc-[0-9a-f]{8,17}$/.test(v));
  if (bad !== undefined)
    throw new UserError({
      key: "--vpc",
      value: bad,
      problem: "not a VPC id (vpc- and 8 or 17 hex digits).",
      hint: USAGE,
    });
  return { action: action as SharedAction, region, vpcs: [...new Set(vpcs)] };
}

/** An S3 gateway endpoint as DescribeVpcEndpoints reports it. */
export interface FoundEndpoint {
  readonly id: string;
  readonly tags: Readonly<Record<string, string>>;
}

/**
 * A VPC as the component takes it. An endpoint this stack created (it carries {@link ENDPOINT_OWNER_TAG}) is
 * declared again, or the next `up` would delete it; anyone else's is reused.
 */
export function gatewayVpc(
  vpcId: string,
  routeTableIds: readonly string[],
  endpoints: readonly FoundEndpoint[],
): GatewayVpc {
  const foreign = endpoints.find((e) => e.tags[ENDPOINT_OWNER_TAG] === undefined);
  const ours = endpoints.some((e) => e.tags[ENDPOINT_OWNER_TAG] !== undefined);
  const sorted = [...new Set(routeTableIds)].sort();
  return ours || foreign === undefined
    ? { vpcId, routeTableIds: sorted }
    : { vpcId, routeTableIds: sorted, existingEndpointId: foreign.id };
}

const tagsOf = (tags: readonly Ec2Sdk.Tag[] | undefined): Record<string, string> =>
  Object.fromEntries((tags ?? []).flatMap((t) => (t.Key !== undefined ? [[t.Key, t.Value ?? ""]] : [])));

/** The default VPC (when the region has one) and the given ones, with their route tables and S3 gateway endpoints. */
async function discoverVpcs(region: string, extra: readonly string[]): Promise<GatewayVpc[]> {
  const ec2 = await import("@aws-sdk/client-ec2");
  const client = new ec2.EC2Client({ region });
  const defaults = await client.send(
    new ec2.DescribeVpcsCommand({ Filters: [{ Name: "is-default", Values: ["true"] }] }),
  );
  const ids = [...new Set([...(defaults.Vpcs ?? []).flatMap((v) => (v.VpcId ? [v.VpcId] : [])), ...extra])];
  if (extra.length > 0) await client.send(new ec2.DescribeVpcsCommand({ VpcIds: [...extra] }));
  const out: GatewayVpc[] = [];
  for (const vpcId of ids) {
    const tables = await client.send(
      new ec2.DescribeRouteTablesCommand({ Filters: [{ Name: "vpc-id", Values: [vpcId] }] }),
    );
    const endpoints = await client.send(
      new ec2.DescribeVpcEndpointsCommand({
        Filters: [
          { Name: "vpc-id", Values: [vpcId] },
          { Name: "service-name", Values: [`com.amazonaws.${region}.s3`] },
          { Name: "vpc-endpoint-type", Values: ["Gateway"] },
          { Name: "vpc-endpoint-state", Values: ["pending", "available"] },
        ],
      }),
    );
    out.push(
      gatewayVpc(
        vpcId,
        (tables.RouteTables ?? []).flatMap((t) => (t.RouteTableId ? [t.RouteTableId] : [])),
        (endpoints.VpcEndpoints ?? []).flatMap((e) =>
          e.VpcEndpointId ? [{ id: e.VpcEndpointId, tags: tagsOf(e.Tags) }] : [],
        ),
      ),
    );
  }
  return out;
}

/** This project's backend (Pulumi.yaml's backend.url), so the shared stack sits beside the user's; PULUMI_BACKEND_URL overrides both. */
function projectBackend(): string | undefined {
  const doc = parse(readFileSync(path.join(PROJECT_DIR, "Pulumi.yaml"), "utf8")) as { backend?: { url?: unknown } };
  return typeof doc.backend?.url === "string" ? doc.backend.url : undefined;
}

/** Run the action on the region's shared stack; its output streams to stdout. */
async function runShared(req: SharedRequest, stdout: (t: string) => void): Promise<void> {
  const { LocalWorkspace } = (await import("@pulumi/pulumi")).automation;
  const vpcs = req.action === "destroy" ? [] : await discoverVpcs(req.region, req.vpcs);
  const backend = projectBackend();
  const stack = await LocalWorkspace.createOrSelectStack(
    {
      projectName: SHARED_PROJECT,
      stackName: req.region,
      program: async () => {
        const b = new WeightsBucket("weights", { region: req.region, vpcs, tags: { "qwen3-serve:shared": "true" } });
        return { bucketName: b.bucketName, bucketArn: b.bucketArn, endpointIds: b.endpointIds };
      },
    },
    {
      projectSettings: {
        name: SHARED_PROJECT,
        runtime: "nodejs",
        ...(backend !== undefined ? { backend: { url: backend } } : {}),
      },
    },
  );
  await stack.setConfig("aws:region", { value: req.region });
  const onOutput = (t: string): void => stdout(t);
  if (req.action === "up") await stack.up({ onOutput });
  else if (req.action === "preview") await stack.preview({ onOutput });
  else await stack.destroy({ onOutput });
}

/** The command: resolves to its exit code (2 for a bad command line, 1 for a failed run). */
export async function main(
  argv: readonly string[],
  io: { stdout: (t: string) => void; stderr: (t: string) => void },
): Promise<number> {
  const [action, ...rest] = argv;
  const v = parseFlags(rest, OPTIONS, USAGE);
  if (v === null) return 2;
  if (v.help === true || action === "--help") {
    io.stdout(`${USAGE}\n`);
    return 0;
  }
  let req: SharedRequest;
  try {
    req = sharedRequest(action, v.region, v.vpc ?? []);
  } catch (e) {
    if (!isUserError(e)) throw e;
    io.stderr(`error: ${e.message}\n`);
    return 2;
  }
  try {
    await runShared(req, io.stdout);
    return 0;
  } catch (e) {
    io.stderr(`error: ${pulumiFailure(e)}\n`);
    return 1;
  }
}

// Run only as the entry point, so tests can import the decisions without starting a run.
if (require.main === module) {
  main(process.argv.slice(2), {
    stdout: (t) => void process.stdout.write(t),
    stderr: (t) => void process.stderr.write(t),
  }).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`bug: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
