# shellcheck shell=bash
# Podman and the local base images for deploy/Dockerfile, on a machine with
# no Docker engine and no access to Docker Hub (only the Debian mirror and
# crates.io). Sourced by scripts/image and scripts/image-test, after
# scripts/lib/services.sh (say, die, apt_install).
#
#   ensure_podman        podman + runc (+ mmdebstrap) installed; podman set up
#                        through our own containers.conf (CONTAINERS_CONF)
#   ensure_base_images   localhost/debian:bookworm-slim (the runtime base) and
#                        localhost/warungin-rust:<rustc version>-bookworm (the
#                        builder base: Debian + this machine's Rust toolchain),
#                        made from the Debian mirror when missing
#
# Environment:
#   IMAGE_CACHE      default ~/.cache/warungin-image: containers.conf and the
#                    root filesystem tarballs while they are imported
#   DEBIAN_MIRROR    default http://deb.debian.org/debian
#   DEBIAN_SECURITY  default http://deb.debian.org/debian-security

IMAGE_CACHE="${IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/warungin-image}"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
DEBIAN_SECURITY="${DEBIAN_SECURITY:-http://deb.debian.org/debian-security}"
RUNTIME_BASE="${RUNTIME_BASE:-localhost/debian:bookworm-slim}"

ensure_podman() {
  local missing=()
  command -v podman >/dev/null || missing+=(podman)
  command -v runc >/dev/null || missing+=(runc)
  command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
  if ((${#missing[@]})); then
    apt_install "${missing[@]}" || die "cannot install ${missing[*]} (Debian packages)"
  fi
  # Our own containers.conf rather than editing /etc/containers (other users
  # of podman on the machine keep theirs):
  #   default_ulimits = []  podman's default sets RLIMIT_NOFILE, which the
  #                         kernel refuses to these containers
  #   runtime = "runc"      crun refuses the hybrid cgroup layout
  #   cgroupfs, file        there is no systemd to manage cgroups or a journal
  mkdir -p "$IMAGE_CACHE"
  export CONTAINERS_CONF="$IMAGE_CACHE/containers.conf"
  cat >"$CONTAINERS_CONF.tmp" <<'EOF'
[containers]
default_ulimits = []

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
  mv "$CONTAINERS_CONF.tmp" "$CONTAINERS_CONF"
  # overlay where the kernel and filesystem allow it; vfs (full copies,
  # slower, more disk) otherwise.
  if [[ -z "${STORAGE_DRIVER:-}" ]] && ! podman info >/dev/null 2>&1; then
    say "podman cannot use its default storage driver here; using vfs"
    export STORAGE_DRIVER=vfs
  fi
  podman info >/dev/null || die "podman does not work here (podman info failed)"
}

image_exists() { podman image exists "$1"; }

# debian_rootfs OUT.tar PACKAGES [HOOK...]: a bookworm minbase root
# filesystem from the mirror, slimmed as debian:*-slim is (no manual pages,
# documentation or translations), apt lists removed.
debian_rootfs() {
  local out="$1" include="$2"
  shift 2
  local args=(--variant=minbase --mode=root --format=tar
    --aptopt='APT::Install-Recommends "false"'
    --dpkgopt='path-exclude=/usr/share/man/*'
    --dpkgopt='path-exclude=/usr/share/doc/*'
    --dpkgopt='path-include=/usr/share/doc/*/copyright'
    --dpkgopt='path-exclude=/usr/share/locale/*'
    --dpkgopt='path-exclude=/usr/share/info/*')
  [[ -n "$include" ]] && args+=("--include=$include")
  local hook
  for hook in "$@"; do args+=("--customize-hook=$hook"); done
  mmdebstrap "${args[@]}" bookworm "$out" \
    "deb $DEBIAN_MIRROR bookworm main" \
    "deb $DEBIAN_MIRROR bookworm-updates main" \
    "deb $DEBIAN_SECURITY bookworm-security main"
}

# The runtime base: what debian:bookworm-slim is, from the mirror.
ensure_runtime_base() {
  image_exists "$RUNTIME_BASE" && return 0
  say "making $RUNTIME_BASE from $DEBIAN_MIRROR (mmdebstrap, minbase)"
  local tar="$IMAGE_CACHE/debian-bookworm-slim.tar"
  debian_rootfs "$tar" ""
  podman import --change 'CMD ["bash"]' "$tar" "$RUNTIME_BASE" >/dev/null
  rm -f "$tar"
}

# The builder base: Debian, a C toolchain for the crates' build scripts
# (ring's C parts), and this machine's Rust toolchain copied in (no toolchain
# can be downloaded here). Laid out as the rust:*-bookworm images are:
# CARGO_HOME=/usr/local/cargo (the Dockerfile's cache mounts point there),
# cargo and rustc on PATH. The tag carries the rustc version, so a toolchain
# update makes a new base.
rust_base_tag() { printf 'localhost/warungin-rust:%s-bookworm' "$(rustc --version | awk '{print $2}')"; }

ensure_rust_base() {
  local tag; tag="$(rust_base_tag)"
  image_exists "$tag" && return 0
  local sysroot; sysroot="$(rustc --print sysroot)"
  say "making $tag: Debian from $DEBIAN_MIRROR + the Rust toolchain in $sysroot"
  local tar="$IMAGE_CACHE/warungin-rust.tar"
  # The documentation (share/, most of the toolchain's size) stays out.
  # The machine's own certificate authorities (/usr/local/share/ca-certificates)
  # go in too: crates.io may be reached through a TLS-inspecting egress
  # proxy that only they make trusted. Only the builder gets them; the
  # runtime image has Debian's.
  local hooks=("mkdir -p \"\$1/usr/local/rust\" \"\$1/usr/local/cargo/bin\" && tar -C '$sysroot' --exclude=./share -cf - . | tar -C \"\$1/usr/local/rust\" -xf -")
  if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
    hooks+=("cp /usr/local/share/ca-certificates/*.crt \"\$1/usr/local/share/ca-certificates/\" && chroot \"\$1\" update-ca-certificates >/dev/null")
  fi
  debian_rootfs "$tar" "ca-certificates,gcc,libc6-dev,make,pkg-config,git" "${hooks[@]}"
  podman import \
    --change 'ENV CARGO_HOME=/usr/local/cargo' \
    --change 'ENV PATH=/usr/local/cargo/bin:/usr/local/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' "$tar" "$tag" >/dev/null
  rm -f "$tar"
}

ensure_base_images() {
  ensure_runtime_base
  ensure_rust_base
}
