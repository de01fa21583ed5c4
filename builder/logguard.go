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
	lineLimit int           // lines (rows) kept; 0: unbounded
	size      int64
	rows      int
	blanks    int // empty lines held back in the current run
	truncated bool
}

// maxBlankRun is how many empty lines in a row are stored as they are; the
// rest of a longer run becomes one line saying how many there were, so
// empty output cannot fill the log table with one row per newline.
const maxBlankRun = 2

// newJobLog returns the sink for j's log, masking the worker's secrets and
// the registry credentials, and truncating at the configured size.
func (w *Worker) newJobLog(ctx context.Context, j *job.Job, log *slog.Logger) *logSink {
	s := newLogSink(ctx, j.ID, w.queue, log)
	m := w.secrets()
	s.guard = logGuard{masker: m, limit: w.cfg.Security.MaxLogBytes, lineLimit: w.cfg.Security.MaxLogLines}
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

// keep queues a masked line within the size limits; the first line over
// them is replaced by a marker and the rest dropped. s.mu is held.
func (s *logSink) keep(line string) {
	g := &s.guard
	if g.truncated {
		return
	}
	if line == "" {
		if g.blanks++; g.blanks > maxBlankRun {
			return
		}
	} else {
		s.endBlankRun()
	}
	s.queueLine(line)
}

// endBlankRun stores how many empty lines were left out of the run that
// just ended. s.mu is held.
func (s *logSink) endBlankRun() {
	g := &s.guard
	if n := g.blanks - maxBlankRun; n > 0 && !g.truncated {
		g.blanks = 0
		s.queueLine(fmt.Sprintf("==> %d more empty lines", n))
	}
	g.blanks = 0
}

func (s *logSink) queueLine(line string) {
	g := &s.guard
	switch {
	case g.limit > 0 && g.size+int64(len(line))+1 > g.limit:
		s.pending = append(s.pending, fmt.Sprintf("==> log truncated: it reached %d bytes (SLIPWAY_MAX_LOG_BYTES); later output is dropped", g.limit))
	case g.lineLimit > 0 && g.rows+1 >= g.lineLimit:
		s.pending = append(s.pending, fmt.Sprintf("==> log truncated: it reached %d lines (SLIPWAY_MAX_LOG_LINES); later output is dropped", g.lineLimit))
	default:
		g.size += int64(len(line)) + 1
		g.rows++
		s.pending = append(s.pending, line)
		return
	}
	g.truncated = true
}

// secrets are the values masked in a job's log and error: the worker's, the
// registry credentials of the Docker config and the build secrets of the
// secrets directory, as they are now.
func (w *Worker) secrets() *redact.Masker {
	return w.cfg.Security.Secrets.With(append(RegistrySecrets(w.cfg.DockerConfig), secretsDirValues(w.cfg.SecretsDir)...)...)
}
