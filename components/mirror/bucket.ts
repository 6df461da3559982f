/**
 * `qwen3-serve:mirror:WeightsBucket`: the one private weights bucket of an account and region, and what
 * reaches it (`npm run shared`, scripts/shared.ts, declares it in its own stack; application stacks only read
 * the SSM parameter it publishes). Owns the bucket, its ownership, public-access block, encryption, lifecycle
 * and policy, an S3 gateway endpoint for each VPC it serves that has none, and the parameter.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { BUCKET_PARAMETER, COMPILE_CACHE_ROOT, MIRROR_ROOT, USED_PREFIX } from "./keys";
import { bucketPolicy } from "./policy";

/** A VPC whose machines read the mirror: its route tables, and its S3 gateway endpoint when it already has one. */
export interface GatewayVpc {
  readonly vpcId: string;
  /** Every route table of the VPC (the main one and those of its subnets). */
  readonly routeTableIds: readonly string[];
  /** An S3 gateway endpoint the VPC has from elsewhere; it is reused, never duplicated. */
  readonly existingEndpointId?: string;
}

/** Inputs of {@link WeightsBucket}. */
export interface WeightsBucketArgs {
  /** The region of the bucket and endpoints (the stack's aws:region). */
  readonly region: string;
  /** The VPCs to reach the bucket from. */
  readonly vpcs: readonly GatewayVpc[];
  /** Tags for every resource that takes them. */
  readonly tags?: Readonly<Record<string, string>>;
}

/** The tag that marks a gateway endpoint as this component's, so a later run declares it again instead of reusing it. */
export const ENDPOINT_OWNER_TAG = "qwen3-serve:weights-endpoint";

/** The VPCs that need an endpoint of their own: those without one (a route table takes one S3 gateway endpoint). */
export function vpcsNeedingEndpoint(vpcs: readonly GatewayVpc[]): GatewayVpc[] {
  return vpcs.filter((v) => v.existingEndpointId === undefined);
}

/**
 * The bucket's lifecycle. Lifecycle cannot tell "unused" (it never sees reads), so `npm run reap --weights`
 * deletes unused models; the rules only abort multipart uploads a crashed seeder left (their parts are billed
 * but invisible), expire used markers no stack has refreshed in 90 days, and expire fleets' compile caches after
 * 30 days: a cache is keyed by the engine's configuration, so a changed stack writes a new key and the old one
 * would stay forever; a fleet whose cache expired has its next new replica compile and share it again.
 */
export const LIFECYCLE_RULES = [
  {
    id: "abort-incomplete-uploads",
    status: "Enabled",
    filter: { prefix: `${MIRROR_ROOT}/` },
    abortIncompleteMultipartUpload: { daysAfterInitiation: 1 },
  },
  { id: "expire-used-markers", status: "Enabled", filter: { prefix: `${USED_PREFIX}/` }, expiration: { days: 90 } },
  {
    id: "expire-compile-caches",
    status: "Enabled",
    filter: { prefix: `${COMPILE_CACHE_ROOT}/` },
    expiration: { days: 30 },
  },
];

/**
 * One region's weights bucket. The name carries 12 random hex digits, so it cannot be guessed and squatted
 * (bucket names are global). `forceDestroy` stays false: a destroy fails on a bucket that still holds models.
 */
export class WeightsBucket extends pulumi.ComponentResource {
  /** The bucket's name (published at {@link BUCKET_PARAMETER}). */
  readonly bucketName: pulumi.Output<string>;
  /** The bucket's ARN. */
  readonly bucketArn: pulumi.Output<string>;
  /** The S3 gateway endpoint of each VPC served, created here or reused, by VPC id. */
  readonly endpointIds: pulumi.Output<Record<string, string>>;

