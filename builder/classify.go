package builder

import (
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/docker/docker/client"

	"github.com/slipwayci/slipway/job"
)

// Messages that mark a failure as permanent however else it reads: retrying
// a denied push or a missing repository only wastes the queue's time.
var permanentMarks = []string{
	"denied",
	"unauthorized",
	"authentication required",
	"authentication failed",
	"no basic auth credentials",
	"repository not found",
	"not our ref",
	"couldn't find remote ref",
	"does not appear to be a git repository",
	"invalid reference format",
}

// Messages of failures worth retrying: the daemon, the registry or the git
// server was unreachable, overloaded or slow. Matching text is the only way
// for errors that arrive inside the daemon's JSON stream or on git's stderr.
var transientMarks = []string{
	// Registry answers, as the daemon reports them.
	"500 internal server error",
	"502 bad gateway",
	"503 service unavailable",
	"504 gateway timeout",
	"429 too many requests",
	"toomanyrequests",
	// Network trouble, from the daemon, the registry client or git.
	"i/o timeout",
	"tls handshake timeout",
	"connection refused",
	"connection reset",
	"broken pipe",
	"no route to host",
	"network is unreachable",
	"timeout awaiting response headers",
	"net/http: request canceled",
	"unexpected eof",
	// git's own words for network failures.
	"could not resolve host",
	"failed to connect to",
	"connection timed out",
	"operation timed out",
	"early eof",
	"the remote end hung up unexpectedly",
	"rpc failed",
	"the requested url returned error: 5",
	// The Docker daemon's.
	"cannot connect to the docker daemon",
	"error during connect",
}

// Transient reports whether a failed attempt may succeed if retried: the
// Docker daemon was unreachable, the registry answered 5xx or timed out, or
// git met a network error. Everything else (a Dockerfile error, a failing
// RUN, a denied push, a bad reference) is permanent.
func Transient(err error) bool {
	if err == nil {
		return false
	}
	var f *job.Failure
	if errors.As(err, &f) && f.Permanent {
		return false
	}
	if daemonDown(err) {
		return true
	}
	msg := strings.ToLower(err.Error())
	for _, m := range permanentMarks {
		if strings.Contains(msg, m) {
			return false
		}
	}
	var nerr net.Error
	if errors.As(err, &nerr) && nerr.Timeout() {
		return true
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	for _, m := range transientMarks {
		if strings.Contains(msg, m) {
			return true
		}
	}
	return false
}

// daemonDown reports whether err says the Docker daemon could not be reached.
func daemonDown(err error) bool {
	return client.IsErrConnectionFailed(err) ||
		strings.Contains(strings.ToLower(err.Error()), "cannot connect to the docker daemon")
}
