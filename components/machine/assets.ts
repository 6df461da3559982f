/**
 * The machine-side files as shipped: reads the bootstrap scripts from this folder (the only I/O
 * in the machine layer) and combines them with a plan's rendered config.
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { gzipSync } from "node:zlib";
import {
  renderMachineConfig,
  scriptFiles,
  shippedScript,
  type DeferredIdle,
  type MachineFile,
  type MachineSettings,
} from "./render";
import type { Plan } from "../sizing/plan";

/** Script paths relative to the install dir, in install order. */
export function scriptNames(dir: string = __dirname): string[] {
  const top = [
    "bootstrap.sh",
    "idle.py",
    "idle.sh",
    "lib.sh",
    "mirror.py",
    "mirror.sh",
    "proxy-auth.conf",
    "proxy.conf",
    "run-engine.sh",
    "status.py",
    "uninstall.sh",
  ];
  const steps = readdirSync(path.join(dir, "steps"))
    .filter((f) => f.endsWith(".sh"))
    .sort()
    .map((f) => `steps/${f}`);
  return [...top, ...steps];
}

/** The scripts' text, keyed by path relative to the install dir. */
export function loadScripts(dir: string = __dirname): Record<string, string> {
  return Object.fromEntries(scriptNames(dir).map((rel) => [rel, readFileSync(path.join(dir, rel), "utf8")]));
}

/** A file shipped with the scripts (proxy templates, the watchdog), for targets that place it themselves. */
export function loadTemplate(
  name: "proxy.conf" | "proxy-auth.conf" | "idle.py" | "status.py",
  dir: string = __dirname,
): string {
  return readFileSync(path.join(dir, name), "utf8");
}

/** idle.py as every target ships it (full-line comments dropped). */
const shippedIdle = (): string => shippedScript(loadTemplate("idle.py"));

/**
 * What `idleFromSsm` carries: idle.py's shipped text; with the weights mirror, a JSON bundle of idle.py and the
 * mirror's scripts instead, which the secrets phase unpacks (they would push the user data past 16 KiB).
 */
function deferredPayload(mirror: boolean): string {
  if (!mirror) return shippedIdle();
  const shipped = (name: string): string => shippedScript(readFileSync(path.join(__dirname, name), "utf8"));
  const files = { "idle.py": shippedIdle(), "mirror.py": shipped("mirror.py"), "mirror.sh": shipped("mirror.sh") };
  return JSON.stringify({ "qwen3-serve-bundle": 1, files });
}
const sha256Hex = (text: string): string => createHash("sha256").update(text, "utf8").digest("hex");

/**
 * Every file a machine needs for a plan: the scripts and the plan's config. mirror.sh and mirror.py
 * ship only with `settings.weightsMirror`. With `settings.idleFromSsm` idle.py stays out (the secrets phase fetches it), and the hash the
 * machine will check must be the shipped text's, so a stale hash fails here, not on the machine.
 */
export function machineFiles(plan: Plan, settings: MachineSettings): MachineFile[] {
  const deferred = settings.idleFromSsm;
  const mirror = settings.weightsMirror !== undefined;
  if (deferred !== undefined && deferred.sha256 !== sha256Hex(deferredPayload(mirror)))
    throw new Error(
      `idleFromSsm.sha256 ${deferred.sha256} is not the shipped idle.py's${mirror ? " and mirror scripts' bundle (idleScriptSsm with mirror)" : ""}`,
    );
  // The mirror's scripts only where a mirror is on, and through SSM with idle.py where that is: user data must
  // stay under EC2's 16 KiB.
  const scripts = Object.entries(loadScripts()).filter(
    ([rel]) =>
      (rel !== "uninstall.sh" || settings.uninstallable === true) &&
      (rel !== "idle.py" || deferred === undefined) &&
      (!rel.startsWith("mirror.") || (mirror && deferred === undefined)),
  );
  return [...scriptFiles(Object.fromEntries(scripts)), ...renderMachineConfig(plan, settings)];
}

/**
 * Characters per SSM parameter value. A Standard-tier parameter holds at most 4 KB ("Maximum size
 * of a parameter value: 4 KB", Systems Manager User Guide, "Managing parameter tiers",
 * https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html,
 * read 2026-11-30; the PutParameter reference: "Standard parameters have a content size limit of
 * 4 KB"). Base64 is ASCII, so characters are bytes; 4,000 leaves a margin.
 */
export const SSM_CHUNK_CHARS = 4000;

/** idle.py as the AWS target stores it: the shipped text's hash and its parameters, named and in order. */
export interface IdleScriptSsm extends DeferredIdle {
  /** Each parameter's name and value (a slice of the base64 of the gzipped shipped text). */
  readonly values: readonly { readonly name: string; readonly value: string }[];
}

/**
 * The shipped idle.py (with `mirror`: the bundle of it and the mirror's scripts), gzipped (level 9),
 * base64-encoded and cut into {@link SSM_CHUNK_CHARS} pieces named `<prefix>/machine/idle.py/<i>`; the
 * machine joins them, decodes and checks the hash.
 */
export function idleScriptSsm(prefix: string, opts: { readonly mirror?: boolean } = {}): IdleScriptSsm {
  const text = deferredPayload(opts.mirror === true);
  const encoded = gzipSync(text, { level: 9 }).toString("base64");
  const values = (encoded.match(new RegExp(`.{1,${SSM_CHUNK_CHARS}}`, "g")) ?? []).map((value, i) => ({
    name: `${prefix.replace(/\/$/, "")}/machine/idle.py/${i}`,
    value,
  }));
  return { sha256: sha256Hex(text), parameters: values.map((v) => v.name), values };
}
