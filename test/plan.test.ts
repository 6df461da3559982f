/**
 * The plan end to end: every model x engine x default quantization plans, the choice is the
 * cheapest fit, derived settings (TP, YaRN, dtype, disk) follow the rules, and every mistake a
 * user can make fails with the key, the value, a fix and the choices.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { GPU_INSTANCES } from "../components/catalog/gpus";
import { MODELS } from "../components/catalog/models";
import { UserError } from "../components/errors/userError";
import { decodeConfigValues, parseStackConfig } from "../components/config/schema";
import { planForStack } from "../components/program/deploy";
import { buildPlan, NothingFitsError, yarnFactor, type Plan } from "../components/sizing/plan";
import { formatPlan } from "../components/sizing/planText";
import { planForMachine } from "../components/sizing/machinePlan";
import { KNOWN_GPUS } from "../components/catalog/workstationGpus";
import { MonthlyCostError } from "../components/sizing/costGuard";
import { stackFileConfig } from "./helpers/stacks";
import { parsePlanRequest, type PlanRequestInput } from "../components/sizing/request";
import { ENGINE_NAMES, ENGINES } from "../components/engines";

const plan = (raw: PlanRequestInput): Plan => buildPlan(parsePlanRequest(raw));

/** Run `f`, expect a UserError, return its message. */
function userError(f: () => unknown): UserError {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof UserError, `expected UserError, got ${String(e)}`);
    return e;
  }
  assert.fail("expected a UserError");
}

describe("every model x engine x default quantization, under --objective cost (today's cheapest-fit rule)", () => {
  for (const m of MODELS) {
    for (const engine of ENGINE_NAMES) {
      it(`${m.id} on ${engine}`, () => {
        const p = plan({ model: m.id, engine, objective: "cost" });
        assert.equal(p.quantization, ENGINES[engine].quantizations[0]);
        assert.equal(p.contextLength, 32768);
        assert.ok(p.memory.perGpuGiB <= p.instance.gpuMemoryGiB);
        assert.ok(GPU_INSTANCES.some((i) => i.type === p.instance.type));
        // The choice is the cheapest fit: every listed alternative costs at least as much...
        for (const a of p.alternatives) assert.ok(a.pricePerHour >= p.instance.pricePerHour);
        // ...and every strictly cheaper instance was rejected with a reason.
        const cheaper = GPU_INSTANCES.filter((i) => i.onDemandUsdPerHour < p.instance.pricePerHour)
          .map((i) => i.type)
          .sort();
        const explained = p.rejected
          .filter((r) => cheaper.includes(r.type) && r.reason.length > 0)
          .map((r) => r.type)
          .sort();
        assert.deepEqual(explained, cheaper);
      });
    }
  }
});

describe("--objective cost reproduces the cheapest-fit choices of before the throughput model (regression table)", () => {
  // Each row was checked by hand against the memory breakdown; a change here is a behaviour change.
  const rows: [PlanRequestInput, string, number][] = [
    [{ model: "qwen3:8b", engine: "ollama" }, "g4dn.xlarge", 1],
    [{ model: "Qwen3-8B", engine: "vllm" }, "g6e.xlarge", 1], // 24.4 GiB needed: L4/A10G (22.4) too small at 32K
    // Halving the KV brings the need (21.9 GiB) under an L4's 22.4, but g6.xlarge's 16 GiB RAM cannot stage 15.3 GiB of weights.
    [{ model: "Qwen3-8B", engine: "vllm", context: 16384 }, "g6.2xlarge", 1],
    [{ model: "Qwen/Qwen3-30B-A3B-FP8", engine: "vllm" }, "g6e.xlarge", 1],
    [{ model: "Qwen3-32B", engine: "vllm" }, "g7e.2xlarge", 1],
    [{ model: "Qwen3-235B-A22B", engine: "vllm" }, "p4de.24xlarge", 8],
    // FP8 MoE needs Ada or newer, so no A100; 4 x 96 GB Blackwell undercuts 8 x L40S.
    [{ model: "Qwen3-235B-A22B", engine: "vllm", quantization: "fp8" }, "g7e.24xlarge", 4],
  ];
  for (const [req, type, tp] of rows) {
    it(`${JSON.stringify(req)} -> ${type}, TP ${tp}`, () => {
      const p = plan({ ...req, objective: "cost" });
      assert.equal(p.instance.type, type);
      assert.equal(p.tensorParallelSize, tp);
    });
  }

  it("Qwen3-8B BF16 at its 40,960 default length does not fit a 24 GB GPU, as LMCache/LMCache#3430 reports for vLLM", () => {
    const p = plan({ model: "Qwen3-8B", engine: "vllm", context: 40960 });
    for (const t of ["g5.xlarge", "g6.xlarge"])
      assert.match(
        p.rejected.find((r) => r.type === t)?.reason ?? "",
        /^needs 2\d\.\d GiB per GPU at TP 1, has 22\.4$/,
      );
  });
});

