#!/usr/bin/env bash
# deploy/offline/dockerfile-frontend.sh — make BuildKit's Dockerfile frontend
# available to an offline Docker daemon, so Dockerfiles that start with
# `# syntax=docker/dockerfile:1` (heredocs, COPY --link, RUN --network, …)
# build without Docker Hub.
#
# The frontend is compiled from the Go module proxy (BuildKit's
# frontend/dockerfile/cmd/dockerfile-frontend, pinned below) in a small
# wrapper module — `go install …@version` is refused because BuildKit's
# go.mod has exclude directives — then loaded with `docker import` and tagged
# under the names Dockerfiles ask for: docker/dockerfile:1 and every 1.N
# (N = 0 … the frontend's own minor version).
#
# Usage: deploy/offline/dockerfile-frontend.sh [--force]
#
#   --force   rebuild and re-tag even when docker/dockerfile:1 already exists
#
# Environment:
#   SLIPWAY_BUILDKIT_VERSION   BuildKit module version (default v0.34.2)
#   SLIPWAY_FRONTEND_CACHE     where the compiled binary is kept between runs
#                              (default ${XDG_CACHE_HOME:-$HOME/.cache}/slipway)
set -euo pipefail
umask 022

VERSION="${SLIPWAY_BUILDKIT_VERSION:-v0.34.2}"
CACHE="${SLIPWAY_FRONTEND_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/slipway}"
PKG=github.com/moby/buildkit/frontend/dockerfile/cmd/dockerfile-frontend
IMAGE=docker/dockerfile

log() { printf 'dockerfile-frontend: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

FORCE=0
case "${1:-}" in
--force | -f) FORCE=1 ;;
"") ;;
*) die "unknown argument: $1 (usage: $0 [--force])" ;;
esac

command -v docker >/dev/null || die "docker client not found"
command -v go >/dev/null || die "go not found (the frontend is compiled from the Go module proxy)"

if ((!FORCE)) && docker image inspect "$IMAGE:1" >/dev/null 2>&1 &&
	[[ "$(docker image inspect -f '{{index .Config.Labels "io.slipway.frontend.version"}}' "$IMAGE:1")" == "$VERSION" ]]; then
	log "$IMAGE:1 ($VERSION) already loaded"
	exit 0
fi

bin="$CACHE/dockerfile-frontend-$VERSION"
if [[ ! -x "$bin" ]]; then
	log "compiling $PKG@$VERSION from the module proxy"
	work="$(mktemp -d)"
	trap 'rm -rf "$work"' EXIT
	mkdir -p "$CACHE"
	(
		cd "$work"
		export GOFLAGS=-mod=mod GOWORK=off
		go mod init slipway.invalid/dockerfile-frontend >/dev/null 2>&1
		go get "$PKG@$VERSION" >/dev/null
		CGO_ENABLED=0 go build -trimpath -tags 'netgo static_build osusergo' \
			-ldflags "-s -w -X main.Version=$VERSION" -o "$work/dockerfile-frontend" "$PKG"
	)
	mv "$work/dockerfile-frontend" "$bin.tmp" && mv "$bin.tmp" "$bin"
fi

# The frontend's minor version (frontend/dockerfile/version): every 1.N up
# to it is satisfied by this build.
moddir="$(cd "$(mktemp -d)" && GOFLAGS=-mod=mod GOWORK=off go mod download -json "github.com/moby/buildkit@$VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
minor="$(sed -n 's/^const version = "1\.\([0-9]*\)"$/\1/p' "$moddir/frontend/dockerfile/version/version.go")"
[[ "$minor" =~ ^[0-9]+$ ]] || die "cannot read the frontend version from $moddir"

root="$(mktemp -d)"
mkdir -p "$root/bin"
cp "$bin" "$root/bin/dockerfile-frontend"
# The labels are those of Docker's own frontend images: BuildKit runs the
# frontend without network and offers it these capabilities.
tar -C "$root" -c . | docker import \
	--change 'ENTRYPOINT ["/bin/dockerfile-frontend"]' \
	--change 'LABEL moby.buildkit.frontend.network.none="true"' \
	--change 'LABEL moby.buildkit.frontend.caps="moby.buildkit.frontend.inputs,moby.buildkit.frontend.subrequests,moby.buildkit.frontend.contexts"' \
	--change "LABEL io.slipway.frontend.version=\"$VERSION\"" \
	- "$IMAGE:1" >/dev/null
rm -rf "$root"
for ((n = 0; n <= minor; n++)); do
	docker tag "$IMAGE:1" "$IMAGE:1.$n"
done
log "loaded $IMAGE:1 and $IMAGE:1.0 … 1.$minor (BuildKit $VERSION)"
