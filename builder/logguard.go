package builder

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/slipwayci/slipway/internal/redact"
	"github.com/slipwayci/slipway/job"
)

// logGuard keeps secrets out of a job's log and its size bounded. Its state
// is guarded by the sink's mutex.
type logGuard struct {
	masker    *redact.Masker
	lines     *redact.Lines // masks secrets split across lines; nil: no secrets
	limit     int64         // bytes kept; 0: unbounded
	size      int64
	truncated bool
}

// newJobLog returns the sink for j's log, masking the worker's secrets and
// the registry credentials, and truncating at the configured size.
func (w *Worker) newJobLog(ctx context.Context, j *job.Job, log *slog.Logger) *logSink {
	s := newLogSink(ctx, j.ID, w.queue, log)
	m := w.secrets()
	s.guard = logGuard{masker: m, limit: w.cfg.Security.MaxLogBytes}
	if !m.Empty() {
		s.guard.lines = redact.NewLines(m, s.keep)
	}
	return s
}

// guarded queues line after masking; Slipway's own narration is kept even
// past the size limit, so the outcome always ends the log. s.mu is held.
func (s *logSink) guarded(line string, narration bool) {
	g := &s.guard
	if len(line) > maxLineBytes {
		line = g.masker.Prefix(line, maxLineBytes) + " …[line truncated]"
	}
	// Postgres text holds neither NUL nor invalid UTF-8; a build printing
	// either must not lose its log.
	line = strings.ToValidUTF8(strings.ReplaceAll(line, "\x00", "\uFFFD"), "\uFFFD")
	switch {
	case narration && g.truncated:
		s.pending = append(s.pending, g.masker.String(line))
	case g.lines != nil:
		g.lines.Line(line)
	default:
		s.keep(line)
	}
}

// releaseHeld passes on lines the masker still holds. s.mu is held.
func (s *logSink) releaseHeld() {
	if s.guard.lines != nil {
		s.guard.lines.Flush()
	}
}

// keep queues a masked line within the size limit; the first line over it
// is replaced by a marker and the rest dropped. s.mu is held.
func (s *logSink) keep(line string) {
	g := &s.guard
	if g.truncated {
		return
	}
	if g.limit > 0 && g.size+int64(len(line))+1 > g.limit {
		g.truncated = true
		s.pending = append(s.pending, fmt.Sprintf("==> log truncated: it reached %d bytes (SLIPWAY_MAX_LOG_BYTES); later output is dropped", g.limit))
		return
	}
	g.size += int64(len(line)) + 1
	s.pending = append(s.pending, line)
}

// secrets are the values masked in a job's log and error: the worker's and
// the registry credentials of the Docker config as it is now.
func (w *Worker) secrets() *redact.Masker {
	return w.cfg.Security.Secrets.With(RegistrySecrets(w.cfg.DockerConfig)...)
}
