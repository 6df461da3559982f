/**
 * The machine side of the S3 weights mirror (`aws.weightsCache: s3`), run for real in the sandbox:
 * steps/weights.sh with mirror.sh/mirror.py against the `aws` stub's fake S3, the fake Hub and the
 * fake engines (test/fixtures). Each machine is a fresh sandbox root; a "second machine" shares only
 * the fake S3, as a second instance in the same account would. Also: the baked-image checks of the
 * weights phase's skip path, and the user-data size with the mirror's scripts shipped.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import { MODELS } from "../components/catalog/models";
import { AWS_CLI_IMAGE } from "../components/catalog/pins";
import { ENGINES } from "../components/engines";
import { idleScriptSsm, machineFiles } from "../components/machine/assets";
import { renderCloudInit, type MachineSettings } from "../components/machine/render";
import { modelPrefix, usedMarkerKey, type WeightsMirror } from "../components/mirror/keys";
import { buildPlan } from "../components/sizing/plan";
import { parsePlanRequest } from "../components/sizing/request";
import {
  corrupt,
  listKeys,
  objectBytes,
  objectMeta,
  readLog,
  remove,
  seedObject,
  startFakeHub,
  truncate,
  type FakeHub,
} from "./helpers/fakeS3";
import { Sandbox, type SandboxOptions } from "./helpers/sandbox";

const repo = require("./fixtures/fake-hf-repo.js") as {
  FILES: { path: string; bytes: Buffer; lfs: boolean }[];
};

const COMMIT = "5a1f0e4c3b2a19081716151413121110a0b0c0d0";
/** sha256 of the manifest file the fake Ollama registry serves for qwen3:0.6b (test/fixtures/fake-engine.js). */
const OLLAMA_DIGEST = "26e4ee1e0e49caee3e1f0ea72828264d33b5b35c8448f68bb89918c30f94d9f2";
/** The Ollama tag the plan serves for qwen3:0.6b, and its manifest in the store. */
const OLLAMA_REF = "qwen3:0.6b-q4_K_M";
const OLLAMA_MANIFEST = "var/lib/qwen3-serve/ollama/models/manifests/registry.ollama.ai/library/qwen3/0.6b-q4_K_M";
const BUCKET = "qwen3-serve-weights-123456789012-us-east-1";
const READ_ROLE = "arn:aws:iam::123456789012:role/qwen3-serve-sandbox-weights-read";
const HF_REF = "Qwen/Qwen3-8B";
const HF_PREFIX = modelPrefix({ source: "hf", ref: HF_REF, revision: COMMIT });
const HF_SNAPSHOT = `var/lib/qwen3-serve/hf/hub/models--Qwen--Qwen3-8B/snapshots/${COMMIT}`;
const sha256 = (b: Buffer | string): Buffer => createHash("sha256").update(b).digest();

function mirror(prefix: string, stream: boolean): WeightsMirror {
  return {
    bucket: BUCKET,
    region: "us-east-1",
    prefix,
    stream,
    ...(stream ? { readRoleArn: READ_ROLE } : {}),
    usedKey: usedMarkerKey("qwen3-serve", "sandbox", prefix),
  };
}

const sandboxes: Sandbox[] = [];
let hub: FakeHub;
let hubState: string;
const hubHits = (): number => {
  const f = path.join(hubState, "hub.count");
  return existsSync(f) ? Number(readFileSync(f, "utf8")) : 0;
};

/** A machine with the files in place and its secrets fetched, ready for the weights phase. */
async function machine(
  opts: Partial<SandboxOptions> & { request: SandboxOptions["request"] },
  phases = ["secrets", "engine"],
): Promise<Sandbox> {
  // As the AWS target ships a machine: idle.py (and with the mirror, the mirror's scripts) through SSM.
  const sb = await Sandbox.create({ idleFromSsm: true, ...opts });
  sandboxes.push(sb);
  sb.setEnv({ HF_ENDPOINT: hub.url });
  sb.place();
  for (const phase of phases) {
    const r = await sb.step(phase);
    assert.ok(r.code === 0 || r.code === 20, `${phase}: ${r.stdout}${r.stderr}`);
  }
  return sb;
}

/** A vLLM machine; the engine phase (its unit) only where the test starts the engine. */
const hfMachine = (stream: boolean, sharedS3?: string): Promise<Sandbox> =>
  machine(
    {
      request: { model: "qwen3:8b", engine: "vllm", modelRevision: COMMIT },
      weightsMirror: mirror(HF_PREFIX, stream),
      ...(sharedS3 !== undefined ? { sharedS3 } : {}),
    },
    stream ? ["secrets", "engine"] : ["secrets"],
  );

async function weights(sb: Sandbox, want: 0 | 20 = 0): Promise<string> {
  const r = await sb.step("weights");
  assert.equal(r.code, want, r.stdout + r.stderr);
  return r.stdout + r.stderr;
}

const opsOn = (state: string, key: string): string[] =>
  readLog(state)
    .filter((e) => e.key === key)
    .map((e) => `${e.op} ${e.status}`);

before(async () => {
  hubState = mkdtempSync(path.join(os.tmpdir(), "qs-hub-"));
  hub = await startFakeHub(hubState);
});
after(() => {
  hub.stop();
  for (const sb of sandboxes) sb.destroy();
  rmSync(hubState, { recursive: true, force: true });
});

