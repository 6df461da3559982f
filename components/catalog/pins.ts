/**
 * Versions the bootstrap installs on a machine that lacks them (plain Ubuntu): the NVIDIA driver
 * branch, the NVIDIA Container Toolkit, and the AWS CLI image that reads SSM parameters where the
 * host has no `aws`. The Deep Learning AMI ships its own driver, toolkit and CLI.
 */
import type { Source } from "./source";

/** NVIDIA server driver branch for plain Ubuntu (open kernel modules, `nvidia-headless-<branch>-server-open`). */
export const DRIVER_BRANCH = "580";

/** Why {@link DRIVER_BRANCH}: the engine images are built on CUDA 13, which needs a 580-branch driver. */
export const DRIVER_BRANCH_SOURCE: Source = {
  url: "https://docs.nvidia.com/cuda/archive/13.0.0/cuda-toolkit-release-notes/index.html",
  asOf: "2026-11-30",
  note:
    "CUDA 13.0 release notes, driver compatibility table: CUDA 13.x needs a driver of the 580 branch or later. " +
    "Ubuntu's archive carries nvidia-headless-580-server-open (https://packages.ubuntu.com/noble/nvidia-headless-580-server-open); " +
    "the AWS Deep Learning Base AMI of 2026-01-02 ships 580.105.08 " +
    "(https://docs.amazonaws.cn/dlami/latest/devguide/aws-deep-learning-ami-gpubasesinglecuda-ul2204-2026-01-02.md)",
};

/** NVIDIA Container Toolkit apt version (all four packages of a release share it; `-1` is the Debian revision). */
export const NCT_VERSION = "1.18.1-1";

/** Where the {@link NCT_VERSION} release is listed. */
export const NCT_VERSION_SOURCE: Source = {
  url: "https://github.com/NVIDIA/nvidia-container-toolkit/releases/tag/v1.18.1",
  asOf: "2026-11-30",
  note:
    "Release notes: https://docs.nvidia.com/datacenter/cloud-native/container-toolkit/latest/release-notes.html " +
    "(each release ships nvidia-container-toolkit, nvidia-container-toolkit-base, libnvidia-container-tools and " +
    "libnvidia-container1 at one version). The same 1.18.1 is what the AWS Deep Learning Base AMI of 2026-01-02 ships",
};

/** AWS CLI v2 image used to read SSM parameters where the host has no `aws`; pinned by tag, never latest. */
export const AWS_CLI_IMAGE = "amazon/aws-cli:2.22.0";

/** Where the {@link AWS_CLI_IMAGE} tag is published. */
export const AWS_CLI_IMAGE_SOURCE: Source = {
  url: "https://hub.docker.com/r/amazon/aws-cli/tags?name=2.22.0",
  asOf: "2026-11-30",
  note:
    "AWS's official image; its entrypoint is `aws`. AWS CLI User Guide, \"Running the official Amazon ECR Public or " +
    'Docker images for the AWS CLI", section "Use specific versions and tags": ' +
    "https://docs.aws.amazon.com/cli/latest/userguide/getting-started-docker.html",
};
