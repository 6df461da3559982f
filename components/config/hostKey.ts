/**
 * The workstation's SSH host key, given as one known_hosts line (what `ssh-keyscan` prints), checked
 * before anything is declared and turned into the form @pulumi/command's connection takes.
 *
 * The provider (pulumi-command v1.2.1, provider/pkg/provider/remote/connection.go, read 2026-11-30)
 * parses `connection.hostKey` with Go's `ssh.ParseAuthorizedKey`, pins it with `ssh.FixedHostKey`
 * and offers only `publicKey.Type()` as the host key algorithm. The check happens in the SSH
 * handshake, before authentication and before any command or stdin is sent.
 */
import { createHmac } from "node:crypto";
import { UserError } from "../errors/userError";

/** Host key types we accept: the ones OpenSSH generates by default besides RSA. */
export const HOST_KEY_TYPES = [
  "ssh-ed25519",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
] as const;

const KEY = "workstation.hostKey";
const HOW = "Run `ssh-keyscan -t ed25519 <host>` (with `-p <port>` when SSH is not on 22) and paste its output line.";

function refuse(value: string, problem: string, hint = HOW): never {
  throw new UserError({ key: KEY, value, problem, hint, choices: [...HOST_KEY_TYPES] });
}

/** The names a known_hosts line must carry for this machine: `host`, or `[host]:port` off port 22. */
function namesFor(host: string, port: number): string[] {
  return port === 22 ? [host.toLowerCase(), `[${host.toLowerCase()}]:22`] : [`[${host.toLowerCase()}]:${port}`];
}

/** Whether one host pattern of a known_hosts line names this machine; hashed entries (`|1|salt|hash`) too. */
function patternNames(pattern: string, names: readonly string[]): boolean {
  const hashed = /^\|1\|([A-Za-z0-9+/=]+)\|([A-Za-z0-9+/=]+)$/.exec(pattern);
  if (hashed !== null) {
    const salt = Buffer.from(hashed[1] ?? "", "base64");
    return names.some((n) => createHmac("sha1", salt).update(n).digest("base64") === hashed[2]);
  }
  return names.includes(pattern.toLowerCase());
}

/** The key type a public key blob names in its first field (RFC 4253 section 6.6), or undefined. */
function blobType(b64: string): string | undefined {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return undefined;
  const blob = Buffer.from(b64, "base64");
  if (blob.length < 4) return undefined;
  const len = blob.readUInt32BE(0);
  return len > 0 && 4 + len <= blob.length ? blob.subarray(4, 4 + len).toString("latin1") : undefined;
}

/**
 * Check a known_hosts line for this host and port and return `type base64` for the connection's
 * `hostKey`. Throws a {@link UserError} naming workstation.hostKey when it is not one.
 */
export function connectionHostKey(line: string, host: string, port: number): string {
  const text = line.trim();
  if (/[\r\n]/.test(text)) refuse(text, "holds more than one line; give the one line for the ed25519 key.");
  const fields = text.split(/\s+/);
  const [hosts = "", type = "", b64 = ""] = fields;
  if (hosts.startsWith("@")) refuse(text, `is a ${hosts} line; give the machine's own host key.`);
  if ((HOST_KEY_TYPES as readonly string[]).includes(hosts) || hosts === "ssh-rsa") {
    refuse(text, "is a bare public key; a known_hosts line starts with the host it belongs to.");
  }
  if (type === "ssh-rsa") {
    // pulumi-command offers only the key's own type, ssh-rsa (SHA-1 signatures), which OpenSSH 8.8
    // and later refuse by default: the connection would fail with "no common algorithm for host key".
    refuse(
      text,
      "is an RSA host key, which the SSH client Pulumi uses can only check with SHA-1 signatures that current OpenSSH servers refuse.",
      "Use the machine's ed25519 key: `ssh-keyscan -t ed25519 <host>`.",
    );
  }
  if (!(HOST_KEY_TYPES as readonly string[]).includes(type))
    refuse(text, `has key type ${JSON.stringify(type)}, not a known_hosts line with a supported key type.`);
  if (blobType(b64) !== type) refuse(text, `its key is not a base64 ${type} public key.`);
  const names = namesFor(host, port);
  if (!hosts.split(",").some((p) => patternNames(p, names))) {
    refuse(
      text,
      `is for ${hosts}, not for ${names[0] ?? host} (workstation.host and workstation.port).`,
      `Scan the machine you deploy to: \`ssh-keyscan -t ed25519${port === 22 ? "" : ` -p ${port}`} ${host}\`.`,
    );
  }
  return `${type} ${b64}`;
}
