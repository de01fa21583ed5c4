FROM --platform=$BUILDPLATFORM busybox AS build
ARG TARGETPLATFORM
RUN echo "$TARGETPLATFORM" > /platform