  constructor(name: string, args: WeightsBucketArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("qwen3-serve:mirror:WeightsBucket", name, {}, opts);
    const parent = { parent: this };
    const tags = { ...args.tags };
    const suffix = new random.RandomId(`${name}-suffix`, { byteLength: 6 }, parent);
    const bucket = new aws.s3.Bucket(
      `${name}-bucket`,
      { bucket: pulumi.interpolate`qwen3-serve-weights-${suffix.hex}`, forceDestroy: false, tags },
      parent,
    );
    const guards = this.declareGuards(name, bucket, parent);
    const endpoints = this.declareEndpoints(name, args, tags, parent);
    new aws.ssm.Parameter(
      `${name}-parameter`,
      {
        name: BUCKET_PARAMETER,
        type: "String",
        tier: "Standard",
        // Published only once the bucket refuses public access and plain HTTP, so no machine uses it before.
        insecureValue: bucket.bucket,
        description: "qwen3-serve weights mirror bucket of this region (npm run shared)",
        tags,
      },
      { ...parent, dependsOn: guards },
    );
    this.bucketName = bucket.bucket;
    this.bucketArn = bucket.arn;
    this.endpointIds = endpoints;
    this.registerOutputs({ bucketName: this.bucketName, bucketArn: this.bucketArn, endpointIds: this.endpointIds });
  }

  /** Ownership, public-access block, encryption, lifecycle and policy: the settings no object may escape. */
  private declareGuards(name: string, bucket: aws.s3.Bucket, parent: pulumi.CustomResourceOptions): pulumi.Resource[] {
    const ownership = new aws.s3.BucketOwnershipControls(
      `${name}-ownership`,
      { bucket: bucket.id, rule: { objectOwnership: "BucketOwnerEnforced" } },
      parent,
    );
    const block = new aws.s3.BucketPublicAccessBlock(
      `${name}-public-access`,
      {
        bucket: bucket.id,
        blockPublicAcls: true,
        blockPublicPolicy: true,
        ignorePublicAcls: true,
        restrictPublicBuckets: true,
      },
      parent,
    );
    // SSE-S3, not SSE-KMS: KMS would add a key policy to keep right and a KMS request (and its price and request
    // quota) for each ranged GET the streamer makes; the weights are public models, so a customer key buys nothing.
    // bucketKeyEnabled only matters under SSE-KMS; S3 accepts it with SSE-S3 (aws/aws-cdk#30183, 2024-05), and it
    // keeps a later switch to KMS cheap.
    const encryption = new aws.s3.BucketServerSideEncryptionConfiguration(
      `${name}-encryption`,
      {
        bucket: bucket.id,
        rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" }, bucketKeyEnabled: true }],
      },
      parent,
    );
    const lifecycle = new aws.s3.BucketLifecycleConfiguration(
      `${name}-lifecycle`,
      { bucket: bucket.id, rules: LIFECYCLE_RULES },
      parent,
    );
    // After the public-access block: a policy put before it could race it (and it names no public principal anyway).
    const policy = new aws.s3.BucketPolicy(
      `${name}-policy`,
      { bucket: bucket.id, policy: bucket.bucket.apply((b) => JSON.stringify(bucketPolicy(b))) },
      { ...parent, dependsOn: [block] },
    );
    return [ownership, block, encryption, lifecycle, policy];
  }

  /**
   * A gateway endpoint with the default (full-access) policy on every route table of each VPC that has none. It
   * carries all same-region S3 traffic of those route tables, the user's other workloads' too, so a narrower
   * endpoint policy would break them; the bucket's own policy is where access is limited.
   */
  private declareEndpoints(
    name: string,
    args: WeightsBucketArgs,
    tags: Record<string, string>,
    parent: pulumi.CustomResourceOptions,
  ): pulumi.Output<Record<string, string>> {
    const created = vpcsNeedingEndpoint(args.vpcs).map(
      (v) =>
        [
          v.vpcId,
          new aws.ec2.VpcEndpoint(
            `${name}-s3-${v.vpcId}`,
            {
              vpcId: v.vpcId,
              serviceName: `com.amazonaws.${args.region}.s3`,
              vpcEndpointType: "Gateway",
              routeTableIds: [...v.routeTableIds],
              tags: { ...tags, [ENDPOINT_OWNER_TAG]: "true" },
            },
            parent,
          ).id,
        ] as const,
    );
    const reused = args.vpcs.flatMap((v) =>
      v.existingEndpointId !== undefined ? [[v.vpcId, pulumi.output(v.existingEndpointId)] as const] : [],
    );
    const all = [...reused, ...created];
    return pulumi
      .all(all.map(([, id]) => id))
      .apply((ids): Record<string, string> => Object.fromEntries(all.map(([vpc], i) => [vpc, ids[i] ?? ""])));
  }
}
