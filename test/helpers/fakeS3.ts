/**
 * Test-side handles on the sandbox's fake S3 (test/fixtures/fake-s3-store.js, which the `aws` stub and the
 * fake engine use) and on the fake Hugging Face Hub (test/fixtures/fake-hub.js).
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

/** Metadata the fake S3 keeps per object, as HeadObject reports it. */
export interface ObjectMeta {
  readonly size: number;
  readonly sha256b64: string | null;
  readonly checksumType: "FULL_OBJECT" | "COMPOSITE" | null;
  readonly etag: string;
  readonly parts: number;
  readonly lastModified: string;
}

/** One request in $FAKE_STATE/s3.log. */
export interface S3LogEntry {
  readonly op: string;
  readonly bucket: string;
  readonly key: string;
  readonly status: number;
  readonly principal: string;
}

interface Store {
  bucketExists(state: string, bucket: string): boolean;
  put(
    state: string,
    bucket: string,
    key: string,
    bytes: Buffer,
    opts: { checksum?: boolean; partBytes?: number },
  ): ObjectMeta;
  head(state: string, bucket: string, key: string): ObjectMeta | null;
  read(state: string, bucket: string, key: string): Buffer | null;
  remove(state: string, bucket: string, key: string): void;
  list(state: string, bucket: string, prefix: string): string[];
}

const FIXTURES = path.resolve(__dirname, "..", "fixtures");
const store = createRequire(__filename)(path.join(FIXTURES, "fake-s3-store.js")) as Store;

/** Create the bucket's folder (the fake answers NoSuchBucket otherwise). */
export function createBucket(state: string, bucket: string): void {
  mkdirSync(path.join(state, "s3", bucket), { recursive: true });
}

/**
 * Store an object as a PUT with a SHA-256 checksum would, or with `multipart` (part size in bytes) as an
 * `s3 cp --checksum-algorithm SHA256` above the multipart threshold would.
 */
export function seedObject(
  state: string,
  bucket: string,
  key: string,
  bytes: Buffer | string,
  opts: { multipart?: number; checksum?: boolean } = {},
): ObjectMeta {
  const body = typeof bytes === "string" ? Buffer.from(bytes) : bytes;
  return store.put(state, bucket, key, body, {
    checksum: opts.checksum ?? true,
    ...(opts.multipart !== undefined ? { partBytes: opts.multipart } : {}),
  });
}

/** The object's bytes, or null when absent. */
export function objectBytes(state: string, bucket: string, key: string): Buffer | null {
  return store.read(state, bucket, key);
}

/** The object's metadata, or null when absent. */
export function objectMeta(state: string, bucket: string, key: string): ObjectMeta | null {
  return store.head(state, bucket, key);
}

/** Keys under a prefix, sorted as S3 lists them. */
export function listKeys(state: string, bucket: string, prefix: string): string[] {
  return store.list(state, bucket, prefix);
}

/**
 * Replace the object with different bytes of the same size (its first byte flipped), stored with a fresh
 * checksum as a second PUT would: S3 itself sees nothing wrong; only a check against a manifest can.
 */
export function corrupt(state: string, bucket: string, key: string): void {
  const old = requireObject(state, bucket, key);
  const bytes = Buffer.from(old.bytes);
  bytes[0] = (bytes[0] ?? 0) ^ 0xff;
  store.put(state, bucket, key, bytes, { checksum: old.meta.sha256b64 !== null });
}

/** Replace the object with its first `keep` bytes (by default half), as an upload of a partial file would. */
export function truncate(state: string, bucket: string, key: string, keep?: number): void {
  const old = requireObject(state, bucket, key);
  const n = keep ?? Math.floor(old.bytes.length / 2);
  store.put(state, bucket, key, old.bytes.subarray(0, n), { checksum: old.meta.sha256b64 !== null });
}

/** Delete the object. */
export function remove(state: string, bucket: string, key: string): void {
  store.remove(state, bucket, key);
}

/** Every S3 request so far, oldest first. */
export function readLog(state: string): S3LogEntry[] {
  const f = path.join(state, "s3.log");
  if (!existsSync(f)) return [];
  return readFileSync(f, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as S3LogEntry);
}

function requireObject(state: string, bucket: string, key: string): { bytes: Buffer; meta: ObjectMeta } {
  const bytes = store.read(state, bucket, key);
  const meta = store.head(state, bucket, key);
  if (bytes === null || meta === null) throw new Error(`fake S3 has no s3://${bucket}/${key}`);
  return { bytes, meta };
}

/** A running fake Hub process. */
export interface FakeHub {
  /** Its base URL, for HF_ENDPOINT. */
  readonly url: string;
  stop(): void;
}

/** Start test/fixtures/fake-hub.js as its own process (so scripts run with spawnSync can still reach it). */
export function startFakeHub(state: string): Promise<FakeHub> {
  const child = spawn(process.execPath, [path.join(FIXTURES, "fake-hub.js")], {
    env: { FAKE_STATE: state },
    stdio: ["pipe", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    let text = "";
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`fake hub exited with ${code}`)));
    child.stdout.on("data", (d: Buffer) => {
      text += d.toString();
      const line = text.split("\n")[0] ?? "";
      if (text.includes("\n")) resolve({ url: line, stop: () => child.kill("SIGTERM") });
    });
  });
}
