/**
 * The IAM and bucket policy documents of the S3 weights mirror, as plain objects. Pure: the Pulumi side
 * (components/mirror/bucket.ts, components/targets/awsMirror.ts) serialises them into resources.
 *
 * Access is scoped to one model revision's prefix (components/mirror/keys.ts): an instance role may read it,
 * seed it and record that its stack uses it; an engine that streams from S3 gets a second role that can only
 * read it. Nothing here names another prefix, a bucket-level setting or `s3:*`.
 */
import { MIRROR_ROOT, modelPrefix, type MirroredModel, OLLAMA_BLOBS_PREFIX } from "./keys";

/** One IAM policy statement. */
export interface PolicyStatement {
  readonly Sid: string;
  readonly Effect: "Allow" | "Deny";
  readonly Principal?: "*" | { readonly AWS: string };
  readonly Action: string | readonly string[];
  readonly Resource?: string | readonly string[];
  readonly NotResource?: string | readonly string[];
  readonly Condition?: Readonly<Record<string, Readonly<Record<string, string | readonly string[]>>>>;
}

/** A policy document (identity, resource or trust policy). */
export interface PolicyDocument {
  readonly Version: "2012-10-17";
  readonly Statement: readonly PolicyStatement[];
}

const document = (statements: readonly PolicyStatement[]): PolicyDocument => ({
  Version: "2012-10-17",
  Statement: statements,
});

/** The bucket's ARN. */
export const bucketArn = (bucket: string): string => `arn:aws:s3:::${bucket}`;

/** The ARN of the objects under `keyPattern` (a key or a key with wildcards). */
const objectArn = (bucket: string, keyPattern: string): string => `${bucketArn(bucket)}/${keyPattern}`;

/**
 * Key prefixes outside the create-only rule: the used markers (overwritten at each boot) and the Ollama layers.
 * A layer is named by its own SHA-256 and every reader hashes it after download, so a swapped layer is caught
 * anyway; and layers above S3's 5 GiB single-PUT limit go up as multipart uploads, which the AWS CLI's
 * `s3 cp` completes without `If-None-Match`.
 */
export const OVERWRITABLE_PREFIXES = [`${OLLAMA_BLOBS_PREFIX}/`, `${MIRROR_ROOT}/used/`] as const;

/**
 * The bucket policy:
 * - every request without TLS is denied (`aws:SecureTransport`);
 * - a write of any object outside {@link OVERWRITABLE_PREFIXES} (model files, manifests, fleets' compile caches) that does not carry
 *   `If-None-Match: *` is denied, so a verified object cannot be swapped between a check and a load; a corrupt one is deleted, then
 *   written again. The `s3:if-none-match` key, and `s3:ObjectCreationOperation` to exempt CreateMultipartUpload and
 *   UploadPart (which take no conditional header) so only PutObject and CompleteMultipartUpload need it, are the
 *   ones AWS documents for enforcing conditional writes
 *   (https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes-enforce.html, read 2026-11-30).
 *   CopyObject into these prefixes is refused by it too (same page); nothing here copies.
 * A Hugging Face file above 5 GiB therefore cannot be seeded (a single PUT's limit); Qwen's shards are smaller.
 */
export function bucketPolicy(bucket: string): PolicyDocument {
  return document([
    {
      Sid: "DenyInsecureTransport",
      Effect: "Deny",
      Principal: "*",
      Action: "s3:*",
      Resource: [bucketArn(bucket), objectArn(bucket, "*")],
      Condition: { Bool: { "aws:SecureTransport": "false" } },
    },
    {
      Sid: "DenyModelOverwrite",
      Effect: "Deny",
      Principal: "*",
      Action: "s3:PutObject",
      NotResource: OVERWRITABLE_PREFIXES.map((p) => objectArn(bucket, `${p}*`)),
      Condition: { Null: { "s3:if-none-match": "true" }, Bool: { "s3:ObjectCreationOperation": "true" } },
    },
  ]);
}

/** The object ARNs a model's machine reads and seeds: its prefix, and the shared Ollama layers for Ollama. */
function modelObjectArns(bucket: string, models: readonly MirroredModel[]): string[] {
  const arns = models.flatMap((m) => [
    objectArn(bucket, `${modelPrefix(m)}/*`),
    ...(m.source === "ollama" ? [objectArn(bucket, `${OLLAMA_BLOBS_PREFIX}/*`)] : []),
  ]);
  return [...new Set(arns)];
}

