FROM busybox
COPY --link --chmod=0755 --chown=1:1 app /app
