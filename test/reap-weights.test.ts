/**
 * `npm run reap --weights`: the pure rules (components/reaper/weightsRules.ts) by table, and the whole
 * command in-process against a fake Pulumi workspace and an in-memory S3 that pages and refuses like
 * S3 does: ListObjectsV2 returns at most 1,000 keys a page, in key order, with an opaque continuation
 * token; DeleteObjects refuses more than 1,000 keys (MalformedXML) and reports a missing key as deleted
 * (S3 API reference, ListObjectsV2 and DeleteObjects; @aws-sdk/client-s3 3.1169.0 doc comments, read 2026-11-30).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isUserError } from "../components/errors/userError";
import { modelPrefix, usedMarkerKey } from "../components/mirror/keys";
import type { DeleteFailure, ListPage, MirrorS3 } from "../components/reaper/weights";
import {
  blobsToDelete,
  decideModel,
  deleteBatches,
  groupObjects,
  manifestBytes,
  markerModelHash,
  type MirrorModel,
  type MirrorObject,
  ollamaManifestBlobs,
  parseUnusedDays,
  stackMirrorUse,
  type StackUseInput,
  type WeightsSettings,
} from "../components/reaper/weightsRules";
import { type ReapDeps, runReap } from "../scripts/reap";
import { type FakeStatusStack, fakeWorkspace } from "./helpers/statusFakes";

const DAY = 86_400_000;
const NOW = Date.parse("2026-11-30T12:00:00Z");
const SHA_A = "a".repeat(40);
const SHA_B = "b".repeat(40);
const DIGEST = "c".repeat(64);
const BLOB_SHARED = `sha256-${"1".repeat(64)}`;
const BLOB_ORPHAN = `sha256-${"2".repeat(64)}`;
const BLOB_YOUNG = `sha256-${"3".repeat(64)}`;
const HF_A = `v1/hf/Qwen/Qwen3-8B/${SHA_A}`;
const HF_B = `v1/hf/Qwen/Qwen3-8B/${SHA_B}`;
const OLLAMA = `v1/ollama/qwen3/8b/${DIGEST}`;
const SETTINGS: WeightsSettings = { now: NOW, unusedDays: 30, region: "us-east-1" };

const obj = (key: string, size: number, ageDays: number): MirrorObject => ({
  key,
  size,
  lastModified: NOW - ageDays * DAY,
});

describe("weights reaper rules", () => {
  it("groupObjects sorts keys into Hugging Face and Ollama prefixes, blobs, markers and others", () => {
    const g = groupObjects([
      obj(`${HF_A}/config.json`, 10, 40),
      obj(`${HF_A}/model.safetensors`, 90, 41),
      obj(`${HF_A}/.qwen3-serve/manifest.json`, 5, 40),
      obj(`${OLLAMA}/manifest`, 7, 50),
      obj(`v1/ollama/blobs/${BLOB_SHARED}`, 1000, 50),
      obj(usedMarkerKey("qwen3-serve", "dev", HF_A), 60, 3),
      obj("v1/cache/vllm/0.11/89/tp1/x.tar.zst", 123, 1),
    ]);
    assert.deepEqual(
      g.models.map((m) => [m.prefix, m.source, m.keys.length, m.storedBytes, m.newestWrite, m.complete]),
      [
        [HF_A, "hf", 3, 105, NOW - 40 * DAY, true],
        [OLLAMA, "ollama", 1, 7, NOW - 50 * DAY, false],
      ],
    );
    assert.deepEqual(
      g.blobs.map((b) => b.key),
      [`v1/ollama/blobs/${BLOB_SHARED}`],
    );
    assert.deepEqual(g.markers, [
      { user: "qwen3-serve.dev", model: markerModelHash(HF_A), lastModified: NOW - 3 * DAY },
    ]);
    assert.equal(g.other, 1);
  });

  it("markerModelHash is the 16-hex file name keys.ts gives the model's marker", () => {
    assert.match(markerModelHash(HF_A), /^[0-9a-f]{16}$/);
    assert.equal(usedMarkerKey("proj", "stack", HF_A), `v1/used/proj.stack/${markerModelHash(HF_A)}.json`);
  });

  it("manifestBytes sums files[].size; ollamaManifestBlobs lists config and layer digests as blob names", () => {
    assert.equal(
      manifestBytes(
        JSON.stringify({
          files: [
            { path: "a", size: 3 },
            { path: "b", size: 4 },
          ],
        }),
      ),
      7,
    );
    assert.equal(manifestBytes("{not json"), undefined);
    assert.equal(manifestBytes(JSON.stringify({ files: [{ path: "a" }] })), undefined);
    const ollama = {
      schemaVersion: 2,
      config: {
        mediaType: "application/vnd.docker.container.image.v1+json",
        digest: `sha256:${"1".repeat(64)}`,
        size: 5,
      },
      layers: [{ mediaType: "application/vnd.ollama.image.model", digest: `sha256:${"4".repeat(64)}`, size: 100 }],
    };
    assert.deepEqual(ollamaManifestBlobs(JSON.stringify(ollama)), {
      blobs: [BLOB_SHARED, `sha256-${"4".repeat(64)}`],
      bytes: 105,
    });
    assert.equal(ollamaManifestBlobs(JSON.stringify({ layers: [{ digest: "md5:x", size: 1 }] })), undefined);
  });

  const weights = (source: string, ref: string, revision: string | null) => ({
    plan: { serve: { weights: { source, ref, revision, expectedBytes: 1 } } },
    awsRegion: "us-east-1",
  });
  const s3Config = { "qwen3-serve:aws": JSON.stringify({ weightsCache: "s3" }) };
  const useCases: [string, Record<string, unknown>, Record<string, string>, unknown][] = [
    ["weightsCache off", weights("hf", "Qwen/Qwen3-8B", SHA_A), { "qwen3-serve:aws": "{}" }, { kind: "none" }],
    ["no aws setting", weights("hf", "Qwen/Qwen3-8B", SHA_A), {}, { kind: "none" }],
    [
      "a Docker target",
      weights("hf", "Qwen/Qwen3-8B", SHA_A),
      { ...s3Config, "qwen3-serve:target": "docker" },
      { kind: "none" },
    ],
    [
      "s3 with Hugging Face weights",
      weights("hf", "Qwen/Qwen3-8B", SHA_A),
      s3Config,
      { kind: "uses", prefix: HF_A, region: "us-east-1" },
    ],
    [
      "s3 with Ollama weights",
      weights("ollama", "qwen3:8b", DIGEST),
      s3Config,
      { kind: "uses", prefix: OLLAMA, region: "us-east-1" },
    ],
    [
      "s3 with no revision in the plan",
      weights("hf", "Qwen/Qwen3-8B", null),
      s3Config,
      { kind: "unknown", reason: "it sets aws.weightsCache s3 but its plan output names no pinned weights revision" },
    ],
  ];
  for (const [what, outputs, config, want] of useCases)
    it(`stackMirrorUse: ${what}`, () => assert.deepEqual(stackMirrorUse(outputs, config), want));

  it("modelPrefix of the test's refs is the prefix the test lists (the fixtures match keys.ts)", () => {
    assert.equal(modelPrefix({ source: "hf", ref: "Qwen/Qwen3-8B", revision: SHA_A }), HF_A);
    assert.equal(modelPrefix({ source: "ollama", ref: "qwen3:8b", revision: DIGEST }), OLLAMA);
  });

  const model = (prefix: string, newestAgeDays: number): MirrorModel => ({
    prefix,
    source: "hf",
    keys: [`${prefix}/config.json`],
    storedBytes: 2 ** 30,
    newestWrite: NOW - newestAgeDays * DAY,
    complete: true,
  });
  const marker = (prefix: string, user: string, ageDays: number) => ({
    user,
    model: markerModelHash(prefix),
    lastModified: NOW - ageDays * DAY,
  });
  const uses = (stack: string, prefix: string, region?: string): StackUseInput => ({
    stack,
    use: { kind: "uses", prefix, region },
  });
  const decisions: [string, Parameters<typeof decideModel>, string, string][] = [
    [
      "a listed stack uses it",
      [model(HF_A, 90), undefined, [], [uses("dev", HF_A, "us-east-1")], SETTINGS],
      "keep",
      "used by stack dev",
    ],
    [
      "a stack whose region is not recorded counts as a user",
      [model(HF_A, 90), undefined, [], [uses("dev", HF_A)], SETTINGS],
      "keep",
      "used by stack dev",
    ],
    [
      "a stack in another region reads another bucket",
      [model(HF_A, 90), undefined, [], [uses("dev", HF_A, "eu-west-1")], SETTINGS],
      "delete",
      "no stack uses it; no machine marked it (limit 30 d)",
    ],
    [
      "a marker 5 days old",
      [model(HF_A, 90), undefined, [marker(HF_A, "other.lab", 5)], [], SETTINGS],
      "keep",
      "a machine used it 5 d ago",
    ],
    [
      "a marker 40 days old",
      [model(HF_A, 90), undefined, [marker(HF_A, "other.lab", 40)], [], SETTINGS],
      "delete",
      "no stack uses it; last used 40 d ago (limit 30 d)",
    ],
    [
      "a marker of another model",
      [model(HF_A, 90), undefined, [marker(HF_B, "other.lab", 1)], [], SETTINGS],
      "delete",
      "no stack uses it; no machine marked it (limit 30 d)",
    ],
    [
      "written 2 days ago (a seed may be running)",
      [model(HF_A, 2), undefined, [], [], SETTINGS],
      "keep",
      "written 2 d ago",
    ],
    [
      "unused while a stack could not be read",
      [model(HF_A, 90), undefined, [], [{ stack: "lab", readError: "no passphrase" }], SETTINGS],
      "keep",
      "unused, but kept: a stack could not be read (lab (no passphrase))",
    ],
  ];
  for (const [what, args, decision, reason] of decisions)
    it(`decideModel: ${what} -> ${decision}`, () => {
      const v = decideModel(...args);
      assert.deepEqual([v.decision, v.reason], [decision, reason]);
    });

  it("decideModel lists stack users then marker users, each once, and the newest marker as last used", () => {
    const v = decideModel(
      model(HF_A, 90),
      123,
      [marker(HF_A, "qwen3-serve.dev", 9), marker(HF_A, "qwen3-serve.dev", 4), marker(HF_A, "x.lab", 6)],
      [uses("dev", HF_A, "us-east-1")],
      SETTINGS,
    );
    assert.deepEqual([v.users, v.lastUsed, v.bytes], [["dev", "qwen3-serve.dev", "x.lab"], NOW - 4 * DAY, 123]);
  });

  it("blobsToDelete: only old blobs no kept manifest lists; none while a kept manifest is unread", () => {
    const blobs = [
      obj(`v1/ollama/blobs/${BLOB_SHARED}`, 10, 90),
      obj(`v1/ollama/blobs/${BLOB_ORPHAN}`, 10, 90),
      obj(`v1/ollama/blobs/${BLOB_YOUNG}`, 10, 1),
    ];
    assert.deepEqual(blobsToDelete(blobs, [[BLOB_SHARED]], SETTINGS), [`v1/ollama/blobs/${BLOB_ORPHAN}`]);
    assert.deepEqual(blobsToDelete(blobs, [[BLOB_SHARED], undefined], SETTINGS), []);
  });

  it("deleteBatches: the completion and Ollama manifests alone first, then at most 1,000 keys a call", () => {
    const keys = [
      `${OLLAMA}/.qwen3-serve/manifest.json`,
      `${OLLAMA}/manifest`,
      ...Array.from({ length: 2499 }, (_, i) => `${OLLAMA}/f${i}`),
    ];
    const batches = deleteBatches(OLLAMA, keys);
    assert.deepEqual(
      batches.map((b) => b.length),
      [2, 1000, 1000, 499],
    );
    assert.deepEqual(batches[0], [`${OLLAMA}/.qwen3-serve/manifest.json`, `${OLLAMA}/manifest`]);
  });

  for (const bad of ["-1", "abc", ""])
    it(`parseUnusedDays refuses "${bad}" with a UserError keyed unused-days`, () => {
      assert.throws(
        () => parseUnusedDays(bad),
        (e) => isUserError(e) && e.key === "unused-days",
      );
    });
});

/** An in-memory bucket that answers like S3 at the MirrorS3 boundary; it records every call. */
class FakeS3 implements MirrorS3 {
  readonly objects = new Map<string, { body: string; size: number; lastModified: number }>();
  readonly calls: string[] = [];
  readonly deleteSizes: number[] = [];
  /** Keys whose delete S3 reports as failed (AccessDenied in the Errors list). */
  readonly denied = new Set<string>();
  /** Runs before each listing of a prefix, e.g. to let a machine write a marker mid-run. */
  onList: (prefix: string) => void = () => {};

