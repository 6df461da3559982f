/**
 * Sizing onto a machine that already exists (workstation, Docker host), as a pure table: a request
 * that fits is served as asked; one that does not steps down only what the user left unset
 * (quantization first keeps precision, then context halves to 8192), and says what changed; a
 * request that cannot fit is refused naming the machine, the need, and smaller models. The plan
 * carries the machine's real facts: no price, no invented RAM.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { KNOWN_GPUS } from "../components/catalog/workstationGpus";
import { isUserError } from "../components/errors/userError";
import { MACHINE_TYPE, planForMachine, type MachineGpus } from "../components/sizing/machinePlan";
import { NothingFitsError } from "../components/sizing/plan";
import { parsePlanRequest } from "../components/sizing/request";

const gpus = (model: string, count: number, ramGiB?: number): MachineGpus => {
  const gpu = KNOWN_GPUS[model];
  assert.ok(gpu, model);
  return ramGiB === undefined ? { gpu, count } : { gpu, count, ramGiB };
};
const OPEN = { quantization: false, context: false };

describe("planForMachine", () => {
  const rows: {
    name: string;
    req: Record<string, unknown>;
    machine: MachineGpus;
    explicit?: { quantization: boolean; context: boolean };
    want: { quantization: string; context: number; tp: number; adjusted: string | null };
  }[] = [
    {
      name: "30B-A3B FP8 on two RTX 4090s fits as asked, TP 2",
      req: { model: "Qwen/Qwen3-30B-A3B-FP8", engine: "vllm" },
      machine: gpus("RTX-4090", 2, 64),
      want: { quantization: "fp8", context: 32768, tp: 2, adjusted: null },
    },
    {
      name: "8B on one RTX 4090: bf16 kept, context halved",
      req: { model: "Qwen3-8B", engine: "vllm" },
      machine: gpus("RTX-4090", 1),
      want: {
        quantization: "bf16",
        context: 16384,
        tp: 1,
        adjusted: "Qwen3-8B as asked does not fit 1 x RTX-4090 (24.0 GiB each); serving context 16384 instead of 32768",
      },
    },
    {
      name: "8B with the context pinned: quantization steps down instead",
      req: { model: "Qwen3-8B", engine: "vllm", context: 32768 },
      machine: gpus("RTX-4090", 1),
      explicit: { quantization: false, context: true },
      want: {
        quantization: "fp8",
        context: 32768,
        tp: 1,
        adjusted: "Qwen3-8B as asked does not fit 1 x RTX-4090 (24.0 GiB each); serving fp8 instead of bf16",
      },
    },
    {
      name: "Ollama 32B q4_K_M on an RTX 6000 Ada fits as asked",
      req: { model: "qwen3:32b", engine: "ollama" },
      machine: gpus("RTX-6000-Ada", 1),
      want: { quantization: "q4_K_M", context: 32768, tp: 1, adjusted: null },
    },
  ];
  for (const r of rows) {
    it(r.name, () => {
      const { plan, adjusted } = planForMachine(parsePlanRequest(r.req), r.machine, r.explicit ?? OPEN);
      assert.deepEqual(
        { quantization: plan.quantization, context: plan.contextLength, tp: plan.tensorParallelSize, adjusted },
        r.want,
      );
      assert.equal(plan.instance.type, MACHINE_TYPE);
      assert.equal(plan.instance.pricePerHour, 0);
      assert.equal(plan.instance.ramGiB, r.machine.ramGiB ?? 0, "stated RAM, or 0 for unknown; never a stand-in");
      assert.ok(plan.memory.perGpuGiB <= plan.instance.gpuMemoryGiB, "the chosen plan fits the card");
    });
  }

  it("refuses a pinned quantization and context that do not fit, and says what to unset", () => {
    assert.throws(
      () =>
        planForMachine(
          parsePlanRequest({ model: "Qwen3-8B", engine: "vllm", quantization: "bf16", context: 32768 }),
          gpus("RTX-4090", 1),
          { quantization: true, context: true },
        ),
      (e: unknown) =>
        isUserError(e) &&
        e.key === "gpus" &&
        e.value === "1 x RTX-4090 (24.0 GiB each)" &&
        /^Qwen3-8B on vllm does not fit this machine as asked \(/.test(e.problem) &&
        e.hint.startsWith("Unset quantization or context"),
    );
  });

  it("refuses a model no step-down fits, listing smaller models of the same release", () => {
    assert.throws(
      () => planForMachine(parsePlanRequest({ model: "Qwen3-235B-A22B", engine: "vllm" }), gpus("RTX-4090", 2), OPEN),
      (e: unknown) =>
        isUserError(e) &&
        /nor in bf16, fp8.* at 8192 tokens or more\.$/.test(e.problem) &&
        e.choices.includes("Qwen3-32B") &&
        !e.choices.includes("Qwen3-235B-A22B"),
    );
  });

  it("a model no step-down fits is a NothingFitsError whose `largest` is the machine as asked: 2 x RTX-4090, needs 248.8 GiB per GPU", () => {
    assert.throws(
      () => planForMachine(parsePlanRequest({ model: "Qwen3-235B-A22B", engine: "vllm" }), gpus("RTX-4090", 2), OPEN),
      (e: unknown) => {
        assert.ok(e instanceof NothingFitsError);
        assert.equal(e.largest?.instanceType, MACHINE_TYPE);
        assert.equal(e.largest?.gpu, "RTX-4090");
        assert.equal(e.largest?.gpuCount, 2);
        assert.equal(Math.round((e.largest?.requiredGiB ?? 0) * 10) / 10, 248.8);
        assert.equal(e.largest?.reason, "needs 248.8 GiB per GPU at TP 2, has 24.0");
        assert.equal(
          e.problem,
          "Qwen3-235B-A22B on vllm does not fit this machine as asked (needs 248.8 GiB per GPU at TP 2, " +
            "has 24.0), nor in bf16, fp8, gptq-int4 at 8192 tokens or more.",
        );
        return true;
      },
    );
  });

  it("applies the RAM rule only when the RAM is stated", () => {
    const req = parsePlanRequest({ model: "Qwen3-32B", engine: "vllm" });
    assert.doesNotThrow(() => planForMachine(req, gpus("RTX-6000-Ada", 2), OPEN));
    assert.throws(
      () => planForMachine(req, gpus("RTX-6000-Ada", 2, 16), OPEN),
      (e: unknown) => isUserError(e) && /host RAM 16 GiB/.test(e.problem),
    );
  });
});
