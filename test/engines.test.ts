/**
 * Each engine's serve command for representative plans: the exact argv and env the machine will run,
 * YaRN on and off, tensor and expert parallelism, dtype fallback, reasoning and tool parsers, and
 * that every flag we emit is on the list checked against the pinned release.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ENGINE_NAMES, ENGINES, streamsFromObjectStore } from "../components/engines";
import type { Engine } from "../components/engines/types";
import { buildPlan, type Plan } from "../components/sizing/plan";
import { parsePlanRequest, type PlanRequestInput } from "../components/sizing/request";
import { citationProblems } from "./helpers/citations";

const plan = (raw: PlanRequestInput): Plan => buildPlan(parsePlanRequest(raw));
const flag = (argv: readonly string[], name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};

/**
 * Flags confirmed in the pinned releases' sources and docs (see each engine's pinSource).
 * vLLM v0.31.0: `--enable-reasoning` and `--rope-scaling` are gone; SGLang: `--enable-ep-moe` is deprecated.
 */
const KNOWN_FLAGS: Record<string, ReadonlySet<string>> = {
  vllm: new Set([
    "--host",
    "--port",
    "--served-model-name",
    "--tensor-parallel-size",
    "--max-model-len",
    "--gpu-memory-utilization",
    "--dtype",
    "--enable-expert-parallel",
    "--reasoning-parser",
    "--enable-auto-tool-choice",
    "--tool-call-parser",
    "--hf-overrides",
    "--revision",
  ]),
  sglang: new Set([
    "--model-path",
    "--host",
    "--port",
    "--served-model-name",
    "--tp-size",
    "--context-length",
    "--mem-fraction-static",
    "--enable-metrics",
    "--dtype",
    "--ep-size",
    "--reasoning-parser",
    "--tool-call-parser",
    "--json-model-override-args",
    "--revision",
  ]),
  ollama: new Set(),
};