describe("derived settings", () => {
  it("YaRN appears only above the native window, factor = stretch rounded up to a quarter", () => {
    assert.equal(plan({ model: "Qwen3-8B", engine: "vllm" }).yarn, null);
    assert.deepEqual(plan({ model: "Qwen3-8B", engine: "vllm", context: 131072 }).yarn, {
      factor: 4,
      originalMaxPositionEmbeddings: 32768,
    });
    assert.deepEqual(plan({ model: "Qwen3-8B", engine: "sglang", context: 65536 }).yarn, {
      factor: 2,
      originalMaxPositionEmbeddings: 32768,
    });
    assert.equal(yarnFactor(40960, 32768), 1.25);
    // 2507 models are native to 262,144: no YaRN.
    assert.equal(plan({ model: "Qwen3-30B-A3B-Instruct-2507", engine: "vllm", context: 131072 }).yarn, null);
    // Ollama has no YaRN switch and stays within the GGUF's context.
    assert.equal(plan({ model: "Qwen3-8B", engine: "ollama", context: 40960 }).yarn, null);
  });

  it("picks fp16 on T4 when bf16 is asked for, and says so", () => {
    const p = plan({ model: "Qwen3-0.6B", engine: "vllm" });
    assert.equal(p.instance.gpu, "T4");
    assert.equal(p.dtype, "float16");
    assert.ok(p.notes.includes("T4 (compute capability 7.5) has no bfloat16: serving BF16 weights in float16"));
  });

  it("sizes disk for weights plus engine with 20% headroom on weights, in 10 GiB steps", () => {
    const p = plan({ model: "Qwen3-32B", engine: "vllm" });
    // 32.8 B parameters in bf16: 61.02 GiB of weights; 61.02 x 1.2 + 35 = 108.2, rounded up to 110.
    assert.equal(p.disk.weightsGiB, 61.02);
    assert.equal(p.disk.engineGiB, 35);
    assert.equal(p.disk.totalGiB, 110);
  });

  it("names the weights each engine loads", () => {
    assert.deepEqual(
      [
        plan({ model: "qwen3:8b", engine: "vllm", quantization: "awq" }).model.repo,
        plan({ model: "qwen3:8b", engine: "ollama" }).model.ollamaTag,
      ],
      ["Qwen/Qwen3-8B-AWQ", "qwen3:8b-q4_K_M"],
    );
  });

  it("prices spot from the dearest zone and says so", () => {
    const p = plan({ model: "qwen3:8b", engine: "ollama", spot: true });
    assert.equal(p.instance.market, "spot");
    assert.equal(p.instance.pricePerHour, 0.2158);
    // 0.2158 $/h x 730 h = 157.534 $, to the cent.
    assert.equal(p.cost.perMonth, 157.53);
  });

  it("exposes the fields the CLI's --json promises", () => {
    const p = plan({ model: "Qwen3-14B", engine: "vllm" });
    for (const v of [
      p.instance.type,
      p.instance.gpuCount,
      p.instance.gpuMemoryGiB,
      p.instance.pricePerHour,
      p.memory.perGpuGiB,
      p.tensorParallelSize,
      p.contextLength,
      p.quantization,
    ]) {
      assert.notEqual(v, undefined);
    }
    assert.deepEqual(JSON.parse(JSON.stringify(p)), p, "the plan is plain JSON");
  });
});