describe("the S3 weights mirror, Hugging Face (vLLM)", () => {
  let first: Sandbox;

  it("seeds after a verified download: every file one single-part PUT with its SHA-256, the manifest written after them all, one hf download", async () => {
    const hubBefore = hubHits();
    first = await hfMachine(false);
    await weights(first);
    assert.equal(first.count("hf"), 1);
    assert.equal(hubHits() - hubBefore, 1, "one Hub file-list request");
    assert.deepEqual(listKeys(first.state, BUCKET, `${HF_PREFIX}/`), [
      `${HF_PREFIX}/.qwen3-serve/manifest.json`,
      `${HF_PREFIX}/config.json`,
      `${HF_PREFIX}/model-00001-of-00002.safetensors`,
      `${HF_PREFIX}/model-00002-of-00002.safetensors`,
      `${HF_PREFIX}/tokenizer.json`,
    ]);
    for (const f of repo.FILES) {
      const key = `${HF_PREFIX}/${f.path}`;
      assert.deepEqual(objectBytes(first.state, BUCKET, key), f.bytes, key);
      const meta = objectMeta(first.state, BUCKET, key);
      assert.equal(meta?.sha256b64, sha256(f.bytes).toString("base64"), key);
      assert.equal(meta?.checksumType, "FULL_OBJECT", key);
    }
    const puts = readLog(first.state).filter((e) => e.op === "PutObject" && e.key.startsWith(HF_PREFIX));
    assert.equal(puts.length, 5);
    assert.equal(puts.at(-1)?.key, `${HF_PREFIX}/.qwen3-serve/manifest.json`, "the manifest goes last");
    const manifest = JSON.parse(
      objectBytes(first.state, BUCKET, `${HF_PREFIX}/.qwen3-serve/manifest.json`)?.toString() ?? "",
    ) as { version: number; source: string; ref: string; revision: string; files: { path: string }[] };
    assert.deepEqual([manifest.version, manifest.source, manifest.ref, manifest.revision], [1, "hf", HF_REF, COMMIT]);
    assert.deepEqual(
      manifest.files.map((f) => f.path),
      ["config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "tokenizer.json"],
    );
    const used = JSON.parse(objectBytes(first.state, BUCKET, mirror(HF_PREFIX, false).usedKey)?.toString() ?? "{}");
    assert.equal(used.prefix, HF_PREFIX);
  });

  it("a second machine copies the prefix into its snapshot folder: no hf download, no Hub request, nothing uploaded but the used marker", async () => {
    const hubBefore = hubHits();
    const second = await hfMachine(false, first.state);
    const logBefore = readLog(second.state).length;
    await weights(second);
    assert.equal(second.count("hf"), 0);
    assert.equal(hubHits(), hubBefore);
    for (const f of repo.FILES) assert.deepEqual(readFileSync(second.p(`${HF_SNAPSHOT}/${f.path}`)), f.bytes, f.path);
    const puts = readLog(second.state)
      .slice(logBefore)
      .filter((e) => e.op === "PutObject")
      .map((e) => e.key);
    assert.deepEqual(puts, [mirror(HF_PREFIX, false).usedKey]);
  });

  it(
    "a second streaming machine downloads nothing, and its engine streams with the " +
      "read role's STS keys from a 0600 env file, none of them on docker's argv",
    async () => {
      const hubBefore = hubHits();
      const second = await hfMachine(true, first.state);
      await weights(second);
      assert.equal(second.count("hf"), 0);
      assert.equal(hubHits(), hubBefore);
      assert.equal(existsSync(second.p(`${HF_SNAPSHOT}/config.json`)), false, "nothing copied to disk");
      const r = await second.run(["systemctl", "start", "qwen3-serve-engine.service"]);
      assert.equal(r.code, 0, r.stderr);
      const envFile = second.p("run/qwen3-serve/engine-aws.env");
      const deadline = Date.now() + 8000;
      while (!existsSync(path.join(second.state, "docker-run.json")) && Date.now() < deadline)
        await new Promise((res) => setTimeout(res, 50));
      const issued = JSON.parse(readFileSync(path.join(second.state, "sts-credentials.json"), "utf8")) as {
        AccessKeyId: string;
        SecretAccessKey: string;
        SessionToken: string;
        roleArn: string;
        sessionName: string;
      }[];
      assert.equal(issued.length, 1);
      const creds = issued[0];
      assert.equal(creds?.roleArn, READ_ROLE);
      assert.equal(creds?.sessionName, "qwen3-serve-engine");
      assert.equal((statSync(envFile).mode & 0o777).toString(8), "600");
      assert.equal(
        readFileSync(envFile, "utf8"),
        `AWS_ACCESS_KEY_ID=${creds?.AccessKeyId}\nAWS_SECRET_ACCESS_KEY=${creds?.SecretAccessKey}\n` +
          `AWS_SESSION_TOKEN=${creds?.SessionToken}\nAWS_REGION=us-east-1\nAWS_DEFAULT_REGION=us-east-1\n` +
          "AWS_EC2_METADATA_DISABLED=true\n",
      );
      const run = readFileSync(path.join(second.state, "docker-run.json"), "utf8");
      for (const secret of [creds?.AccessKeyId, creds?.SecretAccessKey, creds?.SessionToken])
        assert.ok(secret !== undefined && !run.includes(secret), "no credential on docker's argv");
      assert.match(run, /"--env-file","[^"]*\/run\/qwen3-serve\/engine-aws\.env"/, run);
      while (
        !readLog(second.state).some((e) => e.op === "GetObject" && e.principal === creds?.AccessKeyId) &&
        Date.now() < deadline
      )
        await new Promise((res) => setTimeout(res, 50));
      const streamed = readLog(second.state).filter((e) => e.op === "GetObject" && e.principal === creds?.AccessKeyId);
      assert.ok(
        streamed.some((e) => e.key === `${HF_PREFIX}/model-00001-of-00002.safetensors`),
        "the engine read the shards with the read role's keys",
      );
      second.stopUnits();
    },
  );

  const damage: [string, (state: string, key: string) => void, string, RegExp][] = [
    [
      "a corrupt object",
      (s, k) => corrupt(s, BUCKET, k),
      "model-00002-of-00002.safetensors",
      /SHA-256 \S+ in S3, \S+ expected/,
    ],
    [
      "a truncated object",
      (s, k) => truncate(s, BUCKET, k),
      "model-00001-of-00002.safetensors",
      /size \d+ in S3, \d+ expected/,
    ],
    ["a missing manifest", (s, k) => remove(s, BUCKET, k), ".qwen3-serve/manifest.json", /it has no manifest/],
  ];
  for (const [what, hurt, file, reason] of damage) {
    it(`${what} is detected and logged, the model comes from Hugging Face, and the object is replaced`, async () => {
      const key = `${HF_PREFIX}/${file}`;
      const before = objectBytes(first.state, BUCKET, key);
      hurt(first.state, key);
      const second = await hfMachine(false, first.state);
      const out = await weights(second);
      const line = out.split("\n").find((l) => reason.test(l)) ?? "";
      assert.match(line, /^qwen3-serve\[weights\]: mirror: /, out);
      if (!file.startsWith(".qwen3-serve")) assert.ok(line.includes(`: ${key}: `), line);
      assert.equal(second.count("hf"), 1);
      assert.deepEqual(objectBytes(first.state, BUCKET, key), before, "the object holds the verified bytes again");
      const ops = opsOn(second.state, key);
      if (file.startsWith(".qwen3-serve")) assert.deepEqual(ops, ["GetObject 404", "PutObject 200"]);
      else assert.deepEqual(ops.slice(-4), ["PutObject 412", "HeadObject 200", "DeleteObject 204", "PutObject 200"]);
    });
  }

  it("refuses to seed a download whose bytes differ from the Hub's sha256, and says which file", async () => {
    const prefix = modelPrefix({ source: "hf", ref: HF_REF, revision: "f".repeat(40) });
    const sb = await machine(
      {
        request: { model: "qwen3:8b", engine: "vllm", modelRevision: "f".repeat(40) },
        weightsMirror: mirror(prefix, false),
      },
      ["secrets"],
    );
    sb.setEnv({ FAKE_HF_CORRUPT: "model-00002-of-00002.safetensors" });
    const out = await weights(sb);
    assert.match(
      out,
      /download differs from the Hub: model-00002-of-00002\.safetensors: SHA-256 [0-9a-f]{64}, the Hub says/,
    );
    assert.match(out, /not seeding the mirror/);
    assert.deepEqual(listKeys(sb.state, BUCKET, `${prefix}/`), []);
  });
});

describe("the S3 weights mirror, Ollama", () => {
  const prefix = modelPrefix({ source: "ollama", ref: OLLAMA_REF, revision: OLLAMA_DIGEST });
  const ollamaMachine = (sharedS3?: string): Promise<Sandbox> =>
    machine({
      request: { model: "qwen3:0.6b", engine: "ollama", modelRevision: OLLAMA_DIGEST },
      weightsMirror: mirror(prefix, false),
      ...(sharedS3 !== undefined ? { sharedS3 } : {}),
    });

  it("seeds the manifest and its blobs after a pull, and a second machine copies them and serves the pinned digest with no /api/pull", async () => {
    const first = await ollamaMachine();
    await weights(first);
    assert.equal(first.count("pull"), 1);
    const keys = listKeys(first.state, BUCKET, "v1/ollama/");
    assert.ok(keys.includes(`${prefix}/manifest`), keys.join());
    assert.ok(keys.includes(`${prefix}/.qwen3-serve/manifest.json`), keys.join());
    assert.equal(keys.filter((k) => k.startsWith("v1/ollama/blobs/sha256-")).length, 4);
    const manifest = objectBytes(first.state, BUCKET, `${prefix}/manifest`) ?? Buffer.alloc(0);
    assert.equal(sha256(manifest).toString("hex"), OLLAMA_DIGEST);
    first.stopUnits();

    const second = await ollamaMachine(first.state);
    await weights(second);
    assert.equal(second.count("pull"), 0);
    const tags = await fetch(`http://127.0.0.1:${second.enginePort}/api/tags`).then((r) => r.json());
    assert.equal((tags as { models: { digest: string }[] }).models[0]?.digest, OLLAMA_DIGEST);
    assert.deepEqual(readFileSync(second.p(OLLAMA_MANIFEST)), manifest);
    second.stopUnits();
  });
});

describe("the weights phase on a baked image trusts only what it can re-check", () => {
  it("hf: another revision in the marker, or a file one byte short, runs the phase; consistent state is skipped with no hf call", async () => {
    const sb = await machine({ request: { model: "qwen3:8b", engine: "vllm", modelRevision: COMMIT } }, ["secrets"]);
    await weights(sb);
    assert.equal(sb.count("hf"), 1);
    await weights(sb, 20);
    assert.equal(sb.count("hf"), 1, "consistent: skipped, no download");
    const marker = sb.p("var/lib/qwen3-serve/weights.done");
    const lines = readFileSync(marker, "utf8").split("\n");
    writeFileSync(marker, [`hf ${HF_REF} ${"e".repeat(40)}`, ...lines.slice(1)].join("\n"));
    await weights(sb);
    assert.equal(sb.count("hf"), 2, "a marker for another revision: downloaded again");
    const shard = sb.p(`${HF_SNAPSHOT}/model-00002-of-00002.safetensors`);
    truncateSync(shard, statSync(shard).size - 1);
    const out = await weights(sb);
    assert.match(out, /model-00002-of-00002\.safetensors is missing or not 2048 bytes/);
    assert.equal(sb.count("hf"), 3, "a file one byte short: downloaded again");
    await weights(sb, 20);
  });

  it("ollama: a manifest whose sha256 is not the pinned digest runs the phase; consistent state is skipped with no /api/pull", async () => {
    const sb = await machine({ request: { model: "qwen3:0.6b", engine: "ollama", modelRevision: OLLAMA_DIGEST } });
    await weights(sb);
    assert.equal(sb.count("pull"), 1);
    await weights(sb, 20);
    assert.equal(sb.count("pull"), 1);
    const manifest = sb.p(OLLAMA_MANIFEST);
    // Same size, other bytes: only the digest can tell.
    writeFileSync(manifest, readFileSync(manifest, "utf8").replace('"schemaVersion":2', '"schemaVersion":3'));
    const out = await weights(sb);
    assert.match(out, /the manifest of qwen3:0\.6b-q4_K_M is not digest/);
    assert.equal(sb.count("pull"), 2);
    sb.stopUnits();
  });
});

describe("user data with the mirror", () => {
  it(
    "the AWS form with a streaming mirror, a fleet (sharing its compile cache) and TLS stays under EC2's 16,384 bytes " +
      "gzipped for every model and engine, the mirror's scripts coming through SSM",
    () => {
      const idle = idleScriptSsm(`/qwen3-serve/${"s".repeat(40)}`, { mirror: true });
      let largest = 0;
      for (const m of MODELS) {
        for (const engine of ["vllm", "sglang", "ollama"] as const) {
          let p: ReturnType<typeof buildPlan>;
          try {
            p = buildPlan(
              parsePlanRequest({
                model: m.id,
                engine,
                context: 131072,
                modelRevision: "a".repeat(engine === "ollama" ? 64 : 40),
              }),
            );
          } catch {
            continue;
          }
          const stream = ENGINES[engine].objectStore !== undefined;
          const settings: MachineSettings = {
            secrets: {
              source: "ssm",
              region: "ap-southeast-2",
              apiKeyParameter: `/qwen3-serve/${"s".repeat(40)}/api-key`,
              hfTokenParameter: `/qwen3-serve/${"s".repeat(40)}/hf-token`,
            },
            idleFromSsm: { parameters: idle.parameters, sha256: idle.sha256 },
            proxyPort: 8443,
            driver: "install",
            tls: { domain: "qwen3-endpoint.research.example.com", email: "ml-platform-team@example.com" },
            engineImageDigest: `sha256:${"a".repeat(64)}`,
            idle: { minutes: null, ttlHours: null, countSsh: false, action: "poweroff", fromInstanceTags: true },
            fleet: {
              region: "ap-southeast-2",
              autoScalingGroupName: `qwen3-serve-${"s".repeat(40)}-fleet`,
              metricNamespace: "qwen3-serve",
              queueMetric: "QueueDepth",
              publishQueueMetric: engine !== "ollama",
              readyPath: "/qwen3-serve/ready",
            },
            weightsMirror: {
              ...mirror(modelPrefix({ ...p.serve.weights, revision: p.serve.weights.revision ?? "" }), stream),
              bucket: "qwen3-serve-weights-123456789012-ap-southeast-2",
              region: "ap-southeast-2",
              // A fleet of a compiling engine shares its compile cache: one more key in the env file.
              ...(engine !== "ollama" ? { compileCache: `v1/cache/qwen3-serve.${"s".repeat(40)}` } : {}),
            },
          };
          const files = machineFiles(p, settings);
          assert.ok(
            !files.some((f) => /\/(mirror\.(py|sh)|idle\.py)$/.test(f.path)),
            "the mirror's scripts travel through SSM",
          );
          largest = Math.max(largest, gzipSync(renderCloudInit(files), { level: 9 }).length);
        }
      }
      assert.ok(largest > 0);
      assert.ok(largest < 16384, `largest gzipped user data is ${largest} bytes; EC2 takes at most 16384`);
    },
  );
});

describe("a fleet's compile cache in the mirror (vLLM replicas)", () => {
  const CACHE_PREFIX = "v1/cache/qwen3-serve.sandbox";
  const ENGINE_CACHE = "var/lib/qwen3-serve/engine-cache";
  /** What the first replica's engine compiled (as vLLM, Triton and Inductor write below the mounted cache). */
  const COMPILED: Record<string, string> = {
    "vllm/torch_compile_cache/4f2a/rank_0_0/backbone/computation_graph.py": "def forward(x):\n    return x\n",
    "triton/8c1d/triton_poi_fused_0.cubin": "\u0000cubin\u0001",
    "inductor/fxgraph/ab/fxgraph-ab12": "graph",
  };
  const fleetReplica = (sharedS3?: string): Promise<Sandbox> =>
    machine(
      {
        request: { model: "qwen3:8b", engine: "vllm", modelRevision: COMMIT },
        weightsMirror: { ...mirror(HF_PREFIX, false), compileCache: CACHE_PREFIX },
        fleet: {
          region: "us-east-1",
          autoScalingGroupName: "qwen3-serve-sandbox-fleet",
          metricNamespace: "qwen3-serve",
          queueMetric: "QueueDepth",
          publishQueueMetric: false,
          readyPath: "/qwen3-serve/ready",
        },
        ...(sharedS3 !== undefined ? { sharedS3 } : {}),
      },
      ["secrets", "engine", "proxy"],
    );
  const cacheKeyOf = (sb: Sandbox): string =>
    /^WEIGHTS_MIRROR_CACHE_KEY='([^']*)'$/m.exec(
      sb.files.find((f) => f.path.endsWith("/bootstrap.env"))?.content ?? "",
    )?.[1] ?? "";
  async function phase(sb: Sandbox, name: string): Promise<string> {
    const r = await sb.step(name);
    assert.equal(r.code, 0, `${name}: ${r.stdout}${r.stderr}`);
    return r.stdout + r.stderr;
  }
  /** A tar.gz of these members: files (one byte) or, with `link`, symlinks. */
  const tarball = (members: { name: string; link?: string }[]): Buffer => {
    const script =
      "import io, json, sys, tarfile\n" +
      "buf = io.BytesIO()\n" +
      "with tarfile.open(fileobj=buf, mode='w:gz') as t:\n" +
      "    for m in json.loads(sys.argv[1]):\n" +
      "        info = tarfile.TarInfo(m['name'])\n" +
      "        if 'link' in m:\n" +
      "            info.type, info.linkname = tarfile.SYMTYPE, m['link']\n" +
      "            t.addfile(info)\n" +
      "        else:\n" +
      "            info.size = 1\n" +
      "            t.addfile(info, io.BytesIO(b'x'))\n" +
      "sys.stdout.buffer.write(buf.getvalue())\n";
    const r = spawnSync("python3", ["-c", script, JSON.stringify(members)]);
    assert.equal(r.status, 0, String(r.stderr));
    return r.stdout;
  };
  let first: Sandbox;

  it(
    "a replica that compiled shares its engine cache after the first token: one create-only " +
      "PUT with its SHA-256 under the stack's cache prefix, holding what the engine wrote",
    async () => {
      first = await fleetReplica();
      const key = cacheKeyOf(first);
      assert.match(key, /^v1\/cache\/qwen3-serve\.sandbox\/[0-9a-f]{64}\.tar\.gz$/);
      await weights(first);
      const load = await phase(first, "load");
      assert.match(load, /mirror: no compile cache unpacked from \S+ \(none shared yet\); the engine compiles/);
      for (const [rel, text] of Object.entries(COMPILED)) {
        mkdirSync(path.dirname(first.p(`${ENGINE_CACHE}/${rel}`)), { recursive: true });
        writeFileSync(first.p(`${ENGINE_CACHE}/${rel}`), text);
      }
      const out = await phase(first, "first-token");
      assert.match(
        out,
        /mirror: shared the compile cache as v1\/cache\/qwen3-serve\.sandbox\/[0-9a-f]{64}\.tar\.gz \(\d+ bytes\)/,
      );
      assert.deepEqual(listKeys(first.state, BUCKET, "v1/cache/"), [key]);
      assert.deepEqual(opsOn(first.state, key), ["GetObject 404", "PutObject 200"]);
      const bytes = objectBytes(first.state, BUCKET, key) ?? Buffer.alloc(0);
      const meta = objectMeta(first.state, BUCKET, key);
      assert.equal(meta?.sha256b64, sha256(bytes).toString("base64"));
      assert.equal(meta?.checksumType, "FULL_OBJECT");
      const listing = spawnSync("tar", ["-tzf", "-"], { input: bytes, encoding: "utf8" }).stdout.split("\n");
      for (const rel of Object.keys(COMPILED))
        assert.ok(listing.includes(`./${rel}`), `${rel} in ${listing.join(" ")}`);
      first.stopUnits();
    },
  );

  it("a second replica unpacks it into its empty engine cache before its engine starts, and uploads nothing after its first token", async () => {
    const second = await fleetReplica(first.state);
    const key = cacheKeyOf(second);
    assert.equal(key, cacheKeyOf(first), "the same plan on the same GPUs: the same key");
    await weights(second);
    const load = await phase(second, "load");
    assert.match(
      load,
      /mirror: unpacked the fleet's compile cache v1\/cache\/qwen3-serve\.sandbox\/\S+ \(\d+ bytes, SHA-256 checked\)/,
    );
    for (const [rel, text] of Object.entries(COMPILED))
      assert.equal(readFileSync(second.p(`${ENGINE_CACHE}/${rel}`), "utf8"), text, rel);
    const calls = second.calls();
    const fetched = calls.findIndex((c) => c.cmd === "aws" && c.args.includes("get-object") && c.args.includes(key));
    const started = calls.findIndex(
      (c) =>
        c.cmd === "systemctl" && /^(re)?start$/.test(c.args[0] ?? "") && c.args[1] === "qwen3-serve-engine.service",
    );
    assert.ok(fetched >= 0 && started > fetched, `get-object at ${fetched}, engine start at ${started}`);
    await phase(second, "first-token");
    assert.deepEqual(
      readLog(second.state)
        .filter((e) => e.op === "PutObject" && e.key.startsWith("v1/cache/"))
        .map((e) => e.key),
      [],
    );
    assert.equal(readFileSync(second.p("var/lib/qwen3-serve/engine-cache.key"), "utf8"), `${key}\n`);
    second.stopUnits();
  });

  it(
    "a cache tarball holding ../x, an absolute path or a link out of the cache is refused " +
      "whole, and one whose bytes do not match S3's SHA-256 is ignored: nothing unpacked",
    async () => {
      const sb = await fleetReplica();
      const key = cacheKeyOf(sb);
      const fetch = async (): Promise<string> => {
        const lib = sb.p("usr/local/lib/qwen3-serve");
        const r = await sb.run([
          "env",
          `QS_LIB=${lib}`,
          "QS_PHASE=load",
          "bash",
          "-c",
          '. "$QS_LIB/lib.sh"; load_env "$QS_ENV_FILE"; . "$QS_LIB/mirror.sh"; engine_cache_fetch',
        ]);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        return r.stdout + r.stderr;
      };
      const bad: [string, { name: string; link?: string }[], RegExp][] = [
        ["../x", [{ name: "./vllm/ok" }, { name: "../x" }], /member '\.\.\/x': an absolute path or \.\. in its name/],
        ["an absolute path", [{ name: "/srv/qs-abs-x" }], /member '\/srv\/qs-abs-x': an absolute path/],
        [
          "a link out",
          [{ name: "./triton", link: "../../../etc" }],
          /member '\.\/triton': an absolute path or \.\. in its name or link target/,
        ],
      ];
      for (const [what, members, reason] of bad) {
        remove(sb.state, BUCKET, key);
        seedObject(sb.state, BUCKET, key, tarball(members));
        const out = await fetch();
        assert.match(out, reason, what);
        assert.match(out, /: not unpacked; the engine compiles/, what);
        assert.equal(existsSync(sb.p(ENGINE_CACHE)) && readdirSync(sb.p(ENGINE_CACHE)).length > 0, false, what);
        assert.equal(existsSync(sb.p("var/lib/qwen3-serve/x")), false, what);
        assert.equal(existsSync(sb.p(`${ENGINE_CACHE}.incoming`)), false, what);
      }
      assert.equal(existsSync("/srv/qs-abs-x"), false);
      // Bytes that are not what S3 checksummed (S3 itself would never serve them; a damaged transfer could).
      remove(sb.state, BUCKET, key);
      seedObject(sb.state, BUCKET, key, tarball([{ name: "./vllm/ok" }]));
      const object = path.join(sb.state, "s3", BUCKET, key);
      const damaged = readFileSync(object);
      damaged[damaged.length - 1] = (damaged[damaged.length - 1] ?? 0) ^ 0xff;
      writeFileSync(object, damaged);
      const out = await fetch();
      assert.match(out, /mirror: v1\/cache\/\S+: SHA-256 \S+ in S3, \S+ expected: not unpacked; the engine compiles/);
      assert.equal(existsSync(sb.p(`${ENGINE_CACHE}/vllm/ok`)), false);
      assert.equal(existsSync(sb.p("var/lib/qwen3-serve/engine-cache.key")), false);
    },
  );
});