  constructor(readonly bucket: string | null) {}

  put(key: string, ageDays: number, body = "x", size = body.length): void {
    this.objects.set(key, { body, size, lastModified: NOW - ageDays * DAY });
  }
  async bucketName(): Promise<string | null> {
    this.calls.push("ssm:GetParameter");
    return this.bucket;
  }
  async listPage(bucket: string, prefix: string, token?: string): Promise<ListPage> {
    assert.equal(bucket, this.bucket);
    if (token === undefined) this.onList(prefix);
    this.calls.push(`list ${prefix}${token === undefined ? "" : " +"}`);
    // S3 lists keys in UTF-8 binary order; the token is opaque (here: the last key, base64).
    const after = token === undefined ? "" : Buffer.from(token, "base64").toString("utf8");
    const keys = [...this.objects.keys()].filter((k) => k.startsWith(prefix) && k > after).sort();
    const page = keys.slice(0, 1000);
    const objects = page.map((key) => {
      const o = this.objects.get(key);
      assert.ok(o !== undefined);
      return { key, size: o.size, lastModified: o.lastModified };
    });
    const last = page[page.length - 1];
    return keys.length > 1000 && last !== undefined
      ? { objects, nextToken: Buffer.from(last).toString("base64") }
      : { objects };
  }
  async getText(_bucket: string, key: string): Promise<string | null> {
    this.calls.push(`get ${key}`);
    return this.objects.get(key)?.body ?? null;
  }
  async deleteObjects(_bucket: string, keys: readonly string[]): Promise<readonly DeleteFailure[]> {
    if (keys.length > 1000)
      throw Object.assign(
        new Error("The XML you provided was not well-formed or did not validate against our published schema"),
        {
          name: "MalformedXML",
        },
      );
    this.calls.push(`delete ${keys.length}`);
    this.deleteSizes.push(keys.length);
    const failed: DeleteFailure[] = [];
    for (const key of keys) {
      if (this.denied.has(key)) failed.push({ key, code: "AccessDenied", message: "Access Denied" });
      // A key that is not there counts as deleted, as S3 reports it.
      else this.objects.delete(key);
    }
    return failed;
  }
}