describe("user errors", () => {
  const cases: [string, PlanRequestInput | Record<string, unknown>, string][] = [
    [
      "unknown engine",
      { model: "qwen3:8b", engine: "tgi" },
      'engine = "tgi": not one of the valid choices.\nName the inference engine. Pick one of the valid choices.\nValid choices: vllm, sglang, ollama',
    ],
    [
      "misspelled setting",
      { model: "qwen3:8b", engine: "vllm", contxt: 4096 },
      'contxt = "contxt": unknown setting.\n' +
        "Did you mean context? Check the spelling; settings are case-sensitive.\n" +
        "Valid choices: model, engine, quantization, context, concurrency, families, instanceTypes, maxPricePerHour, maxMonthlyCost, " +
        "objective, minTokensPerSecond, region, spot, modelRevision",
    ],
    [
      "context too short",
      { model: "qwen3:8b", engine: "vllm", context: 512 },
      'context = "512": must be at least 1024 tokens.\nGive the context length per sequence in tokens, at least 1024 (default 32768).',
    ],
    [
      "concurrency zero",
      { model: "qwen3:8b", engine: "vllm", concurrency: 0 },
      'concurrency = "0": must be at least 1.\nGive the number of parallel full-context sequences, 1 to 1024 (default 1).',
    ],
    [
      "unknown family",
      { model: "qwen3:8b", engine: "vllm", families: ["g7"] },
      'families = "g7": not one of the valid choices.\n' +
        "Did you mean g7e? Pick one of the valid choices.\n" +
        "Valid choices: g4dn, g5, g6, gr6, g6e, g7e, p4d, p4de, p5, p5en, p6-b200",
    ],
    [
      "GGUF format on vLLM",
      { model: "qwen3:8b", engine: "vllm", quantization: "q4_K_M" },
      'quantization = "q4_K_M": q4_K_M is an Ollama (GGUF) format; vllm does not load it.\n' +
        "Pick a quantization vllm loads, or switch engine.\n" +
        "Valid choices: bf16, fp8, awq",
    ],
    [
      "format Qwen never published",
      { model: "Qwen3-30B-A3B", engine: "sglang", quantization: "awq" },
      'quantization = "awq": Qwen publishes no awq weights for Qwen3-30B-A3B.\nPick a format published for Qwen3-30B-A3B.\nValid choices: bf16, fp8, gptq-int4',
    ],
    [
      "spelling and setting disagree",
      { model: "Qwen/Qwen3-8B-FP8", engine: "vllm", quantization: "bf16" },
      'quantization = "bf16": the model was given as "Qwen/Qwen3-8B-FP8", which names fp8.\n' +
        "Drop the quantization setting, or name the model without a format suffix (Qwen3-8B).\n" +
        "Valid choices: fp8",
    ],
    [
      "context beyond the model",
      { model: "Qwen3-1.7B", engine: "vllm", context: 65536 },
      'context = "65536": Qwen3-1.7B on vllm serves at most 32768 tokens.\nUse a context between 1024 and 32768.',
    ],
  ];
  for (const [name, raw, message] of cases) {
    it(name, () => assert.equal(userError(() => buildPlan(parsePlanRequest(raw))).message, message));
  }

  describe("bad input never shows the validator's own words, and names the key, what was wrong and the choices", () => {
    const ZOD_WORDS = /Invalid (input|option|string|number)|Too (small|big)|expected string|received undefined/;
    const FAMILY_CHOICES = "Valid choices: g4dn, g5, g6, gr6, g6e, g7e, p4d, p4de, p5, p5en, p6-b200";
    // [what, input, key, problem, expected substrings of the message]
    const table: [string, Record<string, unknown> | null, string, string, string[]][] = [
      [
        "model missing",
        { engine: "vllm" },
        "model",
        "missing: this setting is required.",
        ["Name a Qwen3 model: a name (Qwen3-8B)"],
      ],
      ["model empty", { model: "", engine: "vllm" }, "model", "is empty.", ["Hugging Face repo (Qwen/Qwen3-8B-FP8)"]],
      ["model a number", { model: 8, engine: "vllm" }, "model", "expected text, got a number.", []],
      [
        "engine missing",
        { model: "qwen3:8b" },
        "engine",
        "missing: this setting is required.",
        ["Valid choices: vllm, sglang, ollama"],
      ],
      [
        "engine misspelt",
        { model: "qwen3:8b", engine: "vlm" },
        "engine",
        "not one of the valid choices.",
        ["Did you mean vllm?", "Valid choices: vllm, sglang, ollama"],
      ],
      [
        "quantization misspelt",
        { model: "qwen3:8b", engine: "vllm", quantization: "fp9" },
        "quantization",
        "not one of the valid choices.",
        ["Did you mean fp8?", "Valid choices: bf16, fp8,"],
      ],
      [
        "instance type as a family",
        { model: "qwen3:8b", engine: "vllm", families: ["g6e.xlarge"] },
        "families",
        "not one of the valid choices.",
        ["Did you mean g6e?", FAMILY_CHOICES],
      ],
      [
        "families empty",
        { model: "qwen3:8b", engine: "vllm", families: [] },
        "families",
        "must list at least 1 item.",
        [FAMILY_CHOICES],
      ],
      [
        "families not a list",
        { model: "qwen3:8b", engine: "vllm", families: "g6e" },
        "families",
        "expected a list, got text.",
        [FAMILY_CHOICES],
      ],
      [
        "instance type misspelt",
        { model: "qwen3:8b", engine: "vllm", instanceTypes: ["g6e.xlarg"] },
        "instanceTypes",
        "not one of the valid choices.",
        ["Did you mean g6e.xlarge?", "Valid choices: g4dn.xlarge,"],
      ],
      [
        "instance type shortened",
        { model: "qwen3:8b", engine: "vllm", instanceTypes: ["p5.48xl"] },
        "instanceTypes",
        "not one of the valid choices.",
        ["Did you mean p5.48xlarge?"],
      ],
      [
        "price as text",
        { model: "qwen3:8b", engine: "vllm", maxPricePerHour: "2" },
        "maxPricePerHour",
        "must be a number of USD.",
        ["per hour in USD"],
      ],
      [
        "price zero",
        { model: "qwen3:8b", engine: "vllm", maxPricePerHour: 0 },
        "maxPricePerHour",
        "must be above 0.",
        [],
      ],
      [
        "spot as text",
        { model: "qwen3:8b", engine: "vllm", spot: "yes" },
        "spot",
        "expected true or false, got text.",
        ["spot capacity or false for on-demand"],
      ],
      [
        "context fractional",
        { model: "qwen3:8b", engine: "vllm", context: 1.5 },
        "context",
        "must be a whole number of tokens.",
        ["at least 1024"],
      ],
      [
        "concurrency too high",
        { model: "qwen3:8b", engine: "vllm", concurrency: 2000 },
        "concurrency",
        "must be at most 1024.",
        ["1 to 1024"],
      ],
      [
        "revision not hex",
        { model: "qwen3:8b", engine: "vllm", modelRevision: "main" },
        "modelRevision",
        "must be a 40-hex Hugging Face commit or a 64-hex Ollama digest.",
        [],
      ],
      ["not an object", null, "config", "expected a map of settings, got null.", []],
    ];
    for (const [what, raw, key, problem, parts] of table) {
      it(`${what}: key ${key}, "${problem}"`, () => {
        const e = userError(() => parsePlanRequest(raw));
        assert.equal(e.key, key);
        assert.equal(e.problem, problem);
        assert.doesNotMatch(e.message, ZOD_WORDS);
        assert.ok(e.message.startsWith(`${key} = `), e.message);
        for (const p of parts) assert.ok(e.message.includes(p), `${JSON.stringify(p)} in ${e.message}`);
      });
    }
  });

  it("quantization names are case-insensitive", () => {
    assert.equal(plan({ model: "qwen3:8b", engine: "ollama", quantization: "Q8_0" }).quantization, "q8_0");
  });

  it("an Ollama tag's format carries over to Ollama; the plain BF16 repo forces no format on Ollama", () => {
    assert.equal(plan({ model: "qwen3:8b-q8_0", engine: "ollama" }).quantization, "q8_0");
    assert.equal(plan({ model: "Qwen/Qwen3-8B", engine: "ollama" }).quantization, "q4_K_M");
  });

  it("an Ollama tag's GGUF format on vLLM is refused, naming the model, the format, the engine that loads it and vLLM's formats", () => {
    assert.equal(
      userError(() => plan({ model: "qwen3:235b-a22b-q8_0", engine: "vllm" })).message,
      'model = "qwen3:235b-a22b-q8_0": the name asks for q8_0 weights, an Ollama (GGUF) format that vllm does not load.\n' +
        "Serve q8_0 with engine ollama, or keep vllm and name the model without the format (Qwen3-235B-A22B); vllm loads bf16, fp8, gptq-int4 for it.\n" +
        "Valid choices: Qwen3-235B-A22B, Qwen/Qwen3-235B-A22B, Qwen/Qwen3-235B-A22B-FP8, Qwen/Qwen3-235B-A22B-GPTQ-Int4",
    );
  });

  it("a Hugging Face FP8 repo on Ollama is refused, naming vllm and sglang and Ollama's tags, even with a --quant given", () => {
    const expected =
      'model = "Qwen/Qwen3-8B-FP8": the name asks for fp8 weights, a Hugging Face format that ollama does not load.\n' +
      "Serve fp8 with engine vllm or sglang, or keep ollama and name the model without the format (Qwen3-8B); ollama loads q4_K_M, q8_0, fp16 for it.\n" +
      "Valid choices: Qwen3-8B, qwen3:8b-q4_K_M, qwen3:8b-q8_0, qwen3:8b-fp16";
    assert.equal(userError(() => plan({ model: "Qwen/Qwen3-8B-FP8", engine: "ollama" })).message, expected);
    assert.equal(
      userError(() => plan({ model: "Qwen/Qwen3-8B-FP8", engine: "ollama", quantization: "q8_0" })).message,
      expected,
    );
  });

  it("nothing fits: shows the need on the largest option and how to relax", () => {
    const e = userError(() => plan({ model: "Qwen3-235B-A22B", engine: "vllm", context: 131072, concurrency: 32 }));
    assert.equal(
      e.message,
      'model = "Qwen3-235B-A22B bf16 on vllm, context 131072 x 32": no instance in the catalog can serve this.\n' +
        "The largest option, p6-b200.48xlarge (8 x B200, 178.5 GiB each): needs 271.8 GiB per GPU at TP 8, has 178.5. " +
        "To fit, try a lighter quantization (fp8 or gptq-int4), a shorter context (now 131072), fewer parallel sequences (now 32).",
    );
  });

  it("nothing fits: a NothingFitsError whose `largest` names p6-b200.48xlarge, 8 x B200, 178.5 GiB each, needing 271.8 per GPU", () => {
    const e = userError(() => plan({ model: "Qwen3-235B-A22B", engine: "vllm", context: 131072, concurrency: 32 }));
    assert.ok(e instanceof NothingFitsError);
    const largest = e.largest;
    assert.ok(largest !== null);
    assert.deepEqual(
      {
        instanceType: largest.instanceType,
        gpu: largest.gpu,
        gpuCount: largest.gpuCount,
        gpuGiB: largest.gpuGiB,
        requiredGiB: Math.round((largest.requiredGiB ?? 0) * 10) / 10,
        reason: largest.reason,
      },
      {
        instanceType: "p6-b200.48xlarge",
        gpu: "B200",
        gpuCount: 8,
        gpuGiB: 178.5,
        requiredGiB: 271.8,
        reason: "needs 271.8 GiB per GPU at TP 8, has 178.5",
      },
    );
    // Relabelling for an entry point keeps the class and the fields.
    const relabelled = e.relabel((k) => `--${k}`);
    assert.ok(relabelled instanceof NothingFitsError);
    assert.equal(relabelled.key, "--model");
    assert.deepEqual(relabelled.largest, largest);
  });

  it("nothing fits for a rule other than GPU memory: `largest.requiredGiB` is null, the reason says the rule", () => {
    const e = userError(() =>
      plan({ model: "Qwen3-0.6B", engine: "vllm", quantization: "fp8", instanceTypes: ["g4dn.xlarge"] }),
    );
    assert.ok(e instanceof NothingFitsError);
    assert.equal(e.largest?.instanceType, "g4dn.xlarge");
    assert.equal(e.largest?.requiredGiB, null);
    assert.match(e.largest?.reason ?? "", /fp8/i);
  });

  it("a price cap nothing meets is not a NothingFitsError: the instances fit, the cap is what to change", () => {
    const e = userError(() => plan({ model: "Qwen3-32B", engine: "vllm", maxPricePerHour: 1 }));
    assert.equal(e.key, "maxPricePerHour");
    assert.ok(!(e instanceof NothingFitsError));
  });

  it("an AWS stack pinning an instance that holds the model but costs over maxPricePerHour is refused naming maxPricePerHour, not as 'cannot hold'", () => {
    const config = parseStackConfig(
      decodeConfigValues({
        "qwen3-serve:model": "Qwen3-0.6B",
        "qwen3-serve:engine": "vllm",
        "qwen3-serve:maxPricePerHour": "1",
        "qwen3-serve:aws": JSON.stringify({ allowedCidrs: ["10.0.0.0/8"], instanceType: "p5.48xlarge" }),
      }),
    );
    const e = userError(() => planForStack(config));
    assert.equal(e.key, "maxPricePerHour");
    assert.match(
      e.hint,
      /^The cheapest that fits is p5\.48xlarge at \$55\.040\/h on-demand: raise the limit to at least 55\.040/,
    );
  });

  it("an instance type the region does not offer is refused naming the region and the regions that offer it", () => {
    const e = userError(() =>
      plan({ model: "Qwen3-14B", engine: "vllm", region: "eu-west-1", instanceTypes: ["g6e.xlarge"] }),
    );
    assert.equal(
      e.message,
      'instanceTypes = "g6e.xlarge": g6e.xlarge is not offered in eu-west-1 (per the catalog).\n' +
        "Choose another instance type, or a region that offers it: us-east-1, us-west-2, ap-northeast-1.",
    );
  });

  it("an AWS stack pinning aws.instanceType to a type its aws.region does not offer is refused naming aws.instanceType", () => {
    const config = parseStackConfig(
      decodeConfigValues({
        "qwen3-serve:model": "Qwen3-14B",
        "qwen3-serve:engine": "vllm",
        "qwen3-serve:aws": JSON.stringify({
          allowedCidrs: ["10.0.0.0/8"],
          region: "eu-west-1",
          instanceType: "g6e.xlarge",
        }),
      }),
    );
    const e = userError(() => planForStack(config));
    assert.equal(e.key, "aws.instanceType");
    assert.equal(e.problem, "g6e.xlarge is not offered in eu-west-1 (per the catalog).");
  });

  it("nothing fits because of filters: suggests only the filters", () => {
    // FP8 needs a newer GPU than the T4: a hardware rejection, which no lighter setting fixes.
    const e = userError(() =>
      plan({ model: "Qwen3-0.6B", engine: "vllm", quantization: "fp8", instanceTypes: ["g4dn.xlarge"] }),
    );
    assert.equal(e.key, "model");
    assert.match(e.hint, /To fit, try more instance families or types\.$/);
  });

  it("a price cap nothing meets names maxPricePerHour, the cap, and the cheapest instance that fits with its price", () => {
    const e = userError(() => plan({ model: "Qwen3-32B", engine: "vllm", maxPricePerHour: 1 }));
    assert.equal(
      e.message,
      'maxPricePerHour = "1": no instance that can serve Qwen3-32B bf16 on vllm (context 32768 x 1) costs $1/h or less.\n' +
        "The cheapest that fits is g7e.2xlarge at $3.363/h on-demand: " +
        "raise the limit to at least 3.363, or try a lighter quantization (fp8 or awq), a shorter context (now 32768).",
    );
    // Spot prices the same search from the spot column.
    assert.match(
      userError(() => plan({ model: "Qwen3-32B", engine: "vllm", maxPricePerHour: 1, spot: true })).hint,
      /^The cheapest that fits is g7e\.2xlarge at \$1\.541\/h spot: /,
    );
  });

  it("a price cap under a family filter names the cheapest fit in those families and suggests widening them", () => {
    const e = userError(() =>
      plan({ model: "qwen3:0.6b", engine: "ollama", families: ["p5"], maxPricePerHour: 1, context: 8192 }),
    );
    assert.equal(e.key, "maxPricePerHour");
    assert.equal(
      e.problem,
      "no instance that can serve Qwen3-0.6B q4_K_M on ollama (context 8192 x 1) costs $1/h or less among the families and types allowed.",
    );
    assert.equal(
      e.hint,
      "The cheapest that fits is p5.4xlarge at $6.880/h on-demand: raise the limit to at least 6.880, or try more instance families or types.",
    );
  });
});