describe("vLLM", () => {
  it("Qwen3-8B on one GPU: the full command", () => {
    const p = plan({ model: "qwen3:8b", engine: "vllm" });
    assert.equal(p.serve.image, "vllm/vllm-openai:v0.31.0");
    assert.deepEqual(p.serve.argv, [
      "vllm",
      "serve",
      "Qwen/Qwen3-8B",
      "--host",
      "0.0.0.0",
      "--port",
      "8000",
      "--served-model-name",
      "Qwen3-8B",
      "--tensor-parallel-size",
      "1",
      "--max-model-len",
      "32768",
      "--gpu-memory-utilization",
      "0.9",
      "--reasoning-parser",
      "qwen3",
      "--enable-auto-tool-choice",
      "--tool-call-parser",
      "hermes",
    ]);
    assert.deepEqual(p.serve.env, { HF_HUB_OFFLINE: "1", VLLM_NO_USAGE_STATS: "1", DO_NOT_TRACK: "1" });
    assert.equal(p.serve.servedModelName, "Qwen3-8B");
    assert.deepEqual([p.serve.port, p.serve.healthPath, p.serve.openaiBasePath], [8000, "/health", "/v1"]);
  });

  it("YaRN above 32K: --hf-overrides with rope_parameters (transformers 5 shape, rope_theta inside)", () => {
    const p = plan({ model: "qwen3:8b", engine: "vllm", context: 131072 });
    assert.equal(flag(p.serve.argv, "--max-model-len"), "131072");
    assert.deepEqual(JSON.parse(flag(p.serve.argv, "--hf-overrides") ?? "null"), {
      rope_parameters: { rope_type: "yarn", factor: 4, original_max_position_embeddings: 32768, rope_theta: 1000000 },
    });
  });

  it("no YaRN for 2507 models inside their native 262K window", () => {
    const p = plan({ model: "Qwen3-30B-A3B-Instruct-2507", engine: "vllm", context: 131072 });
    assert.equal(flag(p.serve.argv, "--hf-overrides"), undefined);
  });

  it("MoE across GPUs: TP 8 with expert parallelism (235B-A22B)", () => {
    const p = plan({ model: "Qwen3-235B-A22B", engine: "vllm" });
    assert.equal(flag(p.serve.argv, "--tensor-parallel-size"), "8");
    assert.ok(p.serve.argv.includes("--enable-expert-parallel"));
  });

  it("T4: BF16 weights served with --dtype half", () => {
    const p = plan({ model: "qwen3:0.6b", engine: "vllm" });
    assert.equal(p.instance.gpu, "T4");
    assert.equal(flag(p.serve.argv, "--dtype"), "half");
  });

  it("reasoning parser for hybrid and thinking models, none for instruct-only", () => {
    assert.equal(
      flag(
        plan({ model: "Qwen3-30B-A3B-Thinking-2507", engine: "vllm", quantization: "fp8" }).serve.argv,
        "--reasoning-parser",
      ),
      "qwen3",
    );
    assert.equal(
      plan({ model: "Qwen3-30B-A3B-Instruct-2507", engine: "vllm", quantization: "fp8" }).serve.argv.includes(
        "--reasoning-parser",
      ),
      false,
    );
  });

  it("Coder uses the qwen3_coder tool parser", () => {
    assert.equal(
      flag(plan({ model: "qwen3-coder:30b", engine: "vllm", quantization: "fp8" }).serve.argv, "--tool-call-parser"),
      "qwen3_coder",
    );
  });

  it("loads the FP8 repo for fp8 and pins a revision when asked", () => {
    const p = plan({
      model: "Qwen3-14B",
      engine: "vllm",
      quantization: "fp8",
      modelRevision: "0123456789abcdef0123456789abcdef01234567",
    });
    assert.equal(p.serve.argv[2], "Qwen/Qwen3-14B-FP8");
    assert.equal(flag(p.serve.argv, "--revision"), "0123456789abcdef0123456789abcdef01234567");
    // Worked from Qwen3-14B's config.json (https://huggingface.co/Qwen/Qwen3-14B/blob/main/config.json: 40 layers,
    // hidden 5120, intermediate 17408, 40 Q / 8 KV heads of 128, vocab 151936, untied) and the FP8 checkpoint's
    // 128x128 blocks with one fp32 scale each (https://huggingface.co/Qwen/Qwen3-14B-FP8/blob/main/config.json):
    //   linear per layer = attention 2 x 5120 x 5120 + 2 x 5120 x 1024 = 62,914,560, MLP 3 x 5120 x 17408 = 267,386,880;
    //   x 40 layers = 13,212,057,600 params at 1 byte + 32/16384 bits each = 13,215,283,200 bytes;
    //   embedding and LM head 2 x 151936 x 5120 = 1,555,824,640, norms 40 x (2 x 128 + 2 x 5120) + 5120 = 424,960,
    //   both BF16: 3,112,499,200 bytes. Total 16,327,782,400.
    assert.deepEqual(p.serve.weights, {
      source: "hf",
      ref: "Qwen/Qwen3-14B-FP8",
      revision: "0123456789abcdef0123456789abcdef01234567",
      expectedBytes: 16_327_782_400,
    });
  });
});

