/**
 * Machine images for the AWS target, resolved at deploy time from AWS's public SSM parameters.
 * The Deep Learning AMI ships the NVIDIA driver, Docker and the container toolkit; plain Ubuntu
 * gets them from the bootstrap (one reboot for the driver).
 */
import type { Source } from "./source";

/** One image family. */
export interface AmiFamily {
  /** Public SSM parameter holding the latest AMI id for x86_64 in every region. */
  readonly ssmParameter: string;
  /** Whether the image already has a working NVIDIA driver. */
  readonly hasDriver: boolean;
  /** Root volume the OS and preinstalled stack need before our weights and engine, GiB. */
  readonly osDiskGiB: number;
  readonly source: Source;
}

const DLAMI_SOURCE: Source = {
  url: [
    "https://docs.aws.amazon.com/dlami/latest/devguide/find-dlami-id.html",
    "https://docs.aws.amazon.com/dlami/latest/devguide/appendix-ami-release-notes.html",
    "https://github.com/aws/deep-learning-containers/issues/2425",
  ],
  asOf: "2026-09-21",
  note:
    "Base OSS Nvidia Driver GPU AMI release notes: driver 580/595, CUDA 13, NVIDIA Container " +
    "Toolkit, Docker, SSM agent. EC2's recommended root size for the Base DLAMI is 100 GB (the " +
    "GitHub issue).",
};
const CANONICAL_SOURCE: Source = {
  url: [
    "https://documentation.ubuntu.com/aws/en/latest/aws-how-to/instances/find-ubuntu-images/",
    "https://discourse.ubuntu.com/t/finding-ubuntu-images-with-the-aws-ssm-parameter-store/15507",
  ],
  asOf: "2026-11-29",
  note:
    "Canonical's public SSM parameters " +
    "/aws/service/canonical/ubuntu/server/<release>/stable/current/amd64/hvm/<volume>/ami-id; 22.04 " +
    "images are published under ebs-gp2, 24.04 under ebs-gp3",
};

/** Image families by name. */
export const AMI_FAMILIES = {
  "dlami-ubuntu-24.04": {
    ssmParameter: "/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-ubuntu-24.04/latest/ami-id",
    hasDriver: true,
    osDiskGiB: 100,
    source: DLAMI_SOURCE,
  },
  "dlami-ubuntu-22.04": {
    ssmParameter: "/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-ubuntu-22.04/latest/ami-id",
    hasDriver: true,
    osDiskGiB: 100,
    source: DLAMI_SOURCE,
  },
  "ubuntu-24.04": {
    ssmParameter: "/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id",
    hasDriver: false,
    osDiskGiB: 30,
    source: CANONICAL_SOURCE,
  },
  "ubuntu-22.04": {
    ssmParameter: "/aws/service/canonical/ubuntu/server/22.04/stable/current/amd64/hvm/ebs-gp2/ami-id",
    hasDriver: false,
    osDiskGiB: 30,
    source: CANONICAL_SOURCE,
  },
} as const satisfies Record<string, AmiFamily>;

/** An image family name. */
export type AmiFamilyName = keyof typeof AMI_FAMILIES;

/** Image family names, default first. */
export const AMI_FAMILY_NAMES = Object.keys(AMI_FAMILIES) as [AmiFamilyName, ...AmiFamilyName[]];
