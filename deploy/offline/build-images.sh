#!/usr/bin/env bash
# deploy/offline/build-images.sh — build, without any registry, the local Docker
# images an air-gapped Slipway machine needs. Every image is assembled in a
# temporary folder from files of Debian packages installed on this host (and
# the host's Go toolchain) and loaded with `docker import`.
#
# Usage: deploy/offline/build-images.sh [--force] [busybox|postgres|registry|git|golang ...]
#
#   --force   rebuild images that already exist locally (default: skip them)
#   names     build only these images (default: all five)
#
# Image names (environment, with defaults):
#   SLIPWAY_OFFLINE_BUSYBOX_IMAGE   slipway-offline/busybox:1
#   SLIPWAY_OFFLINE_POSTGRES_IMAGE  slipway-offline/postgres:15
#   SLIPWAY_OFFLINE_REGISTRY_IMAGE  slipway-offline/registry:2
#   SLIPWAY_OFFLINE_GIT_IMAGE       slipway-offline/debian-git:12
#   SLIPWAY_OFFLINE_GOLANG_IMAGE    slipway-offline/golang:1.26
# Other knobs:
#   SLIPWAY_OFFLINE_GOROOT          Go toolchain to copy (default: `go env GOROOT`, else /usr/local/go)
#   SLIPWAY_OFFLINE_NO_APT=1        never run apt-get; fail if a package is missing
#
# See deploy/offline/README.md.
set -euo pipefail
umask 022

BUSYBOX_IMAGE="${SLIPWAY_OFFLINE_BUSYBOX_IMAGE:-slipway-offline/busybox:1}"
POSTGRES_IMAGE="${SLIPWAY_OFFLINE_POSTGRES_IMAGE:-slipway-offline/postgres:15}"
REGISTRY_IMAGE="${SLIPWAY_OFFLINE_REGISTRY_IMAGE:-slipway-offline/registry:2}"
GIT_IMAGE="${SLIPWAY_OFFLINE_GIT_IMAGE:-slipway-offline/debian-git:12}"
GOLANG_IMAGE="${SLIPWAY_OFFLINE_GOLANG_IMAGE:-slipway-offline/golang:1.26}"

PG_MAJOR=15
PG_LIB="/usr/lib/postgresql/$PG_MAJOR"
PG_SHARE="/usr/share/postgresql/$PG_MAJOR"
BUSYBOX_BIN=/bin/busybox
LIBEXEC_GIT=/usr/lib/git-core
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
DEFAULT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

log() { printf 'build-images: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
}

FORCE=0
WANT=()
while (($#)); do
	case "$1" in
	--force | -f) FORCE=1 ;;
	-h | --help) usage; exit 0 ;;
	busybox | postgres | registry | git | golang) WANT+=("$1") ;;
	*) usage >&2; die "unknown argument: $1" ;;
	esac
	shift
done
((${#WANT[@]})) || WANT=(busybox postgres registry git golang)

wanted() {
	local w
	for w in "${WANT[@]}"; do [[ "$w" == "$1" ]] && return 0; done
	return 1
}

image_name() {
	case "$1" in
	busybox) echo "$BUSYBOX_IMAGE" ;;
	postgres) echo "$POSTGRES_IMAGE" ;;
	registry) echo "$REGISTRY_IMAGE" ;;
	git) echo "$GIT_IMAGE" ;;
	golang) echo "$GOLANG_IMAGE" ;;
	esac
}

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# ---------------------------------------------------------------- prerequisites

command -v docker >/dev/null || die "docker client not found (apt-get install docker.io)"
docker info >/dev/null 2>&1 || die "docker daemon not reachable (start it: dockerd --iptables=false --ip6tables=false &, or run .ci/services.sh)"