describe("SGLang", () => {
  it("Qwen3-14B on one L40S (g6e.xlarge): the full command, TP 1", () => {
    const p = plan({ model: "Qwen3-14B", engine: "sglang", objective: "cost" });
    // g6e.xlarge carries one L40S (the GPU catalog's skypilot-catalog row), so the only TP size is 1.
    assert.equal(p.instance.type, "g6e.xlarge");
    assert.equal(p.serve.image, "lmsysorg/sglang:v0.5.21");
    assert.deepEqual(p.serve.argv, [
      "python3",
      "-m",
      "sglang.launch_server",
      "--model-path",
      "Qwen/Qwen3-14B",
      "--host",
      "0.0.0.0",
      "--port",
      "30000",
      "--served-model-name",
      "Qwen3-14B",
      "--tp-size",
      "1",
      "--context-length",
      "32768",
      "--mem-fraction-static",
      "0.85",
      "--enable-metrics",
      "--reasoning-parser",
      "qwen3",
      "--tool-call-parser",
      "qwen25",
    ]);
  });

  it("YaRN: --json-model-override-args carries rope_scaling and rope_parameters", () => {
    const p = plan({ model: "Qwen3-8B", engine: "sglang", context: 65536 });
    assert.deepEqual(JSON.parse(flag(p.serve.argv, "--json-model-override-args") ?? "null"), {
      rope_scaling: { rope_type: "yarn", factor: 2, original_max_position_embeddings: 32768 },
      rope_parameters: { rope_type: "yarn", factor: 2, original_max_position_embeddings: 32768, rope_theta: 1000000 },
    });
  });

  // SGLang raises at start-up for a --context-length above the config's derived maximum unless
  // SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN is set (sglang model_config.py, _derive_context_length).
  // The April-2025 configs say max_position_embeddings 40,960; the 2507 ones 262,144.
  const LONGER_CONTEXT: readonly [PlanRequestInput, string | undefined][] = [
    [{ model: "Qwen3-14B", engine: "sglang" }, undefined],
    [{ model: "Qwen3-14B", engine: "sglang", context: 32768 }, undefined],
    [{ model: "Qwen3-14B", engine: "sglang", context: 65536 }, "1"],
    [{ model: "Qwen3-8B", engine: "sglang", context: 131072 }, "1"],
    [{ model: "Qwen3-30B-A3B-Instruct-2507", engine: "sglang", context: 262144 }, undefined],
  ];
  for (const [req, expected] of LONGER_CONTEXT) {
    it(`${req.model} at ${req.context ?? "the default"} context: SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN is ${expected ?? "unset"}`, () => {
      assert.equal(plan(req).serve.env.SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN, expected);
    });
  }

  it("MoE across 4 GPUs (g7e.24xlarge): --tp-size 4 and --ep-size 4; thinking-only models the qwen3-thinking parser", () => {
    const p = plan({ model: "Qwen3-235B-A22B-Thinking-2507", engine: "sglang", quantization: "fp8" });
    // g7e.24xlarge carries four RTX PRO 6000 (the GPU catalog's skypilot-catalog row): TP 4, experts spread over all 4.
    assert.equal(p.instance.type, "g7e.24xlarge");
    assert.equal(flag(p.serve.argv, "--tp-size"), "4");
    assert.equal(flag(p.serve.argv, "--ep-size"), "4");
    assert.equal(flag(p.serve.argv, "--reasoning-parser"), "qwen3-thinking");
  });

  it("never lands on a T4: the pinned build has no sm75 kernels", () => {
    const p = plan({ model: "qwen3:0.6b", engine: "sglang" });
    assert.notEqual(p.instance.gpu, "T4");
    assert.match(
      p.rejected.find((r) => r.type === "g4dn.xlarge")?.reason ?? "",
      /^sglang needs compute capability >= 8\.0, T4 has 7\.5$/,
    );
  });
});

describe("Ollama", () => {
  it("qwen3:8b: ollama serve, all addresses inside its container, context, parallelism and keep-alive from the plan", () => {
    const p = plan({ model: "qwen3:8b", engine: "ollama", context: 16384, concurrency: 2 });
    assert.equal(p.serve.image, "ollama/ollama:0.33.3");
    assert.deepEqual(p.serve.argv, ["ollama", "serve"]);
    assert.deepEqual(p.serve.env, {
      OLLAMA_HOST: "0.0.0.0:11434",
      OLLAMA_CONTEXT_LENGTH: "16384",
      OLLAMA_NUM_PARALLEL: "2",
      OLLAMA_KEEP_ALIVE: "-1",
      OLLAMA_MAX_LOADED_MODELS: "1",
      OLLAMA_FLASH_ATTENTION: "1",
      OLLAMA_KV_CACHE_TYPE: "f16",
      OLLAMA_LOAD_TIMEOUT: "30m",
      DO_NOT_TRACK: "1",
    });
    assert.equal(p.serve.servedModelName, "qwen3:8b-q4_K_M");
    assert.deepEqual(p.serve.weights, {
      source: "ollama",
      ref: "qwen3:8b-q4_K_M",
      revision: null,
      // The tag's published download size, 5.2 GB (https://ollama.com/library/qwen3/tags).
      expectedBytes: 5.2e9,
    });
  });

  it("an Ollama digest pin is accepted; a Hugging Face commit is refused with the reason", () => {
    assert.equal(
      plan({ model: "qwen3:8b", engine: "ollama", modelRevision: "a".repeat(64) }).serve.weights.revision,
      "a".repeat(64),
    );
    assert.throws(
      () => plan({ model: "qwen3:8b", engine: "ollama", modelRevision: "a".repeat(40) }),
      /Ollama pins a manifest digest \(64 hex\)/,
    );
  });
});