describe("the S3 weights mirror with no host aws (plain Ubuntu): every call through the pinned CLI image", () => {
  const STATE = "var/lib/qwen3-serve";
  /** The folders mirror.sh mounts into the CLI's container (AWS_CLI_DIRS), at their own paths. */
  const MOUNTS = [`${STATE}/mirror`, `${STATE}/hf`, `${STATE}/ollama`];
  /** Docker options that take a value, as lib.sh aws_cli passes them. */
  const DOCKER_VALUE = new Set(["--network", "-v", "-e", "--env-file", "--entrypoint", "--name"]);

  /** One `docker run` of an amazon/aws-cli image: its network, mounts, image and the CLI's words. */
  interface CliRun {
    readonly network: string | undefined;
    readonly mounts: string[];
    readonly image: string;
    readonly cli: string[];
  }
  function cliRuns(sb: Sandbox, from = 0): CliRun[] {
    return sb
      .calls()
      .slice(from)
      .filter((c) => c.cmd === "docker" && c.args[0] === "run" && c.args.some((a) => a.startsWith("amazon/aws-cli")))
      .map((c) => {
        const t = c.args.slice(1);
        let network: string | undefined;
        const mounts: string[] = [];
        let j = 0;
        for (; j < t.length && (t[j] ?? "").startsWith("-"); j += DOCKER_VALUE.has(t[j] ?? "") ? 2 : 1) {
          if (t[j] === "--network") network = t[j + 1];
          if (t[j] === "-v") mounts.push(t[j + 1] ?? "");
        }
        return { network, mounts, image: t[j] ?? "", cli: t.slice(j + 1) };
      });
  }
  /** The CLI's local file arguments: get-object's outfile, put-object's --body, s3 cp's non-S3 side. */
  function fileArgs(cli: readonly string[]): string[] {
    const op = `${cli[0]} ${cli[1]}`;
    if (op === "s3api get-object") return [cli.at(-1) ?? ""];
    if (op === "s3api put-object") return [cli[cli.indexOf("--body") + 1] ?? ""];
    if (op === "s3 cp") return [cli[2] ?? "", cli[3] ?? ""].filter((a) => !a.startsWith("s3://"));
    return [];
  }
  /**
   * Checks every run is the pinned image on the host network with the mirror's folders mounted at their own paths,
   * each file argument absolute and inside one of them, and nothing left in the container's own filesystem (the
   * docker stub puts a path outside every mount there). Returns "service op file-below-the-root" per run.
   */
  function checkedRuns(sb: Sandbox, from = 0): string[] {
    const runs = cliRuns(sb, from);
    assert.ok(runs.length > 0, "the AWS calls went through docker run");
    const hostDirs = MOUNTS.map((m) => sb.p(m));
    for (const r of runs) {
      assert.equal(r.image, AWS_CLI_IMAGE, r.cli.join(" "));
      assert.equal(r.network, "host", `the instance role needs the host network: ${r.cli.join(" ")}`);
      assert.deepEqual(
        r.mounts,
        hostDirs.map((d) => `${d}:${d}`),
      );
      for (const f of fileArgs(r.cli)) {
        assert.ok(
          path.isAbsolute(f) && hostDirs.some((d) => f.startsWith(`${d}/`)),
          `${f} is inside a mounted folder (${r.cli.join(" ")})`,
        );
      }
    }
    assert.equal(existsSync(path.join(sb.state, "container-fs")), false, "nothing written outside the mounts");
    return runs.map((r) => [r.cli[0], r.cli[1], ...fileArgs(r.cli).map((f) => path.relative(sb.root, f))].join(" "));
  }
  /** The first two calls in order (used marker, manifest read), the parallel rest sorted. */
  const settled = (ops: string[], keepLast = false): string[] => [
    ...ops.slice(0, 2),
    ...ops.slice(2, keepLast ? -1 : undefined).sort(),
    ...(keepLast ? ops.slice(-1) : []),
  ];
  const plainMachine = (
    opts: Pick<SandboxOptions, "request" | "weightsMirror" | "sharedS3">,
    phases: string[],
  ): Promise<Sandbox> => machine({ ...opts, hostAws: false }, phases);
  const hf = (stream: boolean, sharedS3?: string): Promise<Sandbox> =>
    plainMachine(
      {
        request: { model: "qwen3:8b", engine: "vllm", modelRevision: COMMIT },
        weightsMirror: mirror(HF_PREFIX, stream),
        ...(sharedS3 !== undefined ? { sharedS3 } : {}),
      },
      stream ? ["secrets", "engine"] : ["secrets"],
    );
  const sortedFiles = [...repo.FILES].map((f) => f.path).sort();
  let first: Sandbox;

  it(
    "seeds after a verified download: the used marker, the manifest read and every PUT are docker runs of " +
      `${AWS_CLI_IMAGE} on the host network, their files inside the mounted folders, signed by the instance role`,
    async () => {
      first = await hf(false);
      const which = await first.run(["bash", "-c", "command -v aws"]);
      assert.notEqual(which.code, 0, `no aws on the machine's PATH: ${which.stdout}`);
      const from = first.calls().length;
      const logFrom = readLog(first.state).length;
      await weights(first);
      assert.equal(first.count("hf"), 1);
      assert.deepEqual(settled(checkedRuns(first, from), true), [
        `s3api put-object ${STATE}/mirror/used.json`,
        `s3api get-object ${STATE}/mirror/manifest.json`,
        ...sortedFiles.map((f) => `s3api put-object ${HF_SNAPSHOT}/${f}`),
        `s3api put-object ${STATE}/mirror/manifest.out.json`,
      ]);
      for (const f of repo.FILES) assert.deepEqual(objectBytes(first.state, BUCKET, `${HF_PREFIX}/${f.path}`), f.bytes);
      assert.ok(objectBytes(first.state, BUCKET, `${HF_PREFIX}/.qwen3-serve/manifest.json`) !== null);
      const principals = new Set(
        readLog(first.state)
          .slice(logFrom)
          .map((e) => e.principal),
      );
      assert.deepEqual([...principals], ["instance-role"]);
    },
  );

  it("a second machine copies the prefix with no hf download and no Hub request: each object's s3 cp into the mounted hf cache", async () => {
    const hubBefore = hubHits();
    const second = await hf(false, first.state);
    const from = second.calls().length;
    await weights(second);
    assert.equal(second.count("hf"), 0);
    assert.equal(hubHits(), hubBefore);
    assert.deepEqual(settled(checkedRuns(second, from)), [
      `s3api put-object ${STATE}/mirror/used.json`,
      `s3api get-object ${STATE}/mirror/manifest.json`,
      ...sortedFiles.map((f) => `s3 cp ${HF_SNAPSHOT}/${f}.mirror-partial`),
      ...sortedFiles.map(() => "s3api head-object"),
    ]);
    for (const f of repo.FILES) assert.deepEqual(readFileSync(second.p(`${HF_SNAPSHOT}/${f.path}`)), f.bytes, f.path);
    assert.deepEqual(
      readdirSync(second.p(HF_SNAPSHOT)).filter((n) => n.endsWith(".mirror-partial")),
      [],
    );
  });

  it(
    "a streaming machine's run-engine.sh assumes the read role through the CLI image on the host network " +
      "(the instance role signs it), and the engine gets the same 0600 env file and streams with those keys",
    async () => {
      const sb = await hf(true, first.state);
      await weights(sb);
      assert.equal(sb.count("hf"), 0);
      const from = sb.calls().length;
      const r = await sb.run(["systemctl", "start", "qwen3-serve-engine.service"]);
      assert.equal(r.code, 0, r.stderr);
      const deadline = Date.now() + 8000;
      while (!existsSync(path.join(sb.state, "docker-run.json")) && Date.now() < deadline)
        await new Promise((res) => setTimeout(res, 50));
      assert.deepEqual(checkedRuns(sb, from), ["sts assume-role"]);
      const issued = JSON.parse(readFileSync(path.join(sb.state, "sts-credentials.json"), "utf8")) as {
        AccessKeyId: string;
        SecretAccessKey: string;
        SessionToken: string;
        roleArn: string;
        caller: string;
      }[];
      assert.equal(issued.length, 1);
      const creds = issued[0];
      assert.deepEqual([creds?.roleArn, creds?.caller], [READ_ROLE, "instance-role"]);
      const envFile = sb.p("run/qwen3-serve/engine-aws.env");
      assert.equal((statSync(envFile).mode & 0o777).toString(8), "600");
      assert.equal(
        readFileSync(envFile, "utf8"),
        `AWS_ACCESS_KEY_ID=${creds?.AccessKeyId}\nAWS_SECRET_ACCESS_KEY=${creds?.SecretAccessKey}\n` +
          `AWS_SESSION_TOKEN=${creds?.SessionToken}\nAWS_REGION=us-east-1\nAWS_DEFAULT_REGION=us-east-1\n` +
          "AWS_EC2_METADATA_DISABLED=true\n",
      );
      const engineRun = JSON.parse(readFileSync(path.join(sb.state, "docker-run.json"), "utf8")) as { opts: string[] };
      assert.equal(engineRun.opts.includes("--network"), false, "the engine stays on the bridge");
      assert.equal(engineRun.opts[engineRun.opts.lastIndexOf("--env-file") + 1], envFile);
      const streamed = (): boolean =>
        readLog(sb.state).some(
          (e) =>
            e.op === "GetObject" &&
            e.principal === creds?.AccessKeyId &&
            e.key === `${HF_PREFIX}/model-00001-of-00002.safetensors`,
        );
      while (!streamed() && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
      assert.ok(streamed(), "the engine read a shard with the read role's keys");
      sb.stopUnits();
    },
  );

  it(
    "Ollama: a pull seeds the store's files from the mounted cache, and a second machine copies them " +
      "back into it and serves the pinned digest with no /api/pull",
    async () => {
      const prefix = modelPrefix({ source: "ollama", ref: OLLAMA_REF, revision: OLLAMA_DIGEST });
      const ollama = (sharedS3?: string): Promise<Sandbox> =>
        plainMachine(
          {
            request: { model: "qwen3:0.6b", engine: "ollama", modelRevision: OLLAMA_DIGEST },
            weightsMirror: mirror(prefix, false),
            ...(sharedS3 !== undefined ? { sharedS3 } : {}),
          },
          ["secrets", "engine"],
        );
      const seeder = await ollama();
      const seedFrom = seeder.calls().length;
      await weights(seeder);
      assert.equal(seeder.count("pull"), 1);
      seeder.stopUnits();
      const models = `${STATE}/ollama/models`;
      const blobs = readdirSync(seeder.p(`${models}/blobs`)).sort();
      assert.equal(blobs.length, 4);
      const manifestRel = OLLAMA_MANIFEST.slice(`${models}/`.length);
      assert.deepEqual(settled(checkedRuns(seeder, seedFrom), true), [
        `s3api put-object ${STATE}/mirror/used.json`,
        `s3api get-object ${STATE}/mirror/manifest.json`,
        ...blobs.map((b) => `s3api put-object ${models}/blobs/${b}`),
        `s3api put-object ${models}/${manifestRel}`,
        `s3api put-object ${STATE}/mirror/manifest.out.json`,
      ]);

      const second = await ollama(seeder.state);
      const from = second.calls().length;
      await weights(second);
      assert.equal(second.count("pull"), 0);
      assert.deepEqual(settled(checkedRuns(second, from)), [
        `s3api put-object ${STATE}/mirror/used.json`,
        `s3api get-object ${STATE}/mirror/manifest.json`,
        ...blobs.map((b) => `s3 cp ${models}/blobs/${b}.mirror-partial`),
        `s3 cp ${models}/${manifestRel}.mirror-partial`,
        ...[...blobs, manifestRel].map(() => "s3api head-object"),
      ]);
      const tags = await fetch(`http://127.0.0.1:${second.enginePort}/api/tags`).then((r) => r.json());
      assert.equal((tags as { models: { digest: string }[] }).models[0]?.digest, OLLAMA_DIGEST);
      assert.deepEqual(readFileSync(second.p(OLLAMA_MANIFEST)), readFileSync(seeder.p(OLLAMA_MANIFEST)));
      second.stopUnits();
    },
  );
});