describe("regions", () => {
  it("with no region, plans in us-east-1 and says so in the request and the price", () => {
    const p = plan({ model: "Qwen3-14B", engine: "vllm", objective: "cost" });
    assert.equal(p.request.region, "us-east-1");
    assert.equal(p.instance.priceRegion, "us-east-1");
    assert.equal(p.instance.type, "g6e.xlarge");
    assert.equal(p.instance.pricePerHour, 1.861);
  });

  it("picks the cheapest type each region offers, at that region's on-demand price", () => {
    const chosen = (region: string): [string, number, string] => {
      const p = plan({ model: "Qwen3-14B", engine: "vllm", region, objective: "cost" });
      return [p.instance.type, p.instance.pricePerHour, p.instance.priceRegion];
    };
    assert.deepEqual(chosen("us-west-2"), ["g6e.xlarge", 1.861, "us-west-2"]);
    // eu-west-1 offers no g6e (nor g6), so the cheapest fit is four T4s.
    assert.deepEqual(chosen("eu-west-1"), ["g4dn.12xlarge", 4.362, "eu-west-1"]);
    assert.deepEqual(chosen("ap-northeast-1"), ["g6e.xlarge", 2.699, "ap-northeast-1"]);
  });

  it("never lists a type the region does not offer among alternatives or rejections", () => {
    const p = plan({ model: "Qwen3-14B", engine: "vllm", region: "eu-west-1" });
    const named = [...p.alternatives.map((a) => a.type), ...p.rejected.map((r) => r.type)];
    for (const t of ["g6.xlarge", "g6e.xlarge", "g7e.2xlarge", "p5.48xlarge"]) assert.ok(!named.includes(t), t);
    assert.ok(named.includes("g5.xlarge"));
  });

  it("a spot plan in a region without spot ranges uses us-east-1's dearest zone and says it is an estimate", () => {
    const p = plan({ model: "Qwen3-14B", engine: "vllm", region: "us-west-2", spot: true, objective: "cost" });
    assert.equal(p.instance.type, "g6e.2xlarge");
    assert.equal(p.instance.pricePerHour, 1.0895);
    assert.ok(
      p.notes.includes(
        "no complete spot ranges for us-west-2 in the catalog: the spot price is the dearest us-east-1 zone's, " +
          "an estimate only; spot can be interrupted",
      ),
    );
  });

  it("an AWS stack plans in its aws.region; a region the catalog does not price keeps us-east-1", () => {
    const stack = (region: string): Plan =>
      planForStack(
        parseStackConfig(
          decodeConfigValues({
            "qwen3-serve:model": "Qwen3-14B",
            "qwen3-serve:engine": "vllm",
            "qwen3-serve:objective": "cost",
            "qwen3-serve:aws": JSON.stringify({ allowedCidrs: ["10.0.0.0/8"], region }),
          }),
        ),
      );
    const eu = stack("eu-west-1");
    assert.deepEqual(
      [eu.request.region, eu.instance.type, eu.instance.pricePerHour],
      ["eu-west-1", "g4dn.12xlarge", 4.362],
    );
    const other = stack("us-east-2");
    assert.deepEqual([other.request.region, other.instance.type], ["us-east-1", "g6e.xlarge"]);
  });
});

