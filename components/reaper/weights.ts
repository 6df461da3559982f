/**
 * The weights reaper's reach into AWS, kept thin and behind {@link MirrorS3}: the bucket's name from
 * SSM, every key of the mirror through ListObjectsV2 pages, the manifests, and DeleteObjects in
 * calls of at most 1,000 keys. Decisions live in ./weightsRules.ts; this file only gathers and acts.
 * The SDKs load on first use (a dynamic import), as in components/stacks/inventory.ts.
 */
import type * as S3Sdk from "@aws-sdk/client-s3";
import type * as SsmSdk from "@aws-sdk/client-ssm";
import { BUCKET_PARAMETER, MANIFEST_NAME, MIRROR_ROOT, USED_PREFIX } from "../mirror/keys";
import { DEFAULT_CONCURRENCY, mapBounded } from "../stacks/inventory";
import { missingMarkers } from "../stacks/inventoryRules";
import { pulumiFailure, type StackWorkspace } from "../stacks/workspace";
import {
  deleteBatches,
  groupObjects,
  manifestBytes,
  type MirrorContents,
  type MirrorModel,
  type MirrorObject,
  OLLAMA_MANIFEST_NAME,
  ollamaManifestBlobs,
  stackMirrorUse,
  type StackUseInput,
} from "./weightsRules";

/** One ListObjectsV2 page: its objects and the continuation token when S3 says there are more. */
export interface ListPage {
  readonly objects: readonly MirrorObject[];
  readonly nextToken?: string | undefined;
}

/** A key DeleteObjects could not delete, as its Errors list reports it. */
export interface DeleteFailure {
  readonly key: string;
  readonly code: string;
  readonly message: string;
}

/** The S3 and SSM calls the weights reaper makes, one region; tests pass a fake that behaves like S3. */
export interface MirrorS3 {
  /** The bucket name in {@link BUCKET_PARAMETER}; null when the parameter does not exist (no mirror in the region). */
  bucketName(): Promise<string | null>;
  /** One ListObjectsV2 page under a prefix (S3 returns at most 1,000 keys a page). */
  listPage(bucket: string, prefix: string, token?: string): Promise<ListPage>;
  /** An object's body as text; null when there is no such key. */
  getText(bucket: string, key: string): Promise<string | null>;
  /** One DeleteObjects call (at most 1,000 keys: S3 refuses more); the keys it could not delete. */
  deleteObjects(bucket: string, keys: readonly string[]): Promise<readonly DeleteFailure[]>;
}

/** Every object under a prefix, following continuation tokens to the last page. */
export async function listAll(s3: MirrorS3, bucket: string, prefix: string): Promise<MirrorObject[]> {
  const all: MirrorObject[] = [];
  let token: string | undefined;
  do {
    const page = await s3.listPage(bucket, prefix, token);
    all.push(...page.objects);
    token = page.nextToken;
  } while (token !== undefined);
  return all;
}

/** A model prefix with what its manifests say: total bytes (undefined: unread) and, for Ollama, the blobs it lists. */
export interface ReadModel {
  readonly model: MirrorModel;
  readonly bytes: number | undefined;
  /** Blob names (`sha256-<hex>`) its Ollama manifest lists; undefined for Hugging Face or an unread manifest. */
  readonly blobs: readonly string[] | undefined;
}

/** The bucket's contents, each model's manifests read. */
export interface MirrorSnapshot {
  readonly contents: MirrorContents;
  readonly models: readonly ReadModel[];
}

/** Read one model's manifests: the completion manifest's total, and an Ollama model's blob list. */
async function readModel(s3: MirrorS3, bucket: string, model: MirrorModel): Promise<ReadModel> {
  const done = model.complete ? await s3.getText(bucket, `${model.prefix}/${MANIFEST_NAME}`) : null;
  const hfBytes = done === null ? undefined : manifestBytes(done);
  if (model.source === "hf") return { model, bytes: hfBytes, blobs: undefined };
  const key = `${model.prefix}/${OLLAMA_MANIFEST_NAME}`;
  const text = model.keys.includes(key) ? await s3.getText(bucket, key) : null;
  const parsed = text === null ? undefined : ollamaManifestBlobs(text);
  return { model, bytes: parsed?.bytes ?? hfBytes, blobs: parsed?.blobs };
}

/** List the whole layout once and read every model's manifests. */
export async function readMirror(s3: MirrorS3, bucket: string): Promise<MirrorSnapshot> {
  const contents = groupObjects(await listAll(s3, bucket, `${MIRROR_ROOT}/`));
  const models = await mapBounded(contents.models, 8, (m) => readModel(s3, bucket, m));
  return { contents, models };
}

