/**
 * The sandbox's fakes for the S3 weights mirror behave as the real services do for the calls the machine
 * scripts make: the `aws` stub's S3 and STS commands (host CLI and amazon/aws-cli container), the `hf`
 * stub's cache layout, the fake Hub's model info, the fake Ollama store and the fake engine's S3 streaming.
 * Expected values are pinned literals, computed once with Python's hashlib and `git hash-object`.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { createBucket, objectBytes, objectMeta, readLog, seedObject, startFakeHub, truncate } from "./helpers/fakeS3";
import { freePort } from "./helpers/sandbox";

const FIXTURES = path.resolve(__dirname, "fixtures");
const HELLO_SHA256 = "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=";
const HELLO_MD5 = '"5eb63bbbe01eeed093cb22bb8f5acdc3"';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** A throwaway state folder with the stubs on PATH and a bucket "mirror". */
function machine(): { state: string; run: (argv: string[], env?: Record<string, string>) => Run; done: () => void } {
  const root = mkdtempSync(path.join(os.tmpdir(), "qs-fakes-"));
  const state = path.join(root, "fake");
  const bin = path.join(root, "bin");
  mkdirSync(state, { recursive: true });
  mkdirSync(bin);
  for (const s of ["aws", "docker", "hf"]) symlinkSync(path.join(FIXTURES, "sandbox-stub.js"), path.join(bin, s));
  createBucket(state, "mirror");
  const run = (argv: string[], env: Record<string, string> = {}): Run => {
    const r = spawnSync(argv[0] ?? "", argv.slice(1), {
      cwd: root,
      encoding: "utf8",
      env: { PATH: `${bin}:${path.dirname(process.execPath)}:/usr/bin:/bin`, FAKE_STATE: state, QS_ROOT: root, ...env },
    });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };
  return { state, run, done: () => rmSync(root, { recursive: true, force: true }) };
}

const R = ["--region", "us-east-1"];
const at = (state: string, rel: string): string => path.join(path.dirname(state), rel);