describe("speed and cost per token: the default objective ranks by $ per million output tokens above a speed floor", () => {
  it("Qwen3-8B bf16 at 64K x 8 on vLLM does not pick 8 x T4 over PCIe by default (g4dn.metal is too slow); --objective cost does", () => {
    const p = plan({ model: "Qwen3-8B", engine: "vllm", context: 65536, concurrency: 8 });
    assert.notEqual(p.instance.type, "g4dn.metal");
    assert.equal(p.instance.type, "p4d.24xlarge");
    assert.deepEqual(
      p.rejected.find((r) => r.type === "g4dn.metal"),
      {
        type: "g4dn.metal",
        pricePerHour: 7.824,
        reason: "about 18.2 tokens/s per sequence at 65536 x 8, under the 20 tokens/s floor",
      },
    );
    assert.deepEqual(p.performance, {
      tokensPerSecondPerSequence: 83.4,
      aggregateTokensPerSecond: 667.5,
      ttftSeconds: 0.07,
      usdPerMillionOutputTokens: 9.137,
      interconnect: "NVSwitch (NVLink 3, 600 GB/s per GPU)",
      bound: "memory",
      objective: "cost-per-token",
      minTokensPerSecond: 20,
      atContext: 65536,
      atConcurrency: 8,
      ttftPromptTokens: 1000,
      kind: "estimate",
    });
    // 2 x RTX PRO 6000 is among the alternatives, with its own figures.
    const g7e = p.alternatives.find((a) => a.type === "g7e.12xlarge");
    assert.deepEqual(g7e?.performance, {
      tokensPerSecondPerSequence: 24.4,
      aggregateTokensPerSecond: 194.9,
      ttftSeconds: 0.1,
      usdPerMillionOutputTokens: 11.807,
      interconnect: "PCIe Gen5",
      bound: "memory",
    });
    assert.equal(
      plan({ model: "Qwen3-8B", engine: "vllm", context: 65536, concurrency: 8, objective: "cost" }).instance.type,
      "g4dn.metal",
    );
  });

  it("Qwen3-4B fp8 at 64K x 64 needs p6-b200.48xlarge (TP 4, 4 GPUs idle) and says bf16 is cheaper per token, with instance and price", () => {
    const p = plan({ model: "Qwen3-4B", engine: "vllm", quantization: "fp8", context: 65536, concurrency: 64 });
    assert.equal(p.instance.type, "p6-b200.48xlarge");
    assert.equal(p.tensorParallelSize, 4);
    assert.ok(
      p.notes.includes(
        "4 of 8 GPUs idle: TP 8 splits the 9728-wide MLP into 1216-wide shards, not a multiple of the fp8 block size 128",
      ),
    );
    assert.ok(
      p.notes.includes(
        "bf16 would cost 52% less per million output tokens: p5en.48xlarge at $63.296/h, about $6.572 per million " +
          "against $13.698 (estimates; set quantization to bf16 to use it)",
      ),
      p.notes.join("\n"),
    );
  });

  it("Qwen3-235B-A22B fp8 names its interconnect: 4 x RTX PRO 6000 over PCIe Gen5, in the figures, a note, and each alternative", () => {
    const p = plan({ model: "Qwen3-235B-A22B", engine: "vllm", quantization: "fp8" });
    assert.equal(p.instance.type, "g7e.24xlarge");
    assert.equal(p.performance.interconnect, "PCIe Gen5");
    assert.ok(
      p.notes.includes("TP 4 all-reduces over PCIe Gen5 (no NVLink on g7e): the speed estimate includes that cost"),
    );
    assert.deepEqual(
      p.alternatives.map((a) => [a.type, a.performance.interconnect]),
      [
        ["p5.48xlarge", "NVSwitch (NVLink 4, 900 GB/s per GPU)"],
        ["p5en.48xlarge", "NVSwitch (NVLink 4, 900 GB/s per GPU)"],
        ["g7e.48xlarge", "PCIe Gen5"],
        ["g6e.48xlarge", "PCIe Gen4"],
        ["p6-b200.48xlarge", "NVSwitch (NVLink 5, 1800 GB/s per GPU)"],
      ],
    );
  });

  it("every model x engine plans with positive speed figures, the choice meets the 20 tokens/s floor, and alternatives come in $/M order", () => {
    for (const m of MODELS) {
      for (const engine of ENGINE_NAMES) {
        const p = plan({ model: m.id, engine });
        const f = p.performance;
        const what = `${m.id} on ${engine}`;
        assert.ok(f.tokensPerSecondPerSequence >= 20, what);
        assert.ok(f.aggregateTokensPerSecond > 0 && f.ttftSeconds > 0, what);
        assert.ok(f.usdPerMillionOutputTokens !== null && f.usdPerMillionOutputTokens > 0, what);
        const costs = [f, ...p.alternatives.map((a) => a.performance)].map((x) => x.usdPerMillionOutputTokens ?? 0);
        assert.deepEqual(
          costs,
          [...costs].sort((a, b) => a - b),
          what,
        );
      }
    }
  });

  it("--objective speed takes the fastest per sequence within --max-price: one H100 (p5.4xlarge) for Qwen3-8B under $10/h", () => {
    const p = plan({ model: "Qwen3-8B", engine: "vllm", objective: "speed", maxPricePerHour: 10 });
    assert.equal(p.instance.type, "p5.4xlarge");
    assert.equal(p.performance.tokensPerSecondPerSequence, 111.8);
  });

  it("when the default floor rules out every fit, the fastest fit is chosen and a note says so", () => {
    const p = plan({
      model: "Qwen3-8B",
      engine: "vllm",
      context: 65536,
      concurrency: 8,
      instanceTypes: ["g4dn.metal"],
    });
    assert.equal(p.instance.type, "g4dn.metal");
    assert.ok(
      p.notes.includes(
        "no machine that fits reaches 20 tokens/s per sequence at 65536 x 8: this is the fastest (about 18.2); " +
          "a shorter context or fewer sequences are faster",
      ),
    );
  });

  it("a floor the user set that nothing reaches is refused naming minTokensPerSecond, the fastest fit and its speed", () => {
    const e = userError(() => plan({ model: "Qwen3-8B", engine: "vllm", minTokensPerSecond: 500 }));
    assert.equal(e.key, "minTokensPerSecond");
    assert.equal(
      e.message,
      'minTokensPerSecond = "500": no machine that can serve Qwen3-8B bf16 on vllm reaches 500 tokens/s per sequence at ' +
        "context 32768 x 1 (estimated).\nThe fastest that fits is p6-b200.48xlarge at about 407.4 tokens/s: lower " +
        "minTokensPerSecond to 407.4 or less, or try a lighter quantization (fp8 or awq), a shorter context (now 32768), " +
        "the speed objective (the fastest within your price).",
    );
  });
});