describe("every plan's command", () => {
  const requests: PlanRequestInput[] = [];
  for (const engine of ["vllm", "sglang", "ollama"] as const) {
    for (const model of [
      "qwen3:0.6b",
      "Qwen3-8B",
      "Qwen3-32B",
      "qwen3:30b-a3b",
      "Qwen3-235B-A22B",
      "Qwen3-30B-A3B-Thinking-2507",
      "qwen3-coder:30b",
    ]) {
      requests.push({ model, engine });
      if (engine !== "ollama" && !model.includes("2507") && !model.includes("coder") && model !== "qwen3:0.6b")
        requests.push({ model, engine, context: 131072 });
    }
  }
  /**
   * The pinned images, as each engine's pinSource records them: vLLM v0.31.0 (vllm/vllm-openai on Docker Hub),
   * SGLang v0.5.21 (lmsysorg/sglang), Ollama 0.33.3 (ollama/ollama, whose tags carry no leading v).
   */
  const IMAGES: Record<string, string> = {
    vllm: "vllm/vllm-openai:v0.31.0",
    sglang: "lmsysorg/sglang:v0.5.21",
    ollama: "ollama/ollama:0.33.3",
  };
  for (const r of requests) {
    const at = r.context ? ` at ${r.context}` : "";
    it(`${r.model} on ${r.engine}${at}: the pinned image, only known flags, no secrets, binds all addresses inside its container`, () => {
      const p = plan(r);
      const known = KNOWN_FLAGS[p.engine] ?? new Set<string>();
      for (const a of p.serve.argv.filter((x) => x.startsWith("--")))
        assert.ok(known.has(a), `${a} not checked for ${p.engine}`);
      assert.equal(p.serve.image, IMAGES[r.engine]);
      assert.ok(!/--enable-reasoning|--rope-scaling|--enable-ep-moe|--api-key/.test(p.serve.argv.join(" ")));
      // Inside its own container network; the host publishes the port on 127.0.0.1 only (run-engine.sh).
      assert.ok(p.serve.argv.includes("0.0.0.0") || p.serve.env.OLLAMA_HOST?.startsWith("0.0.0.0:"));
      assert.equal(JSON.stringify(p.serve).includes("hf_"), false);
    });
  }
});

/** Fields that cite where an engine's pin, flags or figures were checked. */
const CITATION_KEYS = new Set(["pinSource", "basis", "source", "sources"]);

/** Every citation field and every object carrying `asOf`, with its path, walking data but not functions. */
function citationsIn(value: unknown, where: string, out: [string, unknown][], seen: Set<unknown>): void {
  if (value === null || typeof value !== "object" || seen.has(value)) return;
  seen.add(value);
  const record = value as Record<string, unknown>;
  if ("asOf" in record) out.push([where, record]);
  for (const [key, inner] of Object.entries(record)) {
    if (CITATION_KEYS.has(key) && (inner === null || typeof inner !== "object")) out.push([`${where}.${key}`, inner]);
    citationsIn(inner, `${where}.${key}`, out, seen);
  }
}

describe("engine sources", () => {
  it("every pinSource, memory basis and driver source of every engine is a public https URL (or a list of them) with a real YYYY-MM-DD date", () => {
    const found: [string, unknown][] = [];
    const seen = new Set<unknown>();
    for (const [name, engine] of Object.entries(ENGINES)) citationsIn(engine, name, found, seen);
    const paths = found.map(([where]) => where);
    for (const name of Object.keys(ENGINES))
      for (const field of [`${name}.pinSource`, `${name}.memory.basis`, `${name}.driver.source`])
        assert.ok(paths.includes(field), `${field} missing from ${JSON.stringify(paths)}`);
    assert.deepEqual(
      found.flatMap(([where, cited]) => citationProblems(where, cited)),
      [],
    );
  });
});