/** The markers again, just before deleting: a machine may have booted with a doomed model since the listing. */
export async function freshMarkers(s3: MirrorS3, bucket: string): Promise<MirrorContents["markers"]> {
  return groupObjects(await listAll(s3, bucket, `${USED_PREFIX}/`)).markers;
}

/** Delete keys in calls S3 accepts; the failures S3 reported, or a call's own error for each of its keys. */
export async function deleteKeys(
  s3: MirrorS3,
  bucket: string,
  batches: readonly (readonly string[])[],
): Promise<DeleteFailure[]> {
  const failed: DeleteFailure[] = [];
  for (const keys of batches) {
    try {
      failed.push(...(await s3.deleteObjects(bucket, keys)));
    } catch (e) {
      const code = e instanceof Error ? e.name : "Error";
      const message = e instanceof Error ? e.message : String(e);
      failed.push(...keys.map((key) => ({ key, code, message })));
    }
    // The completion manifest goes first and alone: never delete the files under a prefix still marked complete.
    if (failed.length > 0) break;
  }
  return failed;
}

/** Delete one model prefix: its manifests first, then the rest. */
export function deleteModel(s3: MirrorS3, bucket: string, model: MirrorModel): Promise<DeleteFailure[]> {
  return deleteKeys(s3, bucket, deleteBatches(model.prefix, model.keys));
}

/** What each listed stack of this program uses in the mirror, read a few at a time; a failure is recorded on the stack. */
export async function readStackUses(workspace: StackWorkspace): Promise<StackUseInput[]> {
  const listings = await workspace.listStacks();
  const read = async (name: string): Promise<StackUseInput | undefined> => {
    try {
      const outputs = await workspace.outputs(name);
      // Not this program's (a legacy file backend lists every project's stacks) or nothing deployed.
      if (missingMarkers(outputs) !== undefined) return undefined;
      return { stack: name, use: stackMirrorUse(outputs, await workspace.deployedConfig(name)) };
    } catch (e) {
      return { stack: name, readError: pulumiFailure(e) };
    }
  };
  const all = await mapBounded(listings, DEFAULT_CONCURRENCY, (l) => read(l.name));
  return all.filter((s): s is StackUseInput => s !== undefined);
}

/** The real S3 and SSM calls in one region, credentials from the default chain. */
export function sdkMirrorS3(region: string): MirrorS3 {
  let s3: Promise<{ m: typeof S3Sdk; c: S3Sdk.S3Client }> | undefined;
  const client = () => {
    s3 ??= import("@aws-sdk/client-s3").then((m) => ({ m, c: new m.S3Client({ region }) }));
    return s3;
  };
  return {
    async bucketName() {
      const m: typeof SsmSdk = await import("@aws-sdk/client-ssm");
      try {
        const out = await new m.SSMClient({ region }).send(new m.GetParameterCommand({ Name: BUCKET_PARAMETER }));
        return out.Parameter?.Value ?? null;
      } catch (e) {
        if (e instanceof Error && e.name === "ParameterNotFound") return null;
        throw e;
      }
    },
    async listPage(bucket, prefix, token) {
      const { m, c } = await client();
      const out = await c.send(
        new m.ListObjectsV2Command({
          Bucket: bucket,
          Prefix: prefix,
          ...(token !== undefined ? { ContinuationToken: token } : {}),
        }),
      );
      const objects = (out.Contents ?? []).flatMap((o) =>
        o.Key === undefined ? [] : [{ key: o.Key, size: o.Size ?? 0, lastModified: o.LastModified?.getTime() ?? 0 }],
      );
      return { objects, nextToken: out.IsTruncated === true ? out.NextContinuationToken : undefined };
    },
    async getText(bucket, key) {
      const { m, c } = await client();
      try {
        const out = await c.send(new m.GetObjectCommand({ Bucket: bucket, Key: key }));
        return (await out.Body?.transformToString("utf8")) ?? null;
      } catch (e) {
        if (e instanceof Error && e.name === "NoSuchKey") return null;
        throw e;
      }
    },
    async deleteObjects(bucket, keys) {
      const { m, c } = await client();
      // Quiet: the answer lists only the keys that failed (DeleteObjects, "Quiet" mode).
      const out = await c.send(
        new m.DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true } }),
      );
      return (out.Errors ?? []).map((e) => ({ key: e.Key ?? "?", code: e.Code ?? "?", message: e.Message ?? "" }));
    },
  };
}