describe("maxMonthlyCost: a plan over the monthly limit is refused before anything is declared", () => {
  /** An example stack file's config, with these keys set on top. */
  const stack = (name: string, extra: Record<string, string>) =>
    parseStackConfig(decodeConfigValues({ ...stackFileConfig(name), ...extra }));

  it("Qwen3-8B on g6e.xlarge ($1.861/h x 730 h = $1358.53) over a $1000 limit: the exact refusal, both figures and the ways down", () => {
    const e = userError(() => plan({ model: "Qwen3-8B", engine: "vllm", maxMonthlyCost: 1000 }));
    assert.ok(e instanceof MonthlyCostError);
    assert.equal(e.key, "maxMonthlyCost");
    assert.equal(
      e.message,
      'maxMonthlyCost = "1000": the plan costs about $1358.53 a month (g6e.xlarge at $1.861/h x 730 h), over the $1000.00 limit.\n' +
        "Raise maxMonthlyCost to at least $1358.53, or bring the cost down: a smaller model, or a lighter quantization.",
    );
  });

  it("under the speed objective the hint names the cost objective and what the cheapest fit would cost a month", () => {
    const e = userError(() =>
      plan({ model: "Qwen3-8B", engine: "vllm", objective: "speed", maxPricePerHour: 10, maxMonthlyCost: 5000 }),
    );
    assert.equal(
      e.message,
      'maxMonthlyCost = "5000": the plan costs about $5022.40 a month (p5.4xlarge at $6.880/h x 730 h), over the $5000.00 limit.\n' +
        "Raise maxMonthlyCost to at least $5022.40, or bring the cost down: the cost objective (the cheapest fit, " +
        "g6e.xlarge at $1.861/h, comes to $1358.53 a month), a smaller model, or a lighter quantization.",
    );
  });

  it("a plan under the limit is the same plan, the limit echoed in its request", () => {
    const limited = plan({ model: "Qwen3-8B", engine: "vllm", maxMonthlyCost: 1400 });
    const free = plan({ model: "Qwen3-8B", engine: "vllm" });
    assert.equal(limited.request.maxMonthlyCost, 1400);
    assert.equal(free.request.maxMonthlyCost, null);
    assert.deepEqual({ ...limited, request: { ...limited.request, maxMonthlyCost: null } }, free);
  });

  it("a fleet stack is weighed at fleet.maxReplicas: team's 4 x $1358.53 = $5434.12 is over $5000, though one replica is not", () => {
    const e = userError(() => planForStack(stack("team", { "qwen3-serve:maxMonthlyCost": "5000" })));
    assert.equal(
      e.message,
      'maxMonthlyCost = "5000": the plan costs about $5434.12 a month (g6e.xlarge at $1.861/h x 730 h x 4 replicas), ' +
        "over the $5000.00 limit.\nRaise maxMonthlyCost to at least $5434.12, or bring the cost down: fewer replicas " +
        "(fleet.maxReplicas, now 4), a smaller model, or a lighter quantization.",
    );
    assert.equal(planForStack(stack("team", { "qwen3-serve:maxMonthlyCost": "5500" })).instance.type, "g6e.xlarge");
  });

  it("a single-machine AWS stack over the limit is refused naming maxMonthlyCost", () => {
    const e = userError(() => planForStack(stack("dev", { "qwen3-serve:maxMonthlyCost": "1" })));
    assert.equal(e.key, "maxMonthlyCost");
    assert.match(
      e.problem,
      /^the plan costs about \$[\d.]+ a month \([\w.-]+ at \$[\d.]+\/h x 730 h\), over the \$1\.00 limit\.$/,
    );
  });

  it("maxMonthlyCost on a workstation stack is refused: the machine is the user's own and has no price", () => {
    const e = userError(() =>
      stack("workstation", { "qwen3-serve:sshPrivateKey": "key", "qwen3-serve:maxMonthlyCost": "500" }),
    );
    assert.equal(
      e.message,
      'maxMonthlyCost = "500": limits what AWS instances cost at catalog prices; the workstation target runs on a ' +
        "machine you own, which has no price here.\nDrop maxMonthlyCost.",
    );
  });
});

