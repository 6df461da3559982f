/**
 * The month-cost reader that `npm run status` and the reaper share: it picks the history by the kind of
 * machine the inventory saw, asks it for the right instance or group in the right region and month, and
 * prices it from the stack's outputs. Fake history readers record what they were asked.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ReplicaActivity, StateTransition } from "../components/status/cost";
import type { FleetHistoryReader, MachineHistoryReader } from "../components/status/history";
import { type CostSubject, monthCostReader } from "../components/status/monthCost";

const t = (iso: string): number => Date.parse(iso);
const NOW = t("2026-11-30T12:00:00Z");

function readers(): {
  asked: string[];
  machine: MachineHistoryReader;
  fleet: FleetHistoryReader;
} {
  const asked: string[] = [];
  const transitions: StateTransition[] = [
    { at: t("2026-11-30T08:00:00Z"), state: "pending", cause: "user" },
    { at: t("2026-11-30T10:00:00Z"), state: "stopping", cause: "user" },
  ];
  const activities: ReplicaActivity[] = [
    { instanceId: "i-0aaaaaaaaaaaaaaaa", kind: "launch", start: t("2026-11-30T06:00:00Z"), status: "Successful" },
    { instanceId: "i-0aaaaaaaaaaaaaaaa", kind: "terminate", start: t("2026-11-30T09:00:00Z"), status: "Successful" },
  ];
  return {
    asked,
    machine: {
      transitions: async (id, region, since, now, spot) => {
        asked.push(`machine ${id} ${region} ${new Date(since).toISOString()} ${now === NOW} spot=${spot}`);
        return { kind: "read", items: transitions };
      },
    },
    fleet: {
      activities: async (group, region) => {
        asked.push(`fleet ${group} ${region}`);
        return { kind: "read", items: activities };
      },
    },
  };
}

const instance = (state: string): CostSubject["machine"] => ({
  kind: "instance",
  ref: { instanceId: "i-0123456789abcdef0", region: "us-east-1" },
  instance: { state, tags: {} },
  error: undefined,
});

describe("the shared month-cost reader", () => {
  it("prices a single machine's CloudTrail run this month (2 h at $1.861 = $3.72), asking for its instance, region and month", async () => {
    const r = readers();
    const cost = await monthCostReader(r)(
      { outputs: { pricePerHour: 1.861 }, deployedConfig: {}, machine: instance("stopped"), target: "aws" },
      NOW,
    );
    assert.ok(!("unavailable" in cost));
    assert.deepEqual([cost.hours, cost.usd, cost.basis], [2, 3.72, "CloudTrail events"]);
    assert.deepEqual(r.asked, ["machine i-0123456789abcdef0 us-east-1 2026-11-01T00:00:00.000Z true spot=false"]);
  });

  it("prices a fleet's replica-hours (3 h at the first candidate's $1.861 = $5.58) from its group's activities", async () => {
    const r = readers();
    const cost = await monthCostReader(r)(
      {
        outputs: { pricePerReplicaHour: { "g6e.xlarge": 1.861, "g7e.2xlarge": 3.36312 }, awsRegion: "us-west-2" },
        deployedConfig: {},
        machine: {
          kind: "group",
          ref: { name: "qwen3-serve-p-team-team", region: undefined },
          group: null,
          error: undefined,
        },
        target: "aws",
      },
      NOW,
    );
    assert.ok(!("unavailable" in cost));
    assert.deepEqual([cost.hours, cost.usd, cost.basis], [3, 5.58, "scaling activities"]);
    assert.deepEqual(r.asked, ["fleet qwen3-serve-p-team-team us-west-2"]);
  });

  it("says why there is no figure: a machine the user owns, no price exported, an instance EC2 does not know; and asks nothing", async () => {
    const r = readers();
    const read = monthCostReader(r);
    const none = await read(
      {
        outputs: {},
        deployedConfig: {},
        machine: { kind: "none", reason: "workstation target" },
        target: "workstation",
      },
      NOW,
    );
    assert.deepEqual(none, { unavailable: "no cloud machine (workstation target)" });
    const noPrice = await read({ outputs: {}, deployedConfig: {}, machine: instance("running"), target: "aws" }, NOW);
    assert.deepEqual(noPrice, { unavailable: "the stack exports no price per hour" });
    const gone = await read(
      {
        outputs: { pricePerHour: 1 },
        deployedConfig: {},
        machine: {
          kind: "instance",
          ref: { instanceId: "i-0123456789abcdef0", region: "us-east-1" },
          instance: null,
          error: undefined,
        },
        target: "aws",
      },
      NOW,
    );
    assert.deepEqual(gone, { unavailable: "EC2 does not know the instance in its region" });
    assert.deepEqual(r.asked, []);
  });
});