describe("the aws stub's s3api commands (host CLI, instance role)", () => {
  const m = machine();
  after(() => m.done());

  it("head-object of a missing key: HeadObject's bodiless 404 on stderr, exit 254", () => {
    const r = m.run([
      "aws",
      "s3api",
      "head-object",
      ...R,
      "--bucket",
      "mirror",
      "--key",
      "nope",
      "--checksum-mode",
      "ENABLED",
    ]);
    assert.deepEqual(
      [r.code, r.stderr],
      [254, "\nAn error occurred (404) when calling the HeadObject operation: Not Found\n"],
    );
  });

  it("put-object with --checksum-sha256 stores the object; head-object shows ChecksumSHA256 (no ChecksumType: CLI 2.22.0)", () => {
    writeFileSync(at(m.state, "hello"), "hello world");
    const put = m.run(
      ["aws", "s3api", "put-object", ...R, "--bucket", "mirror", "--key", "a/hello", "--body", "hello"].concat([
        "--checksum-algorithm",
        "SHA256",
        "--checksum-sha256",
        HELLO_SHA256,
        "--if-none-match",
        "*",
      ]),
    );
    assert.equal(put.code, 0, put.stderr);
    assert.deepEqual(JSON.parse(put.stdout), {
      ETag: HELLO_MD5,
      ChecksumSHA256: HELLO_SHA256,
      ServerSideEncryption: "AES256",
    });
    const head = m.run([
      "aws",
      "s3api",
      "head-object",
      ...R,
      "--bucket",
      "mirror",
      "--key",
      "a/hello",
      "--checksum-mode",
      "ENABLED",
    ]);
    const h = JSON.parse(head.stdout) as Record<string, unknown>;
    assert.deepEqual(
      [h.ContentLength, h.ETag, h.ChecksumSHA256, "ChecksumType" in h],
      [11, HELLO_MD5, HELLO_SHA256, false],
    );
    const plain = JSON.parse(
      m.run(["aws", "s3api", "head-object", ...R, "--bucket", "mirror", "--key", "a/hello"]).stdout,
    ) as Record<string, unknown>;
    assert.equal("ChecksumSHA256" in plain, false, "no checksum without --checksum-mode ENABLED");
  });

  it("a CLI from 2.23.0 on also prints ChecksumType FULL_OBJECT for a single PUT", () => {
    const head = m.run(
      ["aws", "s3api", "head-object", ...R, "--bucket", "mirror", "--key", "a/hello", "--checksum-mode", "ENABLED"],
      {
        FAKE_AWS_CLI_VERSION: "2.23.0",
      },
    );
    assert.equal((JSON.parse(head.stdout) as Record<string, unknown>).ChecksumType, "FULL_OBJECT");
  });

  it(
    "put-object refuses, exit 254, object unchanged: a wrong SHA-256 (BadDigest), " +
      "an existing key with --if-none-match '*' (PreconditionFailed), a body over FAKE_S3_MAX_PUT_BYTES (EntityTooLarge)",
    () => {
      const put = (key: string, extra: string[], env: Record<string, string> = {}): Run =>
        m.run(
          ["aws", "s3api", "put-object", ...R, "--bucket", "mirror", "--key", key, "--body", "hello", ...extra],
          env,
        );
      const bad = put("a/other", ["--checksum-algorithm", "SHA256", "--checksum-sha256", "AAAA"]);
      assert.deepEqual(
        [bad.code, bad.stderr],
        [
          254,
          "\nAn error occurred (BadDigest) when calling the PutObject operation: The SHA256 you specified did not match the calculated checksum.\n",
        ],
      );
      assert.equal(objectBytes(m.state, "mirror", "a/other"), null);
      writeFileSync(at(m.state, "hello"), "changed");
      const dup = put("a/hello", ["--if-none-match", "*"]);
      assert.deepEqual(
        [dup.code, dup.stderr],
        [
          254,
          "\nAn error occurred (PreconditionFailed) when calling the PutObject operation: At least one of the pre-conditions you specified did not hold\n",
        ],
      );
      assert.equal(objectBytes(m.state, "mirror", "a/hello")?.toString(), "hello world");
      const big = put("a/big", [], { FAKE_S3_MAX_PUT_BYTES: "4" });
      assert.deepEqual([big.code, /\(EntityTooLarge\)/.test(big.stderr)], [254, true]);
      writeFileSync(at(m.state, "hello"), "hello world");
    },
  );

  it("get-object writes OUTFILE; a missing key is NoSuchKey, exit 254; a missing bucket NoSuchBucket", () => {
    const ok = m.run(["aws", "s3api", "get-object", ...R, "--bucket", "mirror", "--key", "a/hello", "out/got"]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(readFileSync(at(m.state, "out/got"), "utf8"), "hello world");
    const miss = m.run(["aws", "s3api", "get-object", ...R, "--bucket", "mirror", "--key", "zzz", "x"]);
    assert.deepEqual(
      [miss.code, miss.stderr],
      [
        254,
        "\nAn error occurred (NoSuchKey) when calling the GetObject operation: The specified key does not exist.\n",
      ],
    );
    const nob = m.run(["aws", "s3api", "get-object", ...R, "--bucket", "elsewhere", "--key", "k", "x"]);
    assert.deepEqual(
      [nob.code, nob.stderr],
      [
        254,
        "\nAn error occurred (NoSuchBucket) when calling the GetObject operation: The specified bucket does not exist\n",
      ],
    );
  });

  it("delete-object removes the key and prints nothing; every request is logged with the instance role as principal", () => {
    const r = m.run(["aws", "s3api", "delete-object", ...R, "--bucket", "mirror", "--key", "a/hello"]);
    assert.deepEqual([r.code, r.stdout], [0, ""]);
    assert.equal(objectMeta(m.state, "mirror", "a/hello"), null);
    const last = readLog(m.state).at(-1);
    assert.deepEqual(last, {
      op: "DeleteObject",
      bucket: "mirror",
      key: "a/hello",
      status: 204,
      principal: "instance-role",
    });
  });

  it("anything not modelled fails loudly: exit 98, 'aws stub: unhandled'", () => {
    const r = m.run(["aws", "s3", "ls", "s3://mirror/"]);
    assert.deepEqual([r.code, r.stderr], [98, "aws stub: unhandled s3 ls s3://mirror/\n"]);
    const flagged = m.run([
      "aws",
      "s3api",
      "head-object",
      ...R,
      "--bucket",
      "mirror",
      "--key",
      "k",
      "--version-id",
      "1",
    ]);
    assert.equal(flagged.code, 98);
  });

  it("no --region and no AWS_REGION: exit 253, as the CLI without a region", () => {
    const r = m.run(["aws", "s3api", "head-object", "--bucket", "mirror", "--key", "k"]);
    assert.equal(r.code, 253);
    assert.match(r.stderr, /You must specify a region/);
  });
});

describe("the aws stub's s3 cp", () => {
  const m = machine();
  after(() => m.done());

  it("an upload at or above FAKE_S3_MULTIPART_BYTES is multipart: composite SHA-256 '<b64>-3', ETag '<md5>-3', three UploadParts logged", () => {
    writeFileSync(at(m.state, "hello"), "hello world");
    const r = m.run(
      ["aws", "s3", "cp", "hello", "s3://mirror/mp", ...R, "--checksum-algorithm", "SHA256", "--only-show-errors"],
      {
        FAKE_S3_MULTIPART_BYTES: "4",
      },
    );
    assert.deepEqual([r.code, r.stdout], [0, ""], r.stderr);
    const head = JSON.parse(
      m.run(["aws", "s3api", "head-object", ...R, "--bucket", "mirror", "--key", "mp", "--checksum-mode", "ENABLED"])
        .stdout,
    ) as Record<string, unknown>;
    assert.deepEqual(
      [head.ChecksumSHA256, head.ETag],
      ["J+iaQZsQ9GMOk85VB3k7HBTmmqC78J86d3OixvpestM=-3", '"177e85e8bb233bd57a6aabda201a0c2c-3"'],
    );
    assert.equal(objectMeta(m.state, "mirror", "mp")?.checksumType, "COMPOSITE");
    assert.deepEqual(
      readLog(m.state)
        .filter((e) => e.key === "mp")
        .map((e) => e.op),
      ["CreateMultipartUpload", "UploadPart", "UploadPart", "UploadPart", "CompleteMultipartUpload", "HeadObject"],
    );
  });

  it("below the threshold (default 8 MiB) an upload is one PutObject with the full-object SHA-256", () => {
    const r = m.run(["aws", "s3", "cp", "hello", "s3://mirror/one", ...R, "--checksum-algorithm", "SHA256"]);
    assert.deepEqual([r.code, r.stdout], [0, "upload: hello to s3://mirror/one\n"]);
    assert.deepEqual(
      [objectMeta(m.state, "mirror", "one")?.sha256b64, objectMeta(m.state, "mirror", "one")?.parts],
      [HELLO_SHA256, 1],
    );
  });

  it("a download writes the file (HeadObject then GetObject); a missing key is a fatal error naming it, exit 1", () => {
    const r = m.run(["aws", "s3", "cp", "s3://mirror/one", "dl/copy", ...R, "--only-show-errors"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readFileSync(at(m.state, "dl/copy"), "utf8"), "hello world");
    assert.deepEqual(
      readLog(m.state)
        .slice(-2)
        .map((e) => e.op),
      ["HeadObject", "GetObject"],
    );
    const miss = m.run(["aws", "s3", "cp", "s3://mirror/gone", "dl/x", ...R]);
    assert.deepEqual(
      [miss.code, miss.stderr],
      [1, 'fatal error: An error occurred (404) when calling the HeadObject operation: Key "gone" does not exist\n'],
    );
  });
});

describe("the aws stub in the amazon/aws-cli container", () => {
  const m = machine();
  after(() => m.done());
  const docker = (flags: string[], cli: string[], env: Record<string, string> = {}): Run =>
    m.run(["docker", "run", "--rm", ...flags, "amazon/aws-cli:2.22.0", ...cli], env);

  it("maps container paths through -v mounts for --body, OUTFILE and s3 cp, both ways", () => {
    mkdirSync(at(m.state, "data"));
    writeFileSync(at(m.state, "data/in"), "hello world");
    const v = ["--network", "host", "-v", `${at(m.state, "data")}:/mnt/data`];
    assert.equal(
      docker(v, ["s3api", "put-object", ...R, "--bucket", "mirror", "--key", "k1", "--body", "/mnt/data/in"]).code,
      0,
    );
    assert.equal(docker(v, ["s3", "cp", "/mnt/data/in", "s3://mirror/k2", ...R]).code, 0);
    assert.equal(
      docker(v, ["s3api", "get-object", ...R, "--bucket", "mirror", "--key", "k1", "/mnt/data/out1"]).code,
      0,
    );
    assert.equal(docker(v, ["s3", "cp", "s3://mirror/k2", "/mnt/data/sub/out2", ...R]).code, 0);
    assert.deepEqual(
      ["out1", "sub/out2"].map((f) => readFileSync(at(m.state, `data/${f}`), "utf8")),
      ["hello world", "hello world"],
    );
  });

  it("a --body outside every mount is not there (exit 252); a :ro mount refuses OUTFILE", () => {
    const r = docker(
      ["--network", "host"],
      ["s3api", "put-object", ...R, "--bucket", "mirror", "--key", "k", "--body", "/mnt/data/in"],
    );
    assert.equal(r.code, 252);
    const ro = docker(
      ["--network", "host", "-v", `${at(m.state, "data")}:/mnt/data:ro`],
      ["s3api", "get-object", ...R, "--bucket", "mirror", "--key", "k1", "/mnt/data/x"],
    );
    assert.equal(ro.code, 1);
    assert.equal(existsSync(at(m.state, "data/x")), false);
  });

  it("on the bridge network without keys there are no credentials (exit 253); with -e keys the principal is that key", () => {
    const args = ["s3api", "head-object", ...R, "--bucket", "mirror", "--key", "k1"];
    const none = docker([], args, { AWS_ACCESS_KEY_ID: "AKIAHOSTKEY" });
    assert.deepEqual(
      [none.code, /Unable to locate credentials/.test(none.stderr)],
      [253, true],
      "host keys do not leak in",
    );
    const keyed = docker(["-e", "AWS_ACCESS_KEY_ID=ASIAFROMENV", "-e", "AWS_SECRET_ACCESS_KEY=s"], args);
    assert.equal(keyed.code, 0, keyed.stderr);
    assert.equal(readLog(m.state).at(-1)?.principal, "ASIAFROMENV");
  });

  it("sts assume-role --query Credentials prints short-lived ASIA keys expiring after --duration-seconds", () => {
    const r = docker(
      ["--network", "host"],
      ["sts", "assume-role", ...R, "--role-arn", "arn:aws:iam::123456789012:role/qs-read"].concat([
        "--role-session-name",
        "engine",
        "--duration-seconds",
        "3600",
        "--query",
        "Credentials",
        "--output",
        "json",
      ]),
    );
    assert.equal(r.code, 0, r.stderr);
    const c = JSON.parse(r.stdout) as Record<string, string>;
    assert.deepEqual(Object.keys(c), ["AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"]);
    assert.match(c.AccessKeyId ?? "", /^ASIA/);
    const left = Date.parse(c.Expiration ?? "") - Date.now();
    assert.ok(left > 3500_000 && left <= 3600_000, String(left));
  });
});

describe("the hf stub and the fake Hub describe the same repo", () => {
  const m = machine();
  let hub: { url: string; stop(): void };
  before(async () => {
    hub = await startFakeHub(m.state);
  });
  after(() => {
    hub.stop();
    m.done();
  });
  const rev = "89abcdef0123456789abcdef0123456789abcdef";

  it("hf download: four files in snapshots/<rev>, each a relative link to blobs/<etag> (git blob id, or sha256 for LFS)", () => {
    const home = at(m.state, "hf-home");
    const r = m.run(["hf", "download", "Qwen/Qwen3-4B", "--revision", rev], { FAKE_HF_HOME: home });
    assert.equal(r.stdout, `/root/.cache/huggingface/hub/models--Qwen--Qwen3-4B/snapshots/${rev}\n`);
    const snap = path.join(home, "hub/models--Qwen--Qwen3-4B/snapshots", rev);
    assert.deepEqual(
      ["config.json", "model-00002-of-00002.safetensors"].map((f) => readlinkSync(path.join(snap, f))),
      [
        "../../blobs/6581b5cf763a2476a9fc58260b913e5c2cc03b9d",
        "../../blobs/c4ff1c159c0ef2e8470858522662ab78856e94d49d967c65b121b44fe6aef439",
      ],
    );
    const sizes = [
      "config.json",
      "tokenizer.json",
      "model-00001-of-00002.safetensors",
      "model-00002-of-00002.safetensors",
    ].map((f) => readFileSync(path.join(snap, f)).length);
    assert.deepEqual(
      [sizes.reduce((a, b) => a + b, 0), (sizes[0] ?? 0) + (sizes[1] ?? 0) + (sizes[2] ?? 0)],
      [4096, 2048],
    );
  });

  it("the Hub's model info (blobs=true) lists the same files: blobId as git hash-object, lfs sha256 of the downloaded bytes", async () => {
    const res = await fetch(`${hub.url}/api/models/Qwen/Qwen3-4B/revision/${rev}?blobs=true`);
    const body = (await res.json()) as { sha: string; siblings: Record<string, unknown>[] };
    assert.equal(body.sha, rev);
    assert.deepEqual(body.siblings[0], {
      rfilename: "config.json",
      size: 228,
      blobId: "6581b5cf763a2476a9fc58260b913e5c2cc03b9d",
    });
    assert.deepEqual(body.siblings[3], {
      rfilename: "model-00002-of-00002.safetensors",
      size: 2048,
      blobId: "56effa41cd1339ce45a73492d6fd17f9cc23c243",
      lfs: { size: 2048, sha256: "c4ff1c159c0ef2e8470858522662ab78856e94d49d967c65b121b44fe6aef439", pointerSize: 129 },
    });
    const shard = readFileSync(
      at(m.state, `hf-home/hub/models--Qwen--Qwen3-4B/snapshots/${rev}/model-00002-of-00002.safetensors`),
    );
    assert.equal(
      createHash("sha256").update(shard).digest("hex"),
      "c4ff1c159c0ef2e8470858522662ab78856e94d49d967c65b121b44fe6aef439",
    );
  });

  it("a gated repo answers 401 without a bearer token, 200 with one; every hit counted in hub.count", async () => {
    writeFileSync(path.join(m.state, "hub-gated"), "Qwen/Gated\n");
    const url = `${hub.url}/api/models/Qwen/Gated/revision/main?blobs=true`;
    const anon = await fetch(url);
    const withToken = await fetch(url, { headers: { Authorization: "Bearer hf_x" } });
    assert.deepEqual([anon.status, withToken.status], [401, 200]);
    assert.equal(readFileSync(path.join(m.state, "hub.count"), "utf8"), "3");
  });

  it("FAKE_HF_CORRUPT serves that file with its first byte changed", () => {
    const home = at(m.state, "hf-bad");
    m.run(["hf", "download", "Qwen/Qwen3-4B", "--revision", rev], {
      FAKE_HF_HOME: home,
      FAKE_HF_CORRUPT: "config.json",
    });
    const got = readFileSync(path.join(home, "hub/models--Qwen--Qwen3-4B/snapshots", rev, "config.json"));
    assert.equal(got[0], "{".charCodeAt(0) ^ 0xff);
  });
});

/** Start the fake engine and wait until it listens (or exits). */
async function engine(
  state: string,
  argv: string[],
  env: Record<string, string>,
): Promise<{ port: number; exit: Promise<number>; stop: () => void; err: () => string }> {
  const port = await freePort();
  const child = spawn(process.execPath, [path.join(FIXTURES, "fake-engine.js"), ...argv], {
    env: { FAKE_STATE: state, FAKE_ENGINE_PORT: String(port), ...env },
  });
  let err = "";
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number>((resolve) => child.on("exit", (c) => resolve(c ?? -1)));
  let exited = false;
  void exit.then(() => (exited = true));
  for (let i = 0; i < 100 && !exited; i++) {
    const up = await fetch(`http://127.0.0.1:${port}/`).then(
      () => true,
      () => false,
    );
    if (up) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  return { port, exit, stop: () => child.kill("SIGTERM"), err: () => err };
}

describe("the fake Ollama store", () => {
  const m = machine();
  after(() => m.done());

  it(
    "/api/pull writes manifests/registry.ollama.ai/library/<name>/<tag> and blobs named by their sha256; " +
      "/api/tags digest is the manifest file's sha256; a copied store lists the same digest with no pull",
    async () => {
      const dir = at(m.state, "ollama1");
      const e = await engine(m.state, ["ollama", "serve"], { FAKE_OLLAMA_DIR: dir });
      await (
        await fetch(`http://127.0.0.1:${e.port}/api/pull`, { method: "POST", body: '{"model":"qwen3:8b"}' })
      ).text();
      const tags = (await (await fetch(`http://127.0.0.1:${e.port}/api/tags`)).json()) as {
        models: { name: string; digest: string }[];
      };
      e.stop();
      const manifest = readFileSync(path.join(dir, "models/manifests/registry.ollama.ai/library/qwen3/8b"));
      const fileSha = spawnSync("sha256sum", [path.join(dir, "models/manifests/registry.ollama.ai/library/qwen3/8b")], {
        encoding: "utf8",
      }).stdout.split(" ")[0];
      assert.deepEqual(
        tags.models.map((t) => [t.name, t.digest]),
        [["qwen3:8b", fileSha]],
      );
      const layers = (JSON.parse(manifest.toString()) as { layers: { digest: string }[] }).layers;
      for (const l of layers) {
        const blob = readFileSync(path.join(dir, "models/blobs", l.digest.replace(":", "-")));
        assert.equal(`sha256:${createHash("sha256").update(blob).digest("hex")}`, l.digest);
      }
      const copy = at(m.state, "ollama2");
      cpSync(dir, copy, { recursive: true });
      const e2 = await engine(m.state, ["ollama", "serve"], { FAKE_OLLAMA_DIR: copy });
      const tags2 = (await (await fetch(`http://127.0.0.1:${e2.port}/api/tags`)).json()) as {
        models: { digest: string }[];
      };
      e2.stop();
      assert.equal(tags2.models[0]?.digest, fileSha);
      assert.equal(readFileSync(path.join(m.state, "pull.count"), "utf8"), "1");
    },
  );
});

describe("the fake engine streaming from S3", () => {
  const m = machine();
  after(() => m.done());
  const repo = createRequireFiles();
  const prefix = "v1/hf/Qwen/Qwen3-4B/89abcdef0123456789abcdef0123456789abcdef/";
  for (const f of repo) seedObject(m.state, "mirror", `${prefix}${f.path}`, f.bytes);
  const argv = [
    "vllm",
    "serve",
    `s3://mirror/${prefix}`,
    "--load-format",
    "runai_streamer",
    "--served-model-name",
    "q",
  ];
  const creds = (): Record<string, string> => {
    const r = m.run(
      [
        "aws",
        "sts",
        "assume-role",
        ...R,
        "--role-arn",
        "arn:aws:iam::123456789012:role/qs-read",
        "--role-session-name",
        "e",
      ].concat(["--query", "Credentials", "--output", "json"]),
    );
    const c = JSON.parse(r.stdout) as Record<string, string>;
    return {
      AWS_ACCESS_KEY_ID: c.AccessKeyId ?? "",
      AWS_SECRET_ACCESS_KEY: c.SecretAccessKey ?? "",
      AWS_SESSION_TOKEN: c.SessionToken ?? "",
    };
  };

  it("with assumed-role keys and AWS_EC2_METADATA_DISABLED=true: lists the prefix, reads every file as that key, serves", async () => {
    const c = creds();
    const e = await engine(m.state, argv, { ...c, AWS_EC2_METADATA_DISABLED: "true" });
    const health = await fetch(`http://127.0.0.1:${e.port}/health`).then(
      (r) => r.status,
      () => 0,
    );
    e.stop();
    assert.equal(health, 200, e.err());
    const reads = readLog(m.state).filter((l) => l.principal === c.AWS_ACCESS_KEY_ID);
    assert.deepEqual(
      reads.map((l) => `${l.op} ${l.key.slice(prefix.length)}`),
      [
        "ListObjectsV2 ",
        "GetObject config.json",
        "GetObject model-00001-of-00002.safetensors",
        "GetObject model-00002-of-00002.safetensors",
        "GetObject tokenizer.json",
      ],
    );
  });

  it("fails like the engine, exit 1, without AWS_EC2_METADATA_DISABLED, with made-up keys, or with a truncated shard", async () => {
    const c = creds();
    const noImds = await engine(m.state, argv, c);
    const forged = await engine(m.state, argv, {
      ...c,
      AWS_ACCESS_KEY_ID: "ASIAMADEUP",
      AWS_EC2_METADATA_DISABLED: "true",
    });
    truncate(m.state, "mirror", `${prefix}model-00002-of-00002.safetensors`);
    const cut = await engine(m.state, argv, { ...c, AWS_EC2_METADATA_DISABLED: "true" });
    assert.deepEqual(await Promise.all([noImds.exit, forged.exit, cut.exit]), [1, 1, 1]);
    assert.match(noImds.err(), /AWS_EC2_METADATA_DISABLED/);
    assert.match(forged.err(), /InvalidAccessKeyId/);
    assert.match(
      cut.err(),
      /model-00002-of-00002\.safetensors: Error while deserializing header: MetadataIncompleteBuffer/,
    );
  });
});

/** The fake repo's files, through the same module the stubs use. */
function createRequireFiles(): { path: string; bytes: Buffer }[] {
  const mod = require(path.join(FIXTURES, "fake-hf-repo.js")) as { FILES: { path: string; bytes: Buffer }[] };
  return mod.FILES;
}
