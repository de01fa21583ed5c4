# Slipway's image: a static binary on a small base that has git and CA
# certificates (workers fetch sources with the git CLI).
#
# Base images are build arguments so an air-gapped site (or this project's
# CI) can substitute local ones, e.g. those deploy/offline/build-images.sh
# makes:
#   docker build --build-arg GO_IMAGE=slipway-offline/golang:1.26 \
#     --build-arg RUNTIME_IMAGE=slipway-offline/debian-git:12 .
# The build stage downloads modules from GOPROXY; point it at a proxy the
# build can reach (an internal Athens or Artifactory, or the one the dogfood
# test serves), or build with --network host.
ARG GO_IMAGE=golang:1.26-bookworm
ARG RUNTIME_IMAGE=debian:12-slim

FROM ${GO_IMAGE} AS build
ARG GOPROXY
ARG GOSUMDB
WORKDIR /src
# No separate `go mod download` layer: it fetches the modules of every
# platform in go.sum (Windows-only ones too), which a proxy serving only what
# Linux builds need (a module cache) does not hold; `go build` fetches what
# it compiles.
COPY . .
# The repository's go.work adds the benchmark module, which the image does
# not need (nor its dependencies).
ENV GOWORK=off
ARG VERSION=dev
ARG COMMIT=
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
      -o /out/slipway . \
 && /out/slipway version

FROM ${RUNTIME_IMAGE}
# The offline base already has git, CA certificates and the slipway user;
# official Debian or Alpine bases get them here.
RUN if ! command -v git >/dev/null 2>&1; then \
      if command -v apk >/dev/null 2>&1; then apk add --no-cache git ca-certificates; \
      else apt-get update \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends git ca-certificates \
        && rm -rf /var/lib/apt/lists/*; fi; \
    fi \
 && if ! grep -q '^slipway:' /etc/passwd; then \
      echo 'slipway:x:10001:10001:slipway:/home/slipway:/bin/sh' >>/etc/passwd \
      && echo 'slipway:x:10001:' >>/etc/group; \
    fi \
 && mkdir -p /home/slipway /var/lib/slipway/work \
 && chown 10001:10001 /home/slipway /var/lib/slipway/work
COPY --from=build /out/slipway /usr/local/bin/slipway

ARG VERSION=dev
ARG COMMIT=
ARG CREATED=
LABEL org.opencontainers.image.title="slipway" \
      org.opencontainers.image.description="Builds and pushes container images for Jenkins and Bamboo" \
      org.opencontainers.image.source="https://github.com/slipwayci/slipway" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.created="${CREATED}"

ENV HOME=/home/slipway \
    SLIPWAY_LISTEN=:8080 \
    SLIPWAY_WORK_DIR=/var/lib/slipway/work \
    SLIPWAY_LOG_FORMAT=json
USER 10001:10001
WORKDIR /home/slipway
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/slipway", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/slipway"]
CMD ["serve"]
