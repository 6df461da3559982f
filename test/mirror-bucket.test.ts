/**
 * The shared weights bucket (components/mirror/bucket.ts) under Pulumi mocks: the exact inputs of the bucket, its
 * ownership, public-access block, encryption, lifecycle, policy, gateway endpoints and SSM parameter; and the
 * decisions of `npm run shared` (scripts/shared.ts). What this proves: the inputs we send to AWS, not that AWS
 * accepts them.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UserError } from "../components/errors/userError";
import { WeightsBucket } from "../components/mirror/bucket";
import { gatewayVpc, sharedRequest } from "../scripts/shared";
import { ofType, outputValue, resolveAll, settle, useMocks } from "./helpers/pulumiMocks";

const BUCKET = "qwen3-serve-weights-5f3a9c0e1d2b";
const only = (type: string): Record<string, unknown> => {
  const all = ofType(type);
  assert.equal(all.length, 1, `one ${type}`);
  return all[0]?.inputs ?? {};
};

describe("WeightsBucket", () => {
  const declare = async (): Promise<WeightsBucket> => {
    await useMocks();
    const b = new WeightsBucket("weights", {
      region: "eu-west-1",
      vpcs: [
        { vpcId: "vpc-0aaaaaaaaaaaaaaaa", routeTableIds: ["rtb-01", "rtb-02"] },
        { vpcId: "vpc-0bbbbbbbbbbbbbbbb", routeTableIds: ["rtb-03"], existingEndpointId: "vpce-0theirs" },
      ],
    });
    await resolveAll({ a: b.bucketName, b: b.bucketArn, c: b.endpointIds });
    await settle();
    return b;
  };

  it("a private bucket named qwen3-serve-weights-<12 random hex>, forceDestroy false; ACLs off; all four public-access flags on", async () => {
    await declare();
    assert.deepEqual(only("random:index/randomId:RandomId"), { byteLength: 6 });
    assert.equal(only("aws:s3/bucket:Bucket").bucket, BUCKET);
    assert.equal(only("aws:s3/bucket:Bucket").forceDestroy, false);
    assert.deepEqual(only("aws:s3/bucketOwnershipControls:BucketOwnershipControls").rule, {
      objectOwnership: "BucketOwnerEnforced",
    });
    const { bucket: _b, ...block } = only("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock");
    assert.deepEqual(block, {
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    });
  });

  it(
    "SSE-S3 (AES256) with bucketKeyEnabled; lifecycle aborts uploads under v1/ after 1 " +
      "day, expires v1/used/ after 90 and fleets' compile caches (v1/cache/) after 30",
    async () => {
      await declare();
      assert.deepEqual(
        only("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration").rules,
        [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" }, bucketKeyEnabled: true }],
      );
      assert.deepEqual(only("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").rules, [
        {
          id: "abort-incomplete-uploads",
          status: "Enabled",
          filter: { prefix: "v1/" },
          abortIncompleteMultipartUpload: { daysAfterInitiation: 1 },
        },
        { id: "expire-used-markers", status: "Enabled", filter: { prefix: "v1/used/" }, expiration: { days: 90 } },
        { id: "expire-compile-caches", status: "Enabled", filter: { prefix: "v1/cache/" }, expiration: { days: 30 } },
      ]);
    },
  );

  it("the bucket policy denies plain HTTP, and any write without If-None-Match except Ollama layers and used markers", async () => {
    await declare();
    assert.deepEqual(JSON.parse(String(only("aws:s3/bucketPolicy:BucketPolicy").policy)), {
      Version: "2012-10-17",
      Statement: [
        {
          Sid: "DenyInsecureTransport",
          Effect: "Deny",
          Principal: "*",
          Action: "s3:*",
          Resource: [`arn:aws:s3:::${BUCKET}`, `arn:aws:s3:::${BUCKET}/*`],
          Condition: { Bool: { "aws:SecureTransport": "false" } },
        },
        {
          Sid: "DenyModelOverwrite",
          Effect: "Deny",
          Principal: "*",
          Action: "s3:PutObject",
          NotResource: [`arn:aws:s3:::${BUCKET}/v1/ollama/blobs/*`, `arn:aws:s3:::${BUCKET}/v1/used/*`],
          Condition: { Null: { "s3:if-none-match": "true" }, Bool: { "s3:ObjectCreationOperation": "true" } },
        },
      ],
    });
  });

  it("one S3 gateway endpoint, only for the VPC without one, on all its route tables; the other's is reused", async () => {
    const b = await declare();
    const { tags, ...endpoint } = only("aws:ec2/vpcEndpoint:VpcEndpoint");
    assert.deepEqual(endpoint, {
      vpcId: "vpc-0aaaaaaaaaaaaaaaa",
      serviceName: "com.amazonaws.eu-west-1.s3",
      vpcEndpointType: "Gateway",
      routeTableIds: ["rtb-01", "rtb-02"],
    });
    assert.deepEqual(tags, { "qwen3-serve:weights-endpoint": "true" });
    assert.deepEqual(await outputValue(b.endpointIds), {
      "vpc-0bbbbbbbbbbbbbbbb": "vpce-0theirs",
      "vpc-0aaaaaaaaaaaaaaaa": "weights-s3-vpc-0aaaaaaaaaaaaaaaa-id",
    });
  });

  it("publishes the bucket name as a String SSM parameter at /qwen3-serve/shared/weights-bucket", async () => {
    const b = await declare();
    const { description: _d, tags: _t, ...param } = only("aws:ssm/parameter:Parameter");
    assert.deepEqual(param, {
      name: "/qwen3-serve/shared/weights-bucket",
      type: "String",
      tier: "Standard",
      insecureValue: BUCKET,
    });
    assert.equal(await outputValue(b.bucketArn), `arn:aws:s3:::${BUCKET}`);
  });
});

describe("npm run shared: decisions", () => {
  it("a VPC with someone else's S3 gateway endpoint reuses it; with ours (tagged) or none, the stack declares one", () => {
    assert.deepEqual(gatewayVpc("vpc-01234567", ["rtb-2", "rtb-1"], [{ id: "vpce-0x", tags: {} }]), {
      vpcId: "vpc-01234567",
      routeTableIds: ["rtb-1", "rtb-2"],
      existingEndpointId: "vpce-0x",
    });
    assert.deepEqual(
      gatewayVpc("vpc-01234567", ["rtb-1"], [{ id: "vpce-0ours", tags: { "qwen3-serve:weights-endpoint": "true" } }]),
      { vpcId: "vpc-01234567", routeTableIds: ["rtb-1"] },
    );
    assert.deepEqual(gatewayVpc("vpc-01234567", ["rtb-1"], []), { vpcId: "vpc-01234567", routeTableIds: ["rtb-1"] });
  });

  it("the command line: an action of up, preview or destroy, a region, VPC ids; each mistake a UserError naming it", () => {
    assert.deepEqual(sharedRequest("up", "eu-west-1", ["vpc-0123abcd", "vpc-0123abcd"]), {
      action: "up",
      region: "eu-west-1",
      vpcs: ["vpc-0123abcd"],
    });
    const refused = (f: () => unknown, key: string): void =>
      assert.throws(f, (e: unknown) => e instanceof UserError && e.key === key);
    refused(() => sharedRequest("apply", "eu-west-1", []), "action");
    refused(() => sharedRequest("up", undefined, []), "--region");
    refused(() => sharedRequest("up", "Europe", []), "--region");
    refused(() => sharedRequest("up", "eu-west-1", ["subnet-0123abcd"]), "--vpc");
    assert.throws(
      () => sharedRequest("apply", "eu-west-1", []),
      (e: unknown) => e instanceof UserError && /Valid choices: up, preview, destroy/.test(e.message),
    );
  });
});