/** Outputs of an AWS stack of this program whose plan reads the given weights. */
function stackOutputs(source: "hf" | "ollama", ref: string, revision: string): Record<string, unknown> {
  return {
    endpoint: "http://dev.invalid/v1",
    modelName: "m",
    apiKey: "sk-test-key-123456",
    instanceId: "i-0123456789abcdef0",
    awsRegion: "us-east-1",
    plan: {
      version: 1,
      engine: "vllm",
      model: { id: "m" },
      serve: { weights: { source, ref, revision, expectedBytes: 1 } },
    },
  };
}
const S3_ON = { "qwen3-serve:aws": JSON.stringify({ weightsCache: "s3" }) };

/** A bucket with: HF_A used by stack dev; HF_B unused for 60 days with 2,500 files; Ollama unused; blobs. */
function seededBucket(): FakeS3 {
  const s3 = new FakeS3("qwen3-serve-weights-test");
  s3.put(`${HF_A}/model.safetensors`, 90, "w".repeat(10), 5 * 2 ** 30);
  s3.put(
    `${HF_A}/.qwen3-serve/manifest.json`,
    90,
    JSON.stringify({ files: [{ path: "model.safetensors", size: 5 * 2 ** 30 }] }),
  );
  for (let i = 0; i < 2500; i++) s3.put(`${HF_B}/f${String(i).padStart(4, "0")}`, 70, "z");
  s3.put(`${HF_B}/.qwen3-serve/manifest.json`, 70, JSON.stringify({ files: [{ path: "f", size: 2500 }] }));
  s3.put(usedMarkerKey("qwen3-serve", "old", HF_B), 60, "{}");
  const manifest = {
    config: { digest: `sha256:${"1".repeat(64)}`, size: 10 },
    layers: [{ digest: `sha256:${"2".repeat(64)}`, size: 2 ** 20 }],
  };
  s3.put(`${OLLAMA}/manifest`, 80, JSON.stringify(manifest));
  s3.put(`${OLLAMA}/.qwen3-serve/manifest.json`, 80, JSON.stringify({ files: [] }));
  s3.put(`v1/ollama/blobs/${BLOB_SHARED}`, 80, "c", 10);
  s3.put(`v1/ollama/blobs/${BLOB_ORPHAN}`, 80, "o", 2 ** 20);
  return s3;
}