/**
 * Read one model: list its prefix (the streamer lists the folder; `s3:prefix` keeps the listing inside it) and
 * get its objects (HeadObject is authorised as GetObject too). Ollama's layers are shared by digest and verified
 * by it, so the read covers `v1/ollama/blobs/*`: the exact layer list is known only from the manifest.
 */
export function readerStatements(bucket: string, models: readonly MirroredModel[]): PolicyStatement[] {
  const prefixes = [...new Set(models.map((m) => `${modelPrefix(m)}/*`))];
  return [
    {
      Sid: "ListOwnModel",
      Effect: "Allow",
      Action: "s3:ListBucket",
      Resource: bucketArn(bucket),
      Condition: { StringLike: { "s3:prefix": prefixes } },
    },
    { Sid: "ReadOwnModel", Effect: "Allow", Action: "s3:GetObject", Resource: modelObjectArns(bucket, models) },
  ];
}

/** What the instance role adds for the mirror: read, seed (and replace a corrupt object), mark used, assume the reader. */
export interface InstanceMirrorGrant {
  readonly bucket: string;
  /** The models of the stack's candidate plans (one, unless a fallback type plans other weights). */
  readonly models: readonly MirroredModel[];
  /** The stack's "last used" marker keys, one per model. */
  readonly usedKeys: readonly string[];
  /** The weights-read role, when the engine streams from S3. */
  readonly readRoleArn?: string;
  /** The stack's compile-cache prefix (keys.ts compileCachePrefix), for a fleet whose engine compiles. */
  readonly compileCachePrefix?: string;
}

/**
 * The instance role's mirror policy: {@link readerStatements}, then PutObject, AbortMultipartUpload and DeleteObject
 * on the same objects for seeding (every replica of a fleet may seed: they share the role), PutObject on the used
 * markers, sts:AssumeRole on exactly the weights-read role when there is one, and for a fleet that shares its
 * compile cache, GetObject and PutObject on its own cache prefix only. No other stack's role reaches that prefix,
 * and the weights-read role never does: what is there is code the engine runs.
 */
export function instanceMirrorPolicy(grant: InstanceMirrorGrant): PolicyDocument {
  const { bucket, models, usedKeys, readRoleArn, compileCachePrefix } = grant;
  return document([
    ...readerStatements(bucket, models),
    {
      Sid: "SeedOwnModel",
      Effect: "Allow",
      Action: ["s3:PutObject", "s3:AbortMultipartUpload", "s3:DeleteObject"],
      Resource: modelObjectArns(bucket, models),
    },
    {
      Sid: "MarkModelUsed",
      Effect: "Allow",
      Action: "s3:PutObject",
      Resource: [...new Set(usedKeys)].map((k) => objectArn(bucket, k)),
    },
    ...(readRoleArn !== undefined
      ? [{ Sid: "AssumeWeightsReader", Effect: "Allow" as const, Action: "sts:AssumeRole", Resource: readRoleArn }]
      : []),
    ...(compileCachePrefix !== undefined
      ? [
          {
            Sid: "ShareOwnCompileCache",
            Effect: "Allow" as const,
            Action: ["s3:GetObject", "s3:PutObject"],
            Resource: [objectArn(bucket, `${compileCachePrefix}/*`)],
          },
        ]
      : []),
  ]);
}

/** The weights-read role's only policy: read the stack's models. It cannot read SSM, write, or list elsewhere. */
export function readRolePolicy(bucket: string, models: readonly MirroredModel[]): PolicyDocument {
  return document(readerStatements(bucket, models));
}

/**
 * The weights-read role's trust policy: only the stack's instance role may assume it. Its sessions are role
 * chaining (the instance role's credentials assume another role), which AWS caps at one hour: "if you assume a
 * role using role chaining and provide a DurationSeconds parameter value greater than one hour, the operation fails"
 * (AssumeRole DurationSeconds,
 * https://docs.aws.amazon.com/sdk-for-kotlin/api/latest/sts/aws.sdk.kotlin.services.sts.model/-assume-role-request/duration-seconds.html,
 * and https://repost.aws/knowledge-center/iam-role-chaining-limit; read 2026-11-30). run-engine.sh asks for 3600 s
 * and assumes the role again at each engine (re)start.
 */
export function readRoleTrust(instanceRoleArn: string): PolicyDocument {
  return document([
    { Sid: "InstanceRoleOnly", Effect: "Allow", Principal: { AWS: instanceRoleArn }, Action: "sts:AssumeRole" },
  ]);
}
