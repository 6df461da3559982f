/**
 * The endpoint's API key, as every target makes it: a random password that only Pulumi state holds.
 */
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";

/**
 * Declare `<name>-api-key`: 48 letters and digits (no symbols, so it needs no quoting in a header,
 * a shell or nginx's regex), a child of `parent`. The result is marked secret here although the
 * random provider marks it already, so no later change can lose the marking.
 */
export function declareApiKey(name: string, parent: pulumi.Resource): pulumi.Output<string> {
  const key = new random.RandomPassword(`${name}-api-key`, { length: 48, special: false }, { parent });
  return pulumi.secret(key.result);
}
