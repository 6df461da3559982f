/**
 * `npm run reap --weights` as pure decisions: the mirror bucket's keys (components/mirror/keys.ts
 * layout) grouped into model prefixes, Ollama blobs and "last used" markers; which stacks use which
 * prefix; and, for each prefix, keep or delete with the reason a person reads in the table. No
 * clock, no AWS: the caller passes `now` and what it listed.
 *
 * A tool that deletes leans towards keeping: a prefix a listed stack uses, one a machine marked as
 * used (or wrote to) within --unused-days, or any prefix at all while a stack could not be read, is
 * kept; a blob is deleted only when every manifest that stays could be read and none lists it.
 */
import {
  MANIFEST_NAME,
  MIRROR_ROOT,
  type MirroredModel,
  modelPrefix,
  OLLAMA_BLOBS_PREFIX,
  USED_PREFIX,
  usedMarkerKey,
} from "../mirror/keys";
import { CONFIG_NAMESPACE } from "../config/schema";
import { regionFromOutputs, regionOf } from "../stacks/inventoryRules";
import { UserError } from "../errors/userError";

/** How long a model may go unused (no stack lists it, no machine marked it) before it is deleted, by default. */
export const DEFAULT_UNUSED_DAYS = 30;
/**
 * DeleteObjects takes "a list of up to 1,000 keys" per request (S3 API reference, DeleteObjects,
 * https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObjects.html, as the @aws-sdk/client-s3
 * 3.1169.0 DeleteObjectsCommand doc comment quotes it; read 2026-11-30).
 */
export const DELETE_BATCH = 1000;

const DAY_MS = 86_400_000;
/** The file Ollama's manifest is stored as below its model prefix (keys.ts: `<prefix>/manifest`). */
export const OLLAMA_MANIFEST_NAME = "manifest";

/** One object as ListObjectsV2 lists it. */
export interface MirrorObject {
  readonly key: string;
  /** Bytes. */
  readonly size: number;
  /** LastModified, epoch ms: set by S3 at each write, so a marker's time is S3's, not a machine's clock. */
  readonly lastModified: number;
}

/** One model revision's prefix and what is stored under it. */
export interface MirrorModel {
  /** `v1/hf/<org>/<name>/<commit>` or `v1/ollama/<name>/<tag>/<digest>`. */
  readonly prefix: string;
  readonly source: "hf" | "ollama";
  /** Every key under the prefix. */
  readonly keys: readonly string[];
  /** Bytes of the objects under the prefix. */
  readonly storedBytes: number;
  /** The newest write under the prefix, epoch ms. */
  readonly newestWrite: number;
  /** Whether the completion manifest (`.qwen3-serve/manifest.json`) is there. */
  readonly complete: boolean;
}

/** A "last used" marker: which project.stack, for which model (by hash), when S3 last saw it written. */
export interface UsedMarker {
  /** `<project>.<stack>` as the key holds it. */
  readonly user: string;
  /** The 16-hex model hash in the key's file name. */
  readonly model: string;
  readonly lastModified: number;
}

/** The bucket's keys, sorted into what the reaper acts on. */
export interface MirrorContents {
  readonly models: readonly MirrorModel[];
  readonly blobs: readonly MirrorObject[];
  readonly markers: readonly UsedMarker[];
  /** Keys outside the layout (compile caches, anything unknown): never touched. */
  readonly other: number;
}

const HF_KEY = new RegExp(`^(${MIRROR_ROOT}/hf/[^/]+/[^/]+/[0-9a-f]{40})/.+$`);
// Name and tag segments (a namespaced name has more than one), then the 64-hex manifest digest.
const OLLAMA_KEY = new RegExp(`^(${MIRROR_ROOT}/ollama/(?!blobs/)(?:[^/]+/)+?[0-9a-f]{64})/.+$`);
const BLOB_KEY = new RegExp(`^${OLLAMA_BLOBS_PREFIX}/sha256-([0-9a-f]{64})$`);
const MARKER_KEY = new RegExp(`^${USED_PREFIX}/([^/]+)/([0-9a-f]{16})\\.json$`);

/** The 16-hex name keys.ts gives a model's marker, from the one definition there. */
export function markerModelHash(prefix: string): string {
  const key = usedMarkerKey("p", "s", prefix);
  return key.slice(key.lastIndexOf("/") + 1, -".json".length);
}

