# a comment that is not a directive
ARG BASE=busybox
FROM ${BASE} AS build
COPY --chown=1000:1000 --from=0 /a /b
ADD --chown=0:0 app.tar /srv/
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s --retries=3 CMD true
RUN echo hi
