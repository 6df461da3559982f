/**
 * The machine-side files as shipped: reads the bootstrap scripts from this folder (the only I/O
 * in the machine layer) and combines them with a plan's rendered config.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { renderMachineConfig, scriptFiles, type MachineFile, type MachineSettings } from "../core/bootstrap";
import type { Plan } from "../core/plan";

/** Script paths relative to the install dir, in install order. */
export function scriptNames(dir: string = __dirname): string[] {
  const top = ["bootstrap.sh", "idle.py", "idle.sh", "lib.sh", "proxy-auth.conf", "proxy.conf", "run-engine.sh", "status.py", "uninstall.sh"];
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
export function loadTemplate(name: "proxy.conf" | "proxy-auth.conf" | "idle.py" | "status.py", dir: string = __dirname): string {
  return readFileSync(path.join(dir, name), "utf8");
}

/** Every file a machine needs for a plan: the scripts and the plan's config. */
export function machineFiles(plan: Plan, settings: MachineSettings): MachineFile[] {
  const scripts = Object.entries(loadScripts()).filter(([rel]) => rel !== "uninstall.sh" || settings.uninstallable === true);
  return [...scriptFiles(Object.fromEntries(scripts)), ...renderMachineConfig(plan, settings)];
}