/** Sort listed objects into model prefixes, blobs and markers. */
export function groupObjects(objects: readonly MirrorObject[]): MirrorContents {
  const models = new Map<string, { source: "hf" | "ollama"; objects: MirrorObject[] }>();
  const blobs: MirrorObject[] = [];
  const markers: UsedMarker[] = [];
  let other = 0;
  for (const o of objects) {
    const hf = HF_KEY.exec(o.key)?.[1];
    const ollama = hf === undefined ? OLLAMA_KEY.exec(o.key)?.[1] : undefined;
    const prefix = hf ?? ollama;
    if (prefix !== undefined) {
      const m = models.get(prefix) ?? { source: hf !== undefined ? "hf" : "ollama", objects: [] };
      m.objects.push(o);
      models.set(prefix, m);
      continue;
    }
    const marker = MARKER_KEY.exec(o.key);
    if (marker?.[1] !== undefined && marker[2] !== undefined) {
      markers.push({ user: marker[1], model: marker[2], lastModified: o.lastModified });
    } else if (BLOB_KEY.test(o.key)) blobs.push(o);
    else other++;
  }
  return {
    models: [...models.entries()]
      .map(([prefix, m]) => ({
        prefix,
        source: m.source,
        keys: m.objects.map((o) => o.key),
        storedBytes: m.objects.reduce((s, o) => s + o.size, 0),
        newestWrite: Math.max(...m.objects.map((o) => o.lastModified)),
        complete: m.objects.some((o) => o.key === `${prefix}/${MANIFEST_NAME}`),
      }))
      .sort((a, b) => (a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0)),
    blobs,
    markers,
    other,
  };
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Total bytes in a completion manifest (`files[].size`), or undefined when it is not that shape. */
export function manifestBytes(text: string): number | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isRecord(doc) || !Array.isArray(doc.files)) return undefined;
  let total = 0;
  for (const f of doc.files) {
    if (!isRecord(f) || typeof f.size !== "number" || !Number.isInteger(f.size) || f.size < 0) return undefined;
    total += f.size;
  }
  return total;
}

/** The blobs an Ollama manifest lists, as blob key names (`sha256-<hex>`), and their bytes; undefined when unreadable. */
export function ollamaManifestBlobs(
  text: string,
): { readonly blobs: readonly string[]; readonly bytes: number } | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return undefined;
  }
  // Ollama's manifest: `config` and `layers[]`, each {mediaType, digest: "sha256:<hex>", size}
  // (ollama/ollama server/internal/manifest/manifest.go package doc, read 2026-11-30).
  if (!isRecord(doc) || !Array.isArray(doc.layers)) return undefined;
  const entries = [...(isRecord(doc.config) ? [doc.config] : []), ...doc.layers];
  const blobs: string[] = [];
  let bytes = 0;
  for (const e of entries) {
    const digest =
      isRecord(e) && typeof e.digest === "string" ? /^sha256:([0-9a-f]{64})$/.exec(e.digest)?.[1] : undefined;
    if (digest === undefined || !isRecord(e) || typeof e.size !== "number") return undefined;
    blobs.push(`sha256-${digest}`);
    bytes += e.size;
  }
  return { blobs, bytes };
}

/** What one listed stack tells the reaper about the mirror. */
export type StackMirrorUse =
  | { readonly kind: "none" }
  | { readonly kind: "uses"; readonly prefix: string; readonly region: string | undefined }
  | { readonly kind: "unknown"; readonly reason: string };