describe("the plan's cold-start estimate", () => {
  it("formatPlan prints one exact Cold start line: total, phases of 0.1 min or more, the weights from an S3 mirror, a warm restart", () => {
    const p = plan({ model: "Qwen3-30B-A3B-FP8", engine: "vllm", instanceTypes: ["g6e.xlarge"] });
    const lines = formatPlan(p)
      .split("\n")
      .filter((l) => l.startsWith("Cold start"));
    assert.deepEqual(lines, [
      "Cold start about 13.7 min (estimate): boot 1.0, image 2.1, weights 8.3 (0.8 from an S3 mirror), load 1.3, " +
        "compile 1.0 min; a warm restart about 2.6 min",
    ]);
  });

  it("--json carries coldStart with phases, total and mirror total", () => {
    const p = JSON.parse(JSON.stringify(plan({ model: "qwen3:8b", engine: "ollama", instanceTypes: ["g6.xlarge"] })));
    assert.deepEqual(
      p.coldStart.phases.map((x: { name: string }) => x.name),
      ["boot", "driver", "image", "weights", "load", "compile", "first token"],
    );
    assert.equal(p.coldStart.totalSeconds, 189.6);
    assert.equal(p.coldStart.mirrorTotalSeconds, 123.6);
  });

  it("a described machine's plan has no boot or driver time: the machine already runs with its driver", () => {
    const { plan: p } = planForMachine(
      parsePlanRequest({ model: "qwen3:8b", engine: "ollama" }),
      { gpu: KNOWN_GPUS["RTX-4090"] ?? assert.fail("RTX-4090 not in the catalog"), count: 1 },
      { quantization: false, context: false },
    );
    assert.deepEqual(
      p.coldStart.phases.slice(0, 3).map((x) => [x.name, x.seconds]),
      [
        ["boot", 0],
        ["driver", 0],
        ["image", 35],
      ],
    );
  });
});

