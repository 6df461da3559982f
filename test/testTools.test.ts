/**
 * test/helpers/tools.ts: a test that needs a missing system tool fails naming the tool and the
 * command that installs it. Run here against a PATH of temp folders, with and without the tool.
 */
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { findTool, requireTool, TOOL_PACKAGES } from "./helpers/tools";

describe("requireTool", () => {
  const empty = mkdtempSync(path.join(os.tmpdir(), "qs-tools-empty-"));
  const withNginx = mkdtempSync(path.join(os.tmpdir(), "qs-tools-nginx-"));
  writeFileSync(path.join(withNginx, "nginx"), "#!/bin/sh\nexit 0\n");
  chmodSync(path.join(withNginx, "nginx"), 0o755);
  after(() => {
    for (const d of [empty, withNginx]) rmSync(d, { recursive: true, force: true });
  });

  it("on a PATH without nginx: throws naming nginx, `bash scripts/test-tools.sh` and the apt-get line", () => {
    assert.throws(
      () => requireTool("nginx", empty),
      (e: unknown) =>
        e instanceof Error &&
        e.message ===
          "nginx is not installed (not found on PATH), and this test runs it for real. Install the test tools " +
            "with `bash scripts/test-tools.sh`, or: sudo apt-get install -y --no-install-recommends nginx",
    );
  });

  it("names the Debian package where it differs from the tool: ssh-keyscan comes from openssh-client", () => {
    assert.throws(() => requireTool(["nginx", "ssh-keyscan"], withNginx), {
      message: /^ssh-keyscan is not installed .* sudo apt-get install -y --no-install-recommends openssh-client$/,
    });
  });

  it("passes, and finds the file, when the tool is an executable on the PATH", () => {
    assert.doesNotThrow(() => requireTool("nginx", `${empty}${path.delimiter}${withNginx}`));
    assert.equal(findTool("nginx", withNginx), path.join(withNginx, "nginx"));
  });

  it("a file that is not executable does not count", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "qs-tools-noexec-"));
    try {
      writeFileSync(path.join(dir, "curl"), "");
      chmodSync(path.join(dir, "curl"), 0o644);
      assert.equal(findTool("curl", dir), undefined);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("every package it names is one scripts/test-tools.sh installs, and every one that script installs is named", () => {
    const script = readFileSync(path.join(__dirname, "..", "scripts", "test-tools.sh"), "utf8");
    const list = /^packages=\(([^)]*)\)$/m.exec(script)?.[1]?.trim().split(/\s+/);
    assert.ok(list !== undefined, "packages=(...) in scripts/test-tools.sh");
    assert.deepEqual([...new Set(Object.values(TOOL_PACKAGES))].sort(), [...list].sort());
  });
});
