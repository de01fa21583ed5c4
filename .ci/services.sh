#!/usr/bin/env bash
# .ci/services.sh — prepare the services Slipway's CI and tests need on a fresh
# Debian 12 machine (run as root): Debian packages, a running Docker daemon and
# the locally built offline images (deploy/offline/build-images.sh).
#
# Idempotent: packages already installed are not reinstalled (apt-get update
# runs only when one is missing), a running daemon is reused and images that
# already exist are not rebuilt. Run it (`.ci/services.sh`) or source it
# (`. .ci/services.sh`); when sourced it leaves the caller's shell options alone
# and returns non-zero instead of exiting on failure. Arguments are passed to
# deploy/offline/build-images.sh (e.g. --force).

slipway_services_main() (
	set -euo pipefail

	local repo_root
	repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

	# docker-compose, systemd (systemd-analyze) and kubectl check deploy/ with
	# the real tools; openssh-server serves the ssh fetch tests.
	local pkgs=(docker.io docker-registry busybox-static postgresql-15 git chromium ca-certificates
		docker-compose systemd openssh-server)
	# Debian's kubectl (kubernetes-client, 1.20) unless one is installed
	# already: the two packages collide on /usr/bin/kubectl.
	if ! command -v kubectl >/dev/null 2>&1; then
		pkgs+=(kubernetes-client)
	fi
	local missing=() p
	for p in "${pkgs[@]}"; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
			missing+=("$p")
		fi
	done
	if ((${#missing[@]})); then
		echo "services: installing ${missing[*]}" >&2
		apt-get update
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
	else
		echo "services: packages already installed" >&2
	fi

	if ! docker info >/dev/null 2>&1; then
		echo "services: starting dockerd (log: /var/log/dockerd.log)" >&2
		# setsid + nohup: the daemon must outlive this script and its shell.
		setsid nohup dockerd --iptables=false --ip6tables=false >/var/log/dockerd.log 2>&1 </dev/null &
		local i
		for ((i = 0; i < 60; i++)); do
			if docker info >/dev/null 2>&1; then
				break
			fi
			sleep 1
		done
		if ! docker info >/dev/null 2>&1; then
			echo "services: dockerd did not answer within 60 s; tail of /var/log/dockerd.log:" >&2
			tail -n 30 /var/log/dockerd.log >&2 || true
			exit 1
		fi
	fi
	echo "services: docker $(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})')" >&2

	"$repo_root/deploy/offline/build-images.sh" "$@"
	# BuildKit's Dockerfile frontend for `# syntax=docker/dockerfile:1`
	# (reused when already loaded).
	"$repo_root/deploy/offline/dockerfile-frontend.sh"
)

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
	slipway_services_main "$@"
else
	# Sourced: run in a child bash so `set -e` applies inside (it would be
	# ignored under `||`) and the caller's shell options stay untouched.
	bash "${BASH_SOURCE[0]}" "$@" || return $?
fi