describe("an AWS stack's cold-start estimate boots its own image family", () => {
  const stackPlan = (ami?: string): Plan =>
    planForStack(
      parseStackConfig(
        decodeConfigValues({
          "qwen3-serve:model": "qwen3:8b",
          "qwen3-serve:engine": "ollama",
          "qwen3-serve:aws": JSON.stringify({ allowedCidrs: ["10.0.0.0/8"], ...(ami !== undefined ? { ami } : {}) }),
        }),
      ),
    );
  const driver = (p: Plan): number | undefined => p.coldStart.phases.find((x) => x.name === "driver")?.seconds;

  it("plain Ubuntu (aws.ami ubuntu-24.04) gets the 480 s driver phase; the Deep Learning AMI default has none", () => {
    assert.equal(driver(stackPlan("ubuntu-24.04")), 480);
    assert.equal(driver(stackPlan()), 0);
  });
});

describe("the plan of a stack that reads the S3 weights mirror (aws.weightsCache: s3)", () => {
  const mirrored = (raw: PlanRequestInput): Plan =>
    buildPlan(parsePlanRequest(raw), { site: { kind: "aws", ami: "dlami-ubuntu-24.04", weightsCache: "s3" } });
  const coldStartLines = (p: Plan): string[] =>
    formatPlan(p)
      .split("\n")
      .filter((l) => l.startsWith("Cold start"));

  it(
    "Qwen3-30B-A3B-FP8 on vLLM (g6e.xlarge): one Cold start line of 6.2 min from the mirror, weights 0.8 " +
      "(8.3 from Hugging Face to seed it), seeding 13.7 min",
    () => {
      const p = mirrored({ model: "Qwen3-30B-A3B-FP8", engine: "vllm", instanceTypes: ["g6e.xlarge"] });
      assert.deepEqual(coldStartLines(p), [
        "Cold start about 6.2 min (estimate, weights from the in-region S3 mirror): boot 1.0, image 2.1, weights 0.8 " +
          "(8.3 from Hugging Face to seed the mirror), load 1.3, compile 1.0 min; the machine that seeds the mirror " +
          "about 13.7 min; a warm restart about 2.6 min",
      ]);
    },
  );

  it("qwen3:8b on Ollama (g6.xlarge): 2.1 min from the mirror, the 0.1 min weights phase still shown, 1.2 from the Ollama registry to seed it", () => {
    const p = mirrored({ model: "qwen3:8b", engine: "ollama", instanceTypes: ["g6.xlarge"] });
    assert.deepEqual(coldStartLines(p), [
      "Cold start about 2.1 min (estimate, weights from the in-region S3 mirror): boot 1.0, image 0.6, weights 0.1 " +
        "(1.2 from the Ollama registry to seed the mirror), load 0.3 min; the machine that seeds the mirror about " +
        "3.2 min; a warm restart about 1.3 min",
    ]);
  });

  it("an AWS stack with aws.weightsCache s3 and a pinned revision plans its cold start from the mirror (123.6 s), the seeding machine 189.6 s", () => {
    const p = planForStack(
      parseStackConfig(
        decodeConfigValues({
          "qwen3-serve:model": "qwen3:8b",
          "qwen3-serve:engine": "ollama",
          "qwen3-serve:instanceTypes": JSON.stringify(["g6.xlarge"]),
          "qwen3-serve:modelRevision": "c".repeat(64),
          "qwen3-serve:aws": JSON.stringify({ allowedCidrs: ["10.0.0.0/8"], weightsCache: "s3" }),
        }),
      ),
    );
    assert.equal(p.coldStart.totalSeconds, 123.6);
    assert.deepEqual(p.coldStart.seeding, { weightsSeconds: 74.3, totalSeconds: 189.6 });
  });

  // 60 boot + 126.4 image + 49.9 weights + 75.5 load + (5 torch.compile from the fleet's cache + 17 graphs) + 0.1.
  it(
    "the team stack file (a fleet on the mirror): every scale-out's cold start 333.9 s, weights 49.9 " +
      "s from the mirror and compile 22 s from the fleet's cache; the seeding replica 820.8 s",
    () => {
      const p = planForStack(parseStackConfig(decodeConfigValues(stackFileConfig("team"))));
      assert.equal(p.coldStart.totalSeconds, 333.9);
      assert.equal(p.coldStart.mirrorWeightsSeconds, 49.9);
      assert.equal(p.coldStart.phases.find((ph) => ph.name === "compile")?.seconds, 22);
      assert.deepEqual(p.coldStart.seeding, { weightsSeconds: 498.8, totalSeconds: 820.8 });
      assert.deepEqual(
        formatPlan(p)
          .split("\n")
          .filter((l) => l.startsWith("Cold start")),
        [
          "Cold start about 5.6 min (estimate, weights from the in-region S3 mirror): boot 1.0, image 2.1, weights 0.8 " +
            "(8.3 from Hugging Face to seed the mirror), load 1.3, compile 0.4 min; the machine that seeds the mirror " +
            "about 13.7 min; a warm restart about 2.6 min",
        ],
      );
    },
  );
});