describe("streaming the weights from the S3 mirror (objectStore)", () => {
  const REV = "0123456789abcdef0123456789abcdef01234567";
  const URI = `s3://qwen3-serve-weights-0123456789ab/v1/hf/Qwen/Qwen3-235B-A22B/${REV}/`;

  it("vLLM and SGLang stream (with a cited source); Ollama has no objectStore, so no streaming flag can reach its argv", () => {
    assert.ok(ENGINES.vllm.objectStore !== undefined);
    assert.ok(ENGINES.sglang.objectStore !== undefined);
    assert.equal((ENGINES.ollama as Engine).objectStore, undefined);
    for (const e of [ENGINES.vllm, ENGINES.sglang])
      assert.deepEqual(citationProblems(`${e.name}.objectStore.source`, e.objectStore?.source), []);
    assert.deepEqual(
      ENGINE_NAMES.filter((n) => streamsFromObjectStore(n)),
      ["vllm", "sglang"],
    );
  });

  it(
    "vLLM at TP 8 with expert parallelism: the model becomes the s3:// folder followed by --load-format " +
      "runai_streamer; --revision goes; nothing else changes",
    () => {
      const p = plan({ model: "Qwen3-235B-A22B", engine: "vllm", instanceTypes: ["p5.48xlarge"], modelRevision: REV });
      const streamed = ENGINES.vllm.objectStore?.argv(p.serve.argv, URI);
      assert.deepEqual(streamed, [
        "vllm",
        "serve",
        URI,
        "--load-format",
        "runai_streamer",
        "--host",
        "0.0.0.0",
        "--port",
        "8000",
        "--served-model-name",
        "Qwen3-235B-A22B",
        "--tensor-parallel-size",
        "8",
        "--max-model-len",
        "32768",
        "--gpu-memory-utilization",
        "0.9",
        "--enable-expert-parallel",
        "--reasoning-parser",
        "qwen3",
        "--enable-auto-tool-choice",
        "--tool-call-parser",
        "hermes",
      ]);
    },
  );

  it(
    "SGLang at TP 8: --model-path s3://…/ --load-format runai_streamer, no --revision and no loader extra config " +
      "(distributed is automatic for s3://)",
    () => {
      const p = plan({
        model: "Qwen3-235B-A22B",
        engine: "sglang",
        instanceTypes: ["p5.48xlarge"],
        modelRevision: REV,
      });
      const streamed = ENGINES.sglang.objectStore?.argv(p.serve.argv, URI);
      assert.deepEqual(streamed, [
        "python3",
        "-m",
        "sglang.launch_server",
        "--model-path",
        URI,
        "--load-format",
        "runai_streamer",
        "--host",
        "0.0.0.0",
        "--port",
        "30000",
        "--served-model-name",
        "Qwen3-235B-A22B",
        "--tp-size",
        "8",
        "--context-length",
        "32768",
        "--mem-fraction-static",
        "0.85",
        "--enable-metrics",
        "--ep-size",
        "8",
        "--reasoning-parser",
        "qwen3",
        "--tool-call-parser",
        "qwen25",
      ]);
    },
  );

  it("the streamed argv of every HF plan uses only the checked flags plus --load-format", () => {
    for (const engine of ["vllm", "sglang"] as const)
      for (const model of ["Qwen3-8B", "Qwen3-32B", "Qwen3-30B-A3B-Thinking-2507"]) {
        const p = plan({ model, engine, modelRevision: REV, context: 131072 });
        const streamed = ENGINES[engine].objectStore?.argv(p.serve.argv, URI) ?? assert.fail(engine);
        const known = new Set([...(KNOWN_FLAGS[engine] ?? []), "--load-format"]);
        known.delete("--revision");
        for (const a of streamed.filter((x) => x.startsWith("--"))) assert.ok(known.has(a), `${a} on ${engine}`);
      }
  });

  it("refuses a folder that is not s3://<bucket>/<prefix>/ (trailing slash required) and an argv with no model where the engine expects it", () => {
    const p = plan({ model: "Qwen3-8B", engine: "vllm", modelRevision: REV });
    const vllmArgv =
      (uri: string, argv = p.serve.argv) =>
      () =>
        ENGINES.vllm.objectStore?.argv(argv, uri);
    for (const bad of [URI.slice(0, -1), URI.replace("s3://", "gs://"), "s3://qwen3-serve-weights-0123456789ab/"])
      assert.throws(vllmArgv(bad), /^Error: not an s3:\/\/ model folder/, bad);
    assert.throws(vllmArgv(URI, ["vllm", "serve", "--host", "0.0.0.0"]), /^Error: no model argument at position 2/);
    assert.throws(() => ENGINES.sglang.objectStore?.argv(["python3", "-m", "sglang.launch_server"], URI), /no model/);
  });
});
