/**
 * Where a model lives in the shared S3 weights mirror (`aws.weightsCache: s3`), and what a machine
 * is told about it. Pure: key names only, no AWS calls. One bucket per account and region holds every
 * model, keyed by an exact revision so nothing in it ever changes under a name:
 * - `v1/hf/<org>/<name>/<commit>/<file>`: a Hugging Face snapshot, files under their repo names, as
 *   vLLM's and SGLang's Run:ai streamer loaders expect an `s3://` model folder to look;
 * - `v1/ollama/<name>/<tag>/<manifest digest>/manifest`: an Ollama manifest, and its layers once, by
 *   digest, under `v1/ollama/blobs/sha256-<hex>` (the names Ollama's own store uses);
 * - `<model prefix>/.qwen3-serve/manifest.json`: the file list with sizes and SHA-256, written last and
 *   create-only by the machine that seeded the prefix after verifying it; its presence means "complete";
 * - `v1/used/<stack>/<model hash>.json`: when a stack last booted with a model, for `npm run reap --weights`;
 * - `v1/cache/<project>.<stack>/<config hash>.tar.gz`: a fleet's engine compile cache, written create-only by the
 *   first replica to serve and unpacked by later ones. It holds code the engine runs (Inductor's Python, Triton's
 *   kernels), so each stack has its own prefix, which only that stack's instance role may read or write.
 * The `v1/` root lets a later layout sit beside this one.
 */
import { createHash } from "node:crypto";

/** Root of this layout's keys. */
export const MIRROR_ROOT = "v1";
/** Content-addressed Ollama layers, shared by every tag that uses them. */
export const OLLAMA_BLOBS_PREFIX = `${MIRROR_ROOT}/ollama/blobs`;
/** Where machines record that a stack still uses a model. */
export const USED_PREFIX = `${MIRROR_ROOT}/used`;
/** Fleets' shared engine compile caches, one prefix per stack below it. */
export const COMPILE_CACHE_ROOT = `${MIRROR_ROOT}/cache`;
/** The completion marker below a model prefix: written last, so a partial seed has none. */
export const MANIFEST_NAME = ".qwen3-serve/manifest.json";
/** SSM parameter (String) in which the shared stack publishes the bucket's name for the region. */
export const BUCKET_PARAMETER = "/qwen3-serve/shared/weights-bucket";
/** Pulumi project of the stack that owns the bucket and the gateway endpoints (`npm run shared`). */
export const SHARED_PROJECT = "qwen3-serve-shared";

/** The S3 weights mirror a machine reads (and, when the model is missing, seeds) its weights through. */
export interface WeightsMirror {
  /** The shared bucket (published in {@link BUCKET_PARAMETER}). */
  readonly bucket: string;
  /** Its region: the machine's own, so reads stay in-region behind the gateway endpoint. */
  readonly region: string;
  /** This model revision's key prefix, no trailing slash. */
  readonly prefix: string;
  /** Stream the weights from S3 into the engine (vLLM, SGLang); Ollama copies them to disk instead. */
  readonly stream: boolean;
  /** The role whose short-lived, read-only credentials the engine container gets; streaming only. */
  readonly readRoleArn?: string;
  /** Key of this stack's "last used" marker for the model. */
  readonly usedKey: string;
  /**
   * The stack's compile-cache prefix ({@link compileCachePrefix}): set for a fleet replica whose engine compiles
   * (vLLM, SGLang), which then shares its engine cache through it; absent on a single machine.
   */
  readonly compileCache?: string;
}

/** The model a mirror prefix is for: a plan's weights, with the revision the mirror requires. */
export interface MirroredModel {
  readonly source: "hf" | "ollama";
  /** `Qwen/Qwen3-8B`, or an Ollama tag such as `qwen3:8b`. */
  readonly ref: string;
  /** 40-hex commit (hf) or 64-hex manifest digest (ollama). */
  readonly revision: string;
}

/** Ollama's default registry and namespace, as its store spells a bare `name:tag`. */
function ollamaPath(ref: string): string {
  const [name, tag = "latest"] = ref.split(":");
  return `${name}/${tag}`;
}

/** The key prefix of one model revision in the mirror (no trailing slash). */
export function modelPrefix(model: MirroredModel): string {
  return model.source === "hf"
    ? `${MIRROR_ROOT}/hf/${model.ref}/${model.revision}`
    : `${MIRROR_ROOT}/ollama/${ollamaPath(model.ref)}/${model.revision}`;
}

/** The `s3://` folder the streaming engines load from. */
export function modelUri(bucket: string, prefix: string): string {
  return `s3://${bucket}/${prefix}/`;
}

/**
 * The "last used" marker of a stack's model: one object per (project, stack, model), overwritten at
 * each boot, so `reap --weights` sees which models a stack in any backend still boots with.
 */
export function usedMarkerKey(project: string, stack: string, prefix: string): string {
  const model = createHash("sha256").update(prefix).digest("hex").slice(0, 16);
  return `${USED_PREFIX}/${project}.${stack}/${model}.json`;
}

/** The key prefix of one stack's shared compile caches (no trailing slash): the whole of what its role may touch there. */
export function compileCachePrefix(project: string, stack: string): string {
  return `${COMPILE_CACHE_ROOT}/${project}.${stack}`;
}

/** What a compile cache is valid for: the same image, command, engine env and GPUs compile the same kernels. */
export interface CompileCacheInputs {
  readonly image: string;
  /** The pinned `sha256:` digest, or null when the tag alone names the image. */
  readonly imageDigest: string | null;
  /** The engine's argv as the machine runs it. */
  readonly argv: readonly string[];
  /** The engine container's env. */
  readonly env: Readonly<Record<string, string>>;
  /** GPU model, as the plan names it. */
  readonly gpu: string;
  /** GPUs the engine uses. */
  readonly gpuCount: number;
}

/**
 * The object a fleet's replicas share their engine cache through: below the stack's prefix, named by the SHA-256 of
 * everything that makes the cache valid, so a new image, command or GPU reads and writes a new key.
 */
export function compileCacheKey(stackPrefix: string, inputs: CompileCacheInputs): string {
  const env = Object.entries(inputs.env).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const canonical = JSON.stringify([
    inputs.image,
    inputs.imageDigest ?? "",
    inputs.argv,
    env,
    inputs.gpu,
    inputs.gpuCount,
  ]);
  return `${stackPrefix}/${createHash("sha256").update(canonical).digest("hex")}.tar.gz`;
}