const DEV: FakeStatusStack = { name: "dev", outputs: stackOutputs("hf", "Qwen/Qwen3-8B", SHA_A), config: S3_ON };

interface Run {
  code: number;
  out: string;
  err: string;
}

async function reapWeights(argv: string[], s3: FakeS3, stacks: FakeStatusStack[] = [DEV], env = {}): Promise<Run> {
  const run: Run = { code: -1, out: "", err: "" };
  const deps: ReapDeps = {
    workspace: () => fakeWorkspace(stacks),
    ec2: () => {
      throw new Error("the weights reaper reads no instances");
    },
    project: () => "qwen3-serve",
    clock: () => NOW,
    stdout: (t) => {
      run.out += t;
    },
    stderr: (t) => {
      run.err += t;
    },
    mirror: (region) => {
      assert.equal(region, "us-east-1");
      return s3;
    },
    env,
  };
  run.code = await runReap(argv, deps);
  return run;
}

/** The table row of a prefix, split on runs of two or more spaces. */
function row(out: string, prefix: string): string[] {
  const line = out.split("\n").find((l) => l.startsWith(`${prefix} `));
  assert.ok(line !== undefined, `no row for ${prefix} in:\n${out}`);
  return line.split(/ {2,}/);
}

describe("npm run reap --weights, in-process against a fake workspace and an in-memory S3", () => {
  it("the fake S3 refuses a DeleteObjects of 1,001 keys with MalformedXML, as S3 does", async () => {
    const s3 = new FakeS3("b");
    await assert.rejects(
      s3.deleteObjects(
        "b",
        Array.from({ length: 1001 }, (_, i) => `k${i}`),
      ),
      { name: "MalformedXML" },
    );
  });

  it("a dry run prints prefix, size, last used, users and action per model, reads every page, and deletes nothing", async () => {
    const s3 = seededBucket();
    const before = s3.objects.size;
    const r = await reapWeights(["--weights", "--region", "us-east-1"], s3);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(row(r.out, HF_A), [HF_A, "5.0 GiB", "never marked", "dev", "keep", "used by stack dev"]);
    assert.deepEqual(row(r.out, HF_B), [
      HF_B,
      "2.4 KiB",
      "60 d ago",
      "qwen3-serve.old",
      "would delete",
      "no stack uses it; last used 60 d ago (limit 30 d)",
    ]);
    assert.deepEqual(row(r.out, OLLAMA).slice(0, 5), [OLLAMA, "1.0 MiB", "never marked", "-", "would delete"]);
    assert.match(
      r.out,
      /Ollama blobs: 2 \(1\.0 MiB\); 2 \(1\.0 MiB\) listed by no manifest that stays: would delete\.\n/,
    );
    assert.match(r.out, /2 models and 2 blobs would be deleted; run again with --yes to delete\.\n/);
    assert.equal(s3.objects.size, before);
    // 2,508 keys under v1/: three pages, the second and third with the continuation token.
    assert.deepEqual(
      s3.calls.filter((c) => c.startsWith("list")),
      ["list v1/", "list v1/ +", "list v1/ +"],
    );
  });

  it("--yes deletes the unused prefixes in calls of at most 1,000 keys (manifests first) and the blobs no kept manifest lists", async () => {
    const s3 = seededBucket();
    const r = await reapWeights(["--weights", "--region", "us-east-1", "--yes"], s3);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(s3.deleteSizes, [1, 1000, 1000, 500, 2, 2]);
    const left = [...s3.objects.keys()].sort();
    assert.deepEqual(left, [
      `${HF_A}/.qwen3-serve/manifest.json`,
      `${HF_A}/model.safetensors`,
      usedMarkerKey("qwen3-serve", "old", HF_B),
    ]);
    assert.match(r.out, /Deleted 2 of 2 unused models and 2 of 2 unlisted Ollama blobs\.\n/);
  });

  it("--yes keeps a blob that a kept Ollama manifest still lists", async () => {
    const s3 = seededBucket();
    const other = `v1/ollama/qwen3/4b/${"d".repeat(64)}`;
    s3.put(
      `${other}/manifest`,
      80,
      JSON.stringify({ config: { digest: `sha256:${"1".repeat(64)}`, size: 10 }, layers: [] }),
    );
    const lab: FakeStatusStack = {
      name: "lab",
      outputs: stackOutputs("ollama", "qwen3:4b", "d".repeat(64)),
      config: S3_ON,
    };
    const r = await reapWeights(["--weights", "--region", "us-east-1", "--yes"], s3, [DEV, lab]);
    assert.equal(r.code, 0, r.err);
    assert.ok(s3.objects.has(`v1/ollama/blobs/${BLOB_SHARED}`), "the shared blob is gone");
    assert.ok(!s3.objects.has(`v1/ollama/blobs/${BLOB_ORPHAN}`), "the orphan blob stayed");
  });

  it("--yes keeps a model a machine marked as used between the listing and the delete", async () => {
    const s3 = seededBucket();
    s3.onList = (prefix) => {
      if (prefix === "v1/used/") s3.put(usedMarkerKey("qwen3-serve", "new", HF_B), 0, "{}");
    };
    const r = await reapWeights(["--weights", "--region", "us-east-1", "--yes"], s3);
    assert.equal(r.code, 0, r.err);
    assert.ok(s3.objects.has(`${HF_B}/.qwen3-serve/manifest.json`));
    assert.match(r.out, new RegExp(`Kept ${HF_B} after a fresh look: a machine used it 0 h ago\\.\\n`));
    assert.match(r.out, /Deleted 1 of 2 unused models/);
  });

  it("a stack that cannot be read keeps every model, warns, and exits 1", async () => {
    const s3 = seededBucket();
    const before = s3.objects.size;
    const broken: FakeStatusStack = { name: "lab", outputs: {}, outputFails: "error: passphrase must be set" };
    const r = await reapWeights(["--weights", "--region", "us-east-1", "--yes"], s3, [DEV, broken]);
    assert.equal(r.code, 1);
    assert.equal(s3.objects.size, before);
    assert.match(r.err, /warning: kept every model: a stack could not be read: lab \(passphrase must be set\)/);
  });

  it("a refused delete is reported on stderr, stops that prefix, and exits 1", async () => {
    const s3 = seededBucket();
    s3.denied.add(`${HF_B}/.qwen3-serve/manifest.json`);
    const r = await reapWeights(["--weights", "--region", "us-east-1", "--yes"], s3);
    assert.equal(r.code, 1);
    assert.match(r.err, new RegExp(`error: deleting ${HF_B} failed: ${HF_B}/.qwen3-serve/manifest.json: AccessDenied`));
    assert.ok(s3.objects.has(`${HF_B}/f0000`), "files under a prefix still marked complete were deleted");
  });

  it("no bucket parameter in the region: says so and exits 0", async () => {
    const r = await reapWeights(["--weights", "--region", "us-east-1"], new FakeS3(null));
    assert.equal(r.code, 0);
    assert.equal(
      r.out,
      "No weights mirror in us-east-1: SSM parameter /qwen3-serve/shared/weights-bucket does not exist.\n",
    );
  });

  it("takes the region from AWS_REGION when --region is absent", async () => {
    const r = await reapWeights(["--weights"], new FakeS3(null), [DEV], { AWS_REGION: "us-east-1" });
    assert.equal(r.code, 0, r.err);
  });

  const badFlags: [string[], RegExp][] = [
    [["--weights"], /error: --region = "\(none\)": no region given, and AWS_REGION and AWS_DEFAULT_REGION are unset\./],
    [["--weights", "--region", "mars"], /error: --region = "mars": not an AWS region\./],
    [
      ["--weights", "--region", "us-east-1", "--stopped-for", "3"],
      /error: --stopped-for = "3": does not apply with --weights\./,
    ],
    [
      ["--weights", "--region", "us-east-1", "--unused-days", "x"],
      /error: --unused-days = "x": not a number of days\./,
    ],
    [["--region", "us-east-1"], /error: --region applies only with --weights\./],
  ];
  for (const [argv, message] of badFlags)
    it(`exits 2 on ${argv.join(" ")}`, async () => {
      const r = await reapWeights(argv, new FakeS3(null));
      assert.equal(r.code, 2);
      assert.match(r.err, message);
    });
});
