/**
 * An AWS stack's side of the S3 weights mirror (`aws.weightsCache: s3`): the pre-flight that finds the region's
 * bucket before anything is declared, the instance role's prefix-scoped S3 access, the weights-read role a
 * streaming engine's credentials come from, and the {@link WeightsMirror} a machine's user data carries. The
 * bucket itself belongs to the shared stack (`npm run shared`, components/mirror/bucket.ts).
 */
import type * as SsmSdk from "@aws-sdk/client-ssm";
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { WEIGHTS_CACHE_MODES } from "../config/schema";
import { streamsFromObjectStore } from "../engines";
import { UserError } from "../errors/userError";
import { hasEngineCache } from "../machine/render";
import {
  BUCKET_PARAMETER,
  compileCachePrefix,
  type MirroredModel,
  modelPrefix,
  usedMarkerKey,
  type WeightsMirror,
} from "../mirror/keys";
import { instanceMirrorPolicy, readRolePolicy, readRoleTrust } from "../mirror/policy";
import type { Plan } from "../sizing/plan";

/** Reads the bucket name the shared stack published in a region; null when the parameter does not exist. */
export type BucketLookup = (region: string) => Promise<string | null>;

/** The shared bucket as the pre-flight found it, and whose used markers the stack writes. */
export interface MirrorArgs {
  readonly bucket: string;
  readonly project: string;
  readonly stack: string;
}

/** GetParameter of {@link BUCKET_PARAMETER} with the SDK's default credentials; ParameterNotFound reads as null. */
export const ssmBucketLookup: BucketLookup = async (region) => {
  const { SSMClient, GetParameterCommand }: typeof SsmSdk = await import("@aws-sdk/client-ssm");
  try {
    const out = await new SSMClient({ region }).send(new GetParameterCommand({ Name: BUCKET_PARAMETER }));
    return out.Parameter?.Value ?? null;
  } catch (e) {
    if (e instanceof Error && e.name === "ParameterNotFound") return null;
    throw e;
  }
};

/** The command that creates the region's bucket. */
const sharedUp = (region: string): string => `npm run shared -- up --region ${region}`;

/**
 * The pre-flight of a stack with `aws.weightsCache: s3`: the bucket name, read from SSM in the stack's region
 * before any resource is declared. No parameter (the shared stack was never brought up there), or no way to read
 * it, is the user's to fix: a UserError that names the command.
 */
export async function findMirrorBucket(region: string, lookup: BucketLookup): Promise<string> {
  let bucket: string | null;
  try {
    bucket = await lookup(region);
  } catch (e) {
    throw new UserError({
      key: "aws.weightsCache",
      value: "s3",
      problem: `could not read SSM parameter ${BUCKET_PARAMETER} in ${region}: ${e instanceof Error ? (e.message.split("\n")[0] ?? e.name) : String(e)}.`,
      hint: "Check the AWS credentials and that they may call ssm:GetParameter there, or set aws.weightsCache: off.",
      choices: [...WEIGHTS_CACHE_MODES],
    });
  }
  if (bucket === null || bucket === "") {
    throw new UserError({
      key: "aws.weightsCache",
      value: "s3",
      problem: `${region} has no weights mirror yet (no SSM parameter ${BUCKET_PARAMETER}).`,
      hint: `Create it once per account and region with \`${sharedUp(region)}\`, or set aws.weightsCache: off.`,
      choices: [...WEIGHTS_CACHE_MODES],
    });
  }
  return bucket;
}

/** The model a plan's machine reads through the mirror; the config requires a revision with the mirror. */
export function mirroredModel(plan: Plan): MirroredModel {
  const { source, ref, revision } = plan.serve.weights;
  if (revision === null) throw new Error("the weights mirror needs modelRevision: the config should have refused it");
  return { source, ref, revision };
}

/** What a machine's user data needs from the mirror wiring: the bucket, the reader role, the used-marker owner. */
export interface MirrorWiring {
  readonly args: MirrorArgs;
  /** The weights-read role's ARN; only when the engine streams. */
  readonly readRoleArn?: pulumi.Output<string>;
  /** The stack's compile-cache prefix; only for a fleet whose engine compiles. */
  readonly compileCachePrefix?: string;
}

/** The mirror settings of one plan's machine, in its region; `compileCache` only where the wiring shares one. */
export function weightsMirrorOf(
  plan: Plan,
  region: string,
  w: MirrorArgs,
  readRoleArn: string,
  compileCache?: string,
): WeightsMirror {
  const prefix = modelPrefix(mirroredModel(plan));
  const stream = streamsFromObjectStore(plan.engine);
  return {
    bucket: w.bucket,
    region,
    prefix,
    stream,
    ...(stream ? { readRoleArn } : {}),
    usedKey: usedMarkerKey(w.project, w.stack, prefix),
    ...(compileCache !== undefined && hasEngineCache(plan) ? { compileCache } : {}),
  };
}

/** What {@link declareMirrorAccess} needs of a component's scope (an AwsScope; named apart to keep imports acyclic). */
export interface MirrorScope {
  readonly name: string;
  readonly parent: pulumi.CustomResourceOptions;
  readonly tags: Record<string, string>;
}

/**
 * The instance role's mirror policy (a third inline policy, `<name>-weights`, so the others keep their inputs)
 * and, when the engine streams, the `<name>-weights-read` role only the instance role may assume. A fleet
 * (`shareCompileCache`) whose engine compiles also gets its stack's compile-cache prefix: a new replica then unpacks
 * what the first one compiled. A single machine keeps its compile cache on its own disk only.
 */
export function declareMirrorAccess(
  { name, parent, tags }: MirrorScope,
  role: aws.iam.Role,
  plans: readonly Plan[],
  args: MirrorArgs,
  opts: { readonly shareCompileCache?: boolean } = {},
): MirrorWiring {
  const cachePrefix =
    opts.shareCompileCache === true && plans.some(hasEngineCache)
      ? compileCachePrefix(args.project, args.stack)
      : undefined;
  const models = plans.map(mirroredModel);
  const usedKeys = models.map((m) => usedMarkerKey(args.project, args.stack, modelPrefix(m)));
  const reader = plans.some((p) => streamsFromObjectStore(p.engine))
    ? new aws.iam.Role(
        `${name}-weights-read`,
        {
          assumeRolePolicy: role.arn.apply((arn) => JSON.stringify(readRoleTrust(arn))),
          description: "qwen3-serve: the engine's read-only access to its model in the weights mirror",
          tags,
        },
        parent,
      )
    : undefined;
  if (reader !== undefined) {
    new aws.iam.RolePolicy(
      `${name}-weights-read`,
      { role: reader.name, policy: JSON.stringify(readRolePolicy(args.bucket, models)) },
      parent,
    );
  }
  const readRoleArn = reader?.arn;
  new aws.iam.RolePolicy(
    `${name}-weights`,
    {
      role: role.name,
      policy: pulumi.output<string | undefined>(readRoleArn).apply((arn) =>
        JSON.stringify(
          instanceMirrorPolicy({
            bucket: args.bucket,
            models,
            usedKeys,
            ...(arn !== undefined ? { readRoleArn: arn } : {}),
            ...(cachePrefix !== undefined ? { compileCachePrefix: cachePrefix } : {}),
          }),
        ),
      ),
    },
    parent,
  );
  return {
    args,
    ...(readRoleArn !== undefined ? { readRoleArn } : {}),
    ...(cachePrefix !== undefined ? { compileCachePrefix: cachePrefix } : {}),
  };
}
