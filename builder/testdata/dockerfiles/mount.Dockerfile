FROM golang:1.26 AS build
WORKDIR /src
RUN --mount=type=cache,target=/root/go/pkg/mod,sharing=locked \
    --mount=type=secret,id=npm_token,env=NPM_TOKEN \
    go build ./...
