/**
 * Model spellings: every form a user types resolves to the right catalog entry, formats named in
 * the spelling are implied, and an unknown name fails with the nearest valid names.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MODELS } from "../components/catalog/models";
import { UserError } from "../components/errors/userError";
import { knownSpellings, nearestModels, normalizeModelSpelling, resolveModel } from "../components/sizing/modelLookup";

describe("spellings from the brief", () => {
  const cases: [string, string, string | undefined][] = [
    ["qwen3:8b", "Qwen3-8B", undefined],
    ["Qwen/Qwen3-8B", "Qwen3-8B", undefined],
    ["Qwen3-8B", "Qwen3-8B", undefined],
    ["qwen3-8b", "Qwen3-8B", undefined],
    ["Qwen/Qwen3-8B-FP8", "Qwen3-8B", "fp8"],
    ["qwen3:30b-a3b", "Qwen3-30B-A3B", undefined],
    ["qwen3:235b", "Qwen3-235B-A22B", undefined],
    // and the neighbours people paste
    ["  QWEN3-8B  ", "Qwen3-8B", undefined],
    ["https://huggingface.co/Qwen/Qwen3-32B-AWQ", "Qwen3-32B", "awq"],
    ["hf.co/Qwen/Qwen3-30B-A3B-GPTQ-Int4", "Qwen3-30B-A3B", "gptq-int4"],
    ["qwen3:8b-q8_0", "Qwen3-8B", "q8_0"],
    ["qwen3:30b-a3b-instruct-2507-q4_K_M", "Qwen3-30B-A3B-Instruct-2507", "q4_K_M"],
    ["qwen3-coder:30b", "Qwen3-Coder-30B-A3B-Instruct", undefined],
    ["Qwen/Qwen3-235B-A22B-Thinking-2507-FP8", "Qwen3-235B-A22B-Thinking-2507", "fp8"],
    ["qwen3", "Qwen3-8B", undefined],
  ];
  for (const [input, id, quant] of cases) {
    it(`"${input}" -> ${id}${quant ? ` (${quant})` : ""}`, () => {
      const r = resolveModel(input);
      assert.equal(r.model.id, id);
      assert.equal(r.impliedQuantization, quant);
    });
  }
});

describe("every catalog spelling", () => {
  it("resolves each model's id, aliases, repos and tags back to that model", () => {
    for (const m of MODELS) {
      const spellings = [
        m.id,
        m.id.toLowerCase(),
        ...m.aliases,
        ...Object.values(m.hf),
        ...Object.values(m.ollama).map((t) => t?.tag),
      ];
      for (const s of spellings) {
        assert.ok(s !== undefined);
        assert.equal(resolveModel(s).model.id, m.id, s);
      }
    }
  });

  it("no spelling names two models, and the index holds exactly the catalog's spellings", () => {
    const owners = new Map<string, Set<string>>();
    for (const m of MODELS) {
      const raw = [m.id, ...m.aliases, ...Object.values(m.hf), ...Object.values(m.ollama).map((t) => t?.tag)];
      for (const s of raw) {
        assert.ok(s !== undefined);
        const key = normalizeModelSpelling(s);
        owners.set(key, (owners.get(key) ?? new Set()).add(m.id));
      }
    }
    const clashes = [...owners].filter(([, ids]) => ids.size > 1).map(([key, ids]) => `${key}: ${[...ids].join(", ")}`);
    assert.deepEqual(clashes, []);
    assert.deepEqual(knownSpellings(), [...owners.keys()].sort());
  });

  it("normalizes case, whitespace and URL prefixes", () => {
    assert.equal(normalizeModelSpelling(" https://www.ollama.com/library/qwen3:8b "), "qwen3:8b");
    assert.equal(normalizeModelSpelling("Qwen3 8B"), "qwen3-8b");
  });
});

describe("unknown models", () => {
  it("suggests the nearest names, nearest size first among equally close spellings", () => {
    // qwen3-7b is one edit from both 8B and 4B; 8B is closer in size.
    assert.deepEqual(nearestModels("qwen3-7b").slice(0, 2), ["Qwen3-8B", "Qwen3-4B"]);
    assert.equal(nearestModels("qwen3:32")[0], "Qwen3-32B");
    assert.equal(nearestModels("qwen3-coder-7b")[0], "Qwen3-Coder-30B-A3B-Instruct");
    assert.equal(nearestModels("qwen3:72b").length, 3);
  });

  it("fails with the key, the value, nearest names and every valid name", () => {
    assert.throws(
      () => resolveModel("qwen4"),
      (e: unknown) => {
        assert.ok(e instanceof UserError);
        assert.equal(e.key, "model");
        assert.equal(e.value, "qwen4");
        assert.equal(
          e.message.split("\n")[1],
          "Did you mean Qwen3-8B, Qwen3-4B, Qwen3-14B? Names, Hugging Face repos (Qwen/Qwen3-8B-FP8) and Ollama tags (qwen3:8b) all work.",
        );
        assert.deepEqual(e.choices, [
          "Qwen3-0.6B",
          "Qwen3-1.7B",
          "Qwen3-4B",
          "Qwen3-8B",
          "Qwen3-14B",
          "Qwen3-32B",
          "Qwen3-30B-A3B",
          "Qwen3-235B-A22B",
          "Qwen3-4B-Instruct-2507",
          "Qwen3-4B-Thinking-2507",
          "Qwen3-30B-A3B-Instruct-2507",
          "Qwen3-30B-A3B-Thinking-2507",
          "Qwen3-235B-A22B-Instruct-2507",
          "Qwen3-235B-A22B-Thinking-2507",
          "Qwen3-Coder-30B-A3B-Instruct",
        ]);
        return true;
      },
    );
  });
});
