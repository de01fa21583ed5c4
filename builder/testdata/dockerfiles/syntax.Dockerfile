# syntax=docker/dockerfile:1
FROM busybox