# Decide what has to be built before touching apt: a second run with every
# image present must be fast and side-effect free.
TODO=()
for w in "${WANT[@]}"; do
	name="$(image_name "$w")"
	if ((FORCE == 0)) && image_exists "$name"; then
		log "$name already present, skipping (use --force to rebuild)"
	else
		TODO+=("$w")
	fi
done

todo() {
	local w
	for w in "${TODO[@]}"; do [[ "$w" == "$1" ]] && return 0; done
	return 1
}

ensure_packages() {
	local missing=() p
	for p in "$@"; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
			missing+=("$p")
		fi
	done
	((${#missing[@]})) || return 0
	[[ "${SLIPWAY_OFFLINE_NO_APT:-}" != 1 ]] || die "missing packages: ${missing[*]} (SLIPWAY_OFFLINE_NO_APT=1)"
	log "installing ${missing[*]}"
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
}

if ((${#TODO[@]})); then
	pkgs=(busybox-static)
	todo postgres && pkgs+=(postgresql-15)
	todo registry && pkgs+=(docker-registry)
	{ todo git || todo golang; } && pkgs+=(git ca-certificates)
	{ todo postgres || todo git || todo golang; } && pkgs+=(tzdata)
	ensure_packages "${pkgs[@]}"
	[[ -x "$BUSYBOX_BIN" ]] || die "$BUSYBOX_BIN missing"
	file_out="$(LC_ALL=C ldd "$BUSYBOX_BIN" 2>&1 || true)"
	[[ "$file_out" == *"not a dynamic executable"* || "$file_out" == *"statically linked"* ]] ||
		die "$BUSYBOX_BIN is not static (is busybox-static installed?)"
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/slipway-offline.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# ---------------------------------------------------------------- rootfs helpers

# new_root DIR: an empty root with the usual top-level layout. /lib and /lib64
# are relative links into /usr (merged /usr, as on Debian 12), so libraries
# copied under the path ldd reports land in one place.
new_root() {
	local r="$1"
	mkdir -p "$r"/{bin,etc,root,usr/bin,usr/lib,usr/lib64,var/tmp,tmp}
	ln -s usr/lib "$r/lib"
	ln -s usr/lib64 "$r/lib64"
	chmod 1777 "$r/tmp" "$r/var/tmp"
	chmod 700 "$r/root"
}

# is_elf FILE
is_elf() { [[ -f "$1" && "$(head -c 4 "$1" 2>/dev/null | od -An -c | tr -d ' ')" == '177ELF' ]]; }

# copy_file ROOT SRC [DEST]: copy SRC (following links) to ROOT/DEST (default: same path).
copy_file() {
	local r="$1" src="$2" dst="${3:-$2}"
	mkdir -p "$r$(dirname "$dst")"
	cp -L --preserve=mode,timestamps "$src" "$r$dst"
}

# copy_libs ROOT FILE...: copy the shared libraries (and the loader) every
# dynamically linked FILE needs, at the paths ldd reports.
copy_libs() {
	local r="$1" f lib
	shift
	declare -A seen=()
	for f in "$@"; do
		is_elf "$f" || continue
		while read -r lib; do
			[[ -n "$lib" && -z "${seen[$lib]:-}" ]] || continue
			seen[$lib]=1
			[[ -e "$r$lib" ]] || copy_file "$r" "$lib"
		done < <(LC_ALL=C ldd "$f" 2>/dev/null | awk '
			/=> not found/ { print "NOTFOUND " $1 > "/dev/stderr"; next }
			{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }')
	done
}

# add_busybox ROOT: static busybox at /bin/busybox, a /bin link for every
# applet, and links at the applets' usual places (/usr/bin/env, /sbin/…) where
# nothing else lives.
add_busybox() {
	local r="$1" a
	copy_file "$r" "$BUSYBOX_BIN" /bin/busybox
	while read -r a; do
		[[ -n "$a" && "$a" != busybox ]] || continue
		[[ -e "$r/bin/$a" || -L "$r/bin/$a" ]] || ln -s busybox "$r/bin/$a"
	done < <("$BUSYBOX_BIN" --list)
	while read -r a; do
		[[ -n "$a" && "$a" != bin/* ]] || continue
		[[ -e "$r/$a" || -L "$r/$a" ]] && continue
		mkdir -p "$r/$(dirname "$a")"
		ln -s /bin/busybox "$r/$a"
	done < <("$BUSYBOX_BIN" --list-full)
}

# add_accounts ROOT [passwd-line...] -- [group-line...]
add_accounts() {
	local r="$1"
	shift
	{
		echo 'root:x:0:0:root:/root:/bin/sh'
		while (($#)) && [[ "$1" != -- ]]; do echo "$1"; shift; done
		echo 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false'
	} >"$r/etc/passwd"
	[[ "${1:-}" == -- ]] && shift
	{
		echo 'root:x:0:'
		while (($#)); do echo "$1"; shift; done
		echo 'nogroup:x:65534:'
	} >"$r/etc/group"
	printf '/bin/sh\n/bin/ash\n' >"$r/etc/shells"
	chmod 644 "$r/etc/passwd" "$r/etc/group" "$r/etc/shells"
}

# add_basics ROOT: files glibc/Go programs expect (name service switch, CA
# bundle, time zones).
add_basics() {
	local r="$1"
	printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$r/etc/nsswitch.conf"
	if [[ -f "$CA_BUNDLE" ]]; then
		copy_file "$r" "$CA_BUNDLE"
	fi
	if [[ -d /usr/share/zoneinfo ]]; then
		mkdir -p "$r/usr/share"
		cp -a /usr/share/zoneinfo "$r/usr/share/"
		rm -rf "$r/usr/share/zoneinfo/right"
	fi
	ln -sf /usr/share/zoneinfo/Etc/UTC "$r/etc/localtime"
}

# import_root ROOT IMAGE CHANGE...: load ROOT as IMAGE (each CHANGE is a
# Dockerfile instruction for `docker import --change`).
import_root() {
	local r="$1" image="$2" c args=()
	shift 2
	for c in "$@"; do args+=(--change "$c"); done
	args+=(--change "LABEL org.opencontainers.image.source=slipway/deploy/offline/build-images.sh")
	find "$r" -type d -exec chmod a+rx {} +
	log "importing $image"
	tar -C "$r" --numeric-owner -cf - . | docker import "${args[@]}" - "$image" >/dev/null
}

# ---------------------------------------------------------------- busybox

build_busybox() {
	local r="$WORK/busybox"
	new_root "$r"
	add_busybox "$r"
	add_accounts "$r"
	import_root "$r" "$BUSYBOX_IMAGE" \
		"ENV PATH=$DEFAULT_PATH" \
		'CMD ["sh"]'
}

# ---------------------------------------------------------------- postgres

write_pg_entrypoint() {
	cat >"$1" <<'ENTRYPOINT'
#!/bin/sh
# Slipway offline postgres image entrypoint: the part of the official image's
# docker-entrypoint.sh that tests use. Environment: POSTGRES_PASSWORD (required
# unless POSTGRES_HOST_AUTH_METHOD=trust), POSTGRES_USER (postgres),
# POSTGRES_DB ($POSTGRES_USER), PGDATA (/var/lib/postgresql/data),
# POSTGRES_INITDB_ARGS, POSTGRES_HOST_AUTH_METHOD (scram-sha-256).
# Scripts in /docker-entrypoint-initdb.d (*.sh, *.sql, *.sql.gz) run once, on
# a fresh data directory. Arguments starting with "-" go to postgres
# (e.g. `-c fsync=off`); any other command is run as is.
set -eu
: "${PGDATA:=/var/lib/postgresql/data}"
export PGDATA

if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
	set -- postgres "$@"
fi
if [ "$1" != postgres ]; then
	exec "$@"
fi
shift

if [ "$(id -u)" = 0 ]; then
	mkdir -p "$PGDATA" /var/run/postgresql
	find "$PGDATA" ! -user postgres -exec chown postgres:postgres {} +
	chmod 700 "$PGDATA"
	chown postgres:postgres /var/run/postgresql
	chmod 3777 /var/run/postgresql
	# su keeps the environment (except HOME, SHELL, USER, LOGNAME) and execs;
	# "--" keeps postgres arguments such as "-c fsync=off" away from su.
	exec su postgres -s /bin/sh -c 'exec /entrypoint.sh postgres "$@"' -- sh "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	: "${POSTGRES_USER:=postgres}"
	: "${POSTGRES_DB:=$POSTGRES_USER}"
	auth="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
	if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$auth" != trust ]; then
		echo >&2 "Error: database is uninitialized and superuser password is not specified."
		echo >&2 "       Set POSTGRES_PASSWORD (or POSTGRES_HOST_AUTH_METHOD=trust)."
		exit 1
	fi
	pwopt=
	if [ -n "${POSTGRES_PASSWORD:-}" ]; then
		pwfile="$(mktemp)"
		printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
		pwopt="--pwfile=$pwfile"
	fi
	# shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a word list
	initdb --username="$POSTGRES_USER" $pwopt --encoding=UTF8 \
		--auth-local=trust --auth-host="$auth" ${POSTGRES_INITDB_ARGS:-}
	[ -z "$pwopt" ] || rm -f "$pwfile"
	{
		echo
		echo "host all all 0.0.0.0/0 $auth"
		echo "host all all ::/0 $auth"
	} >>"$PGDATA/pg_hba.conf"

	# Socket-only server; its log goes to stdout, so "database system is ready
	# to accept connections" appears twice, as with the official image.
	pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w start
	psql_init() { psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --no-password "$@"; }
	if [ "$POSTGRES_DB" != postgres ]; then
		printf 'CREATE DATABASE :"db";\n' | psql_init --dbname postgres --set db="$POSTGRES_DB"
		echo "created database $POSTGRES_DB"
	fi
	for f in /docker-entrypoint-initdb.d/*; do
		[ -e "$f" ] || continue
		case "$f" in
		# shellcheck disable=SC1090
		*.sh) if [ -x "$f" ]; then echo "running $f"; "$f"; else echo "sourcing $f"; . "$f"; fi ;;
		*.sql) echo "running $f"; psql_init --dbname "$POSTGRES_DB" -f "$f" ;;
		*.sql.gz) echo "running $f"; gunzip -c "$f" | psql_init --dbname "$POSTGRES_DB" ;;
		*) echo "ignoring $f" ;;
		esac
	done
	pg_ctl -D "$PGDATA" -m fast -w stop
	echo
	echo "PostgreSQL init process complete; ready for start up."
	echo
fi

exec postgres -c 'listen_addresses=*' "$@"
ENTRYPOINT
	chmod 755 "$1"
}

build_postgres() {
	local r="$WORK/postgres" f
	new_root "$r"
	add_busybox "$r"
	add_basics "$r"
	add_accounts "$r" 'postgres:x:999:999:PostgreSQL administrator:/var/lib/postgresql:/bin/sh' -- 'postgres:x:999:'

	mkdir -p "$r$PG_LIB" "$r/usr/share/postgresql"
	cp -a "$PG_LIB/bin" "$PG_LIB/lib" "$r$PG_LIB/"
	cp -a "$PG_SHARE" "$r/usr/share/postgresql/"
	# Debian's share dir links a few files out to /etc/postgresql-common and
	# /usr/share; dereference what the server reads.
	while IFS= read -r -d '' f; do
		cp -L --remove-destination "$(readlink -f "$f")" "$f" 2>/dev/null || rm -f "$f"
	done < <(find "$r/usr/share/postgresql" -type l -print0)
	# glibc's C.UTF-8 locale, so the cluster is UTF8 (as in the official image).
	if [[ -d /usr/lib/locale/C.utf8 ]]; then
		mkdir -p "$r/usr/lib/locale"
		cp -a /usr/lib/locale/C.utf8 "$r/usr/lib/locale/"
	fi
	# initdb runs `locale -a` to fill pg_collation; answer with what exists.
	# shellcheck disable=SC2016 # the $ expressions belong to the stub
	printf '#!/bin/sh\n[ "${1:-}" = -a ] && { echo C; echo C.utf8; echo POSIX; exit 0; }\necho "LANG=${LANG:-}"\n' >"$r/usr/bin/locale"
	chmod 755 "$r/usr/bin/locale"
	local elfs=()
	while IFS= read -r -d '' f; do elfs+=("$f"); done < <(find "$PG_LIB/bin" "$PG_LIB/lib" -type f -print0)
	copy_libs "$r" "${elfs[@]}"

	mkdir -p "$r/var/lib/postgresql/data" "$r/var/run/postgresql" "$r/docker-entrypoint-initdb.d"
	chown -R 999:999 "$r/var/lib/postgresql" "$r/var/run/postgresql"
	chmod 700 "$r/var/lib/postgresql/data"
	chmod 3777 "$r/var/run/postgresql"
	write_pg_entrypoint "$r/entrypoint.sh"

	import_root "$r" "$POSTGRES_IMAGE" \
		"ENV PATH=$PG_LIB/bin:$DEFAULT_PATH" \
		"ENV PG_MAJOR=$PG_MAJOR" \
		'ENV LANG=C.UTF-8' \
		'ENV PGDATA=/var/lib/postgresql/data' \
		'ENTRYPOINT ["/entrypoint.sh"]' \
		'CMD ["postgres"]' \
		'EXPOSE 5432'
	# Fast shutdown on `docker stop`, as the official image does. `docker
	# import --change` refuses STOPSIGNAL, so add it with a one-line build
	# (legacy builder, FROM the local image: needs no registry).
	log "adding STOPSIGNAL SIGINT to $POSTGRES_IMAGE"
	printf 'FROM %s\nSTOPSIGNAL SIGINT\n' "$POSTGRES_IMAGE" |
		DOCKER_BUILDKIT=0 docker build -q -t "$POSTGRES_IMAGE" - >/dev/null 2>"$WORK/stopsignal.log" ||
		{ cat "$WORK/stopsignal.log" >&2; die "docker build (STOPSIGNAL) failed"; }
}

# ---------------------------------------------------------------- registry

build_registry() {
	local r="$WORK/registry" bin=/usr/bin/docker-registry
	[[ -x "$bin" ]] || die "$bin missing (apt-get install docker-registry)"
	new_root "$r"
	copy_file "$r" "$bin" /bin/registry
	copy_libs "$r" "$bin"
	add_accounts "$r"
	add_basics "$r"
	mkdir -p "$r/etc/docker/registry" "$r/var/lib/registry"
	cat >"$r/etc/docker/registry/config.yml" <<'YAML'
version: 0.1
log:
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: /var/lib/registry
  delete:
    enabled: true
http:
  addr: :5000
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
YAML
	import_root "$r" "$REGISTRY_IMAGE" \
		"ENV PATH=$DEFAULT_PATH" \
		'ENTRYPOINT ["/bin/registry","serve","/etc/docker/registry/config.yml"]' \
		'EXPOSE 5000'
}

# ---------------------------------------------------------------- git runtime base

# populate_git_root ROOT: busybox + git + CA bundle + user slipway (uid 10001).
populate_git_root() {
	local r="$1" f
	new_root "$r"
	copy_file "$r" /usr/bin/git
	mkdir -p "$r/usr/lib" "$r/usr/share/git-core"
	cp -a "$LIBEXEC_GIT" "$r/usr/lib/"
	if [[ -d /usr/share/git-core/templates ]]; then
		cp -a /usr/share/git-core/templates "$r/usr/share/git-core/"
	fi
	local elfs=(/usr/bin/git)
	while IFS= read -r -d '' f; do elfs+=("$f"); done < <(find "$LIBEXEC_GIT" -type f -print0)
	copy_libs "$r" "${elfs[@]}"
	add_busybox "$r"
	add_basics "$r"
	add_accounts "$r" 'slipway:x:10001:10001:slipway:/home/slipway:/bin/sh' -- 'slipway:x:10001:'
	mkdir -p "$r/home/slipway"
	chown 10001:10001 "$r/home/slipway"
	printf '[safe]\n\tdirectory = *\n' >"$r/etc/gitconfig"
}

build_git() {
	local r="$WORK/git"
	populate_git_root "$r"
	import_root "$r" "$GIT_IMAGE" \
		"ENV PATH=$DEFAULT_PATH" \
		'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
		'CMD ["sh"]'
}

# ---------------------------------------------------------------- golang build stage

host_goroot() {
	if [[ -n "${SLIPWAY_OFFLINE_GOROOT:-}" ]]; then
		echo "$SLIPWAY_OFFLINE_GOROOT"
	elif command -v go >/dev/null; then
		go env GOROOT
	elif [[ -x /usr/local/go/bin/go ]]; then
		echo /usr/local/go
	else
		die "no Go toolchain on this host (install it under /usr/local/go or set SLIPWAY_OFFLINE_GOROOT)"
	fi
}

build_golang() {
	local r="$WORK/golang" goroot
	goroot="$(host_goroot)"
	[[ -x "$goroot/bin/go" ]] || die "$goroot/bin/go missing"
	log "using Go $("$goroot/bin/go" env GOVERSION) from $goroot"
	populate_git_root "$r"
	mkdir -p "$r/usr/local/go"
	# Everything but the toolchain's own tests and docs: test/, api/, doc/,
	# *_test.go and testdata/ are never read when building a program.
	tar -C "$goroot" \
		--exclude=./test --exclude=./api --exclude=./doc \
		--exclude='*_test.go' --exclude=testdata \
		-cf - . | tar -C "$r/usr/local/go" -xf -
	# Host tools for other platforms (only present on cross-built installs).
	find "$r/usr/local/go/pkg/tool" -mindepth 1 -maxdepth 1 -type d ! -name linux_amd64 -exec rm -rf {} +
	mkdir -p "$r/go/bin" "$r/go/src" "$r/root/.cache"
	chmod -R 1777 "$r/go"
	import_root "$r" "$GOLANG_IMAGE" \
		"ENV PATH=/go/bin:/usr/local/go/bin:$DEFAULT_PATH" \
		'ENV GOPATH=/go' \
		'ENV GOTOOLCHAIN=local' \
		'ENV CGO_ENABLED=0' \
		'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
		'WORKDIR /go' \
		'CMD ["sh"]'
}

# ---------------------------------------------------------------- main

for w in "${TODO[@]}"; do
	name="$(image_name "$w")"
	old_id="$(docker image inspect -f '{{.Id}}' "$name" 2>/dev/null || true)"
	log "building $name"
	start=$SECONDS
	"build_$w"
	log "built $name in $((SECONDS - start)) s"
	# --force: drop the image the tag pointed to before (ignored while a
	# container or another tag still uses it).
	new_id="$(docker image inspect -f '{{.Id}}' "$name")"
	if [[ -n "$old_id" && "$old_id" != "$new_id" ]]; then
		docker image rm "$old_id" >/dev/null 2>&1 || true
	fi
done

printf '%-40s %s\n' IMAGE SIZE
for w in "${WANT[@]}"; do
	name="$(image_name "$w")"
	size="$(docker image inspect -f '{{.Size}}' "$name")"
	printf '%-40s %s\n' "$name" "$(numfmt --to=si --suffix=B --format='%.1f' "$size")"
done