/** The `qwen3-serve:aws` object of a deployed config, or undefined. */
function awsSettings(config: Readonly<Record<string, string>>): Record<string, unknown> | undefined {
  const raw = config[`${CONFIG_NAMESPACE}:aws`];
  if (raw === undefined) return undefined;
  try {
    const v: unknown = JSON.parse(raw);
    return isRecord(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** The plan's weights (`plan.serve.weights`) as a mirrored model, or undefined when the outputs lack them. */
function plannedModel(outputs: Readonly<Record<string, unknown>>): MirroredModel | undefined {
  const plan = outputs.plan;
  const w = isRecord(plan) && isRecord(plan.serve) && isRecord(plan.serve.weights) ? plan.serve.weights : undefined;
  if (w === undefined || (w.source !== "hf" && w.source !== "ollama") || typeof w.ref !== "string") return undefined;
  if (typeof w.revision !== "string" || w.revision === "") return undefined;
  return { source: w.source, ref: w.ref, revision: w.revision };
}

/**
 * The mirror prefix a stack of this program reads, from what is deployed: none unless its last
 * update set `aws.weightsCache: s3`; then the plan's weights and pinned revision (the config refuses
 * the mirror without one); unknown when the outputs do not say.
 */
export function stackMirrorUse(
  outputs: Readonly<Record<string, unknown>>,
  deployedConfig: Readonly<Record<string, string>>,
): StackMirrorUse {
  const target = deployedConfig[`${CONFIG_NAMESPACE}:target`] ?? "aws";
  if (target !== "aws" || awsSettings(deployedConfig)?.weightsCache !== "s3") return { kind: "none" };
  const model = plannedModel(outputs);
  if (model === undefined)
    return {
      kind: "unknown",
      reason: "it sets aws.weightsCache s3 but its plan output names no pinned weights revision",
    };
  return { kind: "uses", prefix: modelPrefix(model), region: regionFromOutputs(outputs) ?? regionOf(deployedConfig) };
}

/** One listed stack as the weights reaper sees it: its name and use, or why it could not be read. */
export type StackUseInput =
  | { readonly stack: string; readonly use: StackMirrorUse }
  | { readonly stack: string; readonly readError: string };

/** Clock, limit and region of a weights reap. */
export interface WeightsSettings {
  /** Now, epoch ms. */
  readonly now: number;
  readonly unusedDays: number;
  /** The mirror's region: a stack elsewhere reads another bucket. */
  readonly region: string;
}

/** The verdict on one model prefix. */
export interface ModelVerdict {
  readonly prefix: string;
  /** Bytes: the completion manifest's total (Ollama: its blobs'), else what is stored under the prefix. */
  readonly bytes: number;
  readonly complete: boolean;
  /** Newest marker time, epoch ms; undefined when no machine marked it. */
  readonly lastUsed: number | undefined;
  /** Stacks that use it now, then marker users, each once. */
  readonly users: readonly string[];
  readonly decision: "keep" | "delete";
  readonly reason: string;
}

/** An age for the table: whole days from one day on ("3 d"), whole hours below ("5 h"). */
function daysText(ms: number): string {
  const d = ms / DAY_MS;
  return d >= 1 ? `${Math.floor(d)} d` : `${Math.max(0, Math.round(d * 24))} h`;
}

/** Stacks that are blind spots: unreadable, or using the mirror without saying which prefix. */
export function blindStacks(stacks: readonly StackUseInput[]): string[] {
  return stacks.flatMap((s) =>
    "readError" in s
      ? [`${s.stack} (${s.readError})`]
      : s.use.kind === "unknown"
        ? [`${s.stack} (${s.use.reason})`]
        : [],
  );
}

/** The stacks that use a prefix: same prefix, and this region or one not recorded. */
function stackUsers(prefix: string, stacks: readonly StackUseInput[], region: string): string[] {
  return stacks.flatMap((s) =>
    "use" in s && s.use.kind === "uses" && s.use.prefix === prefix && (s.use.region ?? region) === region
      ? [s.stack]
      : [],
  );
}

/** Keep or delete one model prefix, given the listed stacks, the markers and how much the manifest says it holds. */
export function decideModel(
  model: MirrorModel,
  bytes: number | undefined,
  markers: readonly UsedMarker[],
  stacks: readonly StackUseInput[],
  settings: WeightsSettings,
): ModelVerdict {
  const hash = markerModelHash(model.prefix);
  const mine = markers.filter((m) => m.model === hash);
  const lastUsed = mine.length === 0 ? undefined : Math.max(...mine.map((m) => m.lastModified));
  const listed = stackUsers(model.prefix, stacks, settings.region);
  const users = [...new Set([...listed, ...mine.map((m) => m.user)])];
  const base = { prefix: model.prefix, bytes: bytes ?? model.storedBytes, complete: model.complete, lastUsed, users };
  const cutoff = settings.now - settings.unusedDays * DAY_MS;
  const keep = (reason: string): ModelVerdict => ({ ...base, decision: "keep", reason });
  if (listed.length > 0) return keep(`used by stack ${listed.join(", ")}`);
  if (lastUsed !== undefined && lastUsed > cutoff)
    return keep(`a machine used it ${daysText(settings.now - lastUsed)} ago`);
  // A machine seeding it now writes files before its markers are ever listed.
  if (model.newestWrite > cutoff) return keep(`written ${daysText(settings.now - model.newestWrite)} ago`);
  const blind = blindStacks(stacks);
  if (blind.length > 0) return keep(`unused, but kept: a stack could not be read (${blind.join("; ")})`);
  const since = lastUsed === undefined ? "no machine marked it" : `last used ${daysText(settings.now - lastUsed)} ago`;
  return { ...base, decision: "delete", reason: `no stack uses it; ${since} (limit ${settings.unusedDays} d)` };
}

/**
 * The Ollama blobs to delete: those no kept manifest lists and none written within the limit (a seed
 * uploads its blobs before its manifest). Nothing when a kept Ollama model's manifest is unread.
 */
export function blobsToDelete(
  blobs: readonly MirrorObject[],
  keptManifests: readonly (readonly string[] | undefined)[],
  settings: WeightsSettings,
): string[] {
  if (keptManifests.some((m) => m === undefined)) return [];
  const listed = new Set(keptManifests.flatMap((m) => m ?? []));
  const cutoff = settings.now - settings.unusedDays * DAY_MS;
  return blobs
    .filter((b) => b.lastModified <= cutoff && !listed.has(b.key.slice(OLLAMA_BLOBS_PREFIX.length + 1)))
    .map((b) => b.key);
}

/**
 * A prefix's keys in DeleteObjects calls: first the completion manifest and Ollama manifest alone,
 * so a reader never sees a "complete" prefix with files missing, then the rest, at most
 * {@link DELETE_BATCH} keys a call.
 */
export function deleteBatches(prefix: string, keys: readonly string[]): string[][] {
  const first = [`${prefix}/${MANIFEST_NAME}`, `${prefix}/${OLLAMA_MANIFEST_NAME}`].filter((k) => keys.includes(k));
  const rest = keys.filter((k) => !first.includes(k));
  return [...(first.length > 0 ? [first] : []), ...chunk(rest, DELETE_BATCH)];
}

/** Items in runs of at most `size`. */
export function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Bytes for the table: GiB from 1 GiB, else MiB, else KiB, one decimal. */
export function bytesText(n: number): string {
  const units: readonly [string, number][] = [
    ["GiB", 2 ** 30],
    ["MiB", 2 ** 20],
    ["KiB", 2 ** 10],
  ];
  for (const [unit, size] of units) if (n >= size) return `${(n / size).toFixed(1)} ${unit}`;
  return `${n} B`;
}

/** `--unused-days` as a number of days, 0 or more; throws UserError keyed by the flag. */
export function parseUnusedDays(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_UNUSED_DAYS;
  const d = Number(raw);
  if (raw.trim() === "" || !Number.isFinite(d) || d < 0)
    throw new UserError({
      key: "unused-days",
      value: raw,
      problem: "not a number of days.",
      hint: `Give days, 0 or more (default ${DEFAULT_UNUSED_DAYS}), e.g. 30 or 7.5.`,
    });
  return d;
}

/** The table: model prefix, size, last used, users, decision, reason. */
export function formatWeightsTable(verdicts: readonly ModelVerdict[], now: number, yes: boolean): string {
  const header = ["MODEL PREFIX", "SIZE", "LAST USED", "USERS", "ACTION", "REASON"];
  const rows = verdicts.map((v) => [
    v.prefix,
    `${bytesText(v.bytes)}${v.complete ? "" : " (partial)"}`,
    v.lastUsed === undefined ? "never marked" : `${daysText(now - v.lastUsed)} ago`,
    v.users.length === 0 ? "-" : v.users.join(", "),
    v.decision === "keep" ? "keep" : yes ? "delete" : "would delete",
    v.reason,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (c: readonly string[]): string =>
    c.map((v, i) => (i === c.length - 1 ? v : v.padEnd(widths[i] ?? 0))).join("  ");
  return [line(header), ...rows.map(line)].join("\n");
}
