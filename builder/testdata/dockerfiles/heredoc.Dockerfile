FROM busybox
RUN <<-EOT
	echo one
	echo two
	EOT
COPY <<EOF /etc/motd
hello
EOF
