package builder

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// LogWriter stores a job's log lines.
type LogWriter interface {
	AppendLog(ctx context.Context, id string, lines []string) error
}

// maxLineBytes bounds one stored line; a daemon stream can carry megabytes
// without a newline.
const maxLineBytes = 16 * 1024

// logSink batches a job's log lines and writes them every flushEvery, so a
// chatty build costs a few inserts a second, not one per line.
type logSink struct {
	jobID string
	store LogWriter
	log   *slog.Logger

	mu      sync.Mutex
	pending []string
	guard   logGuard  // masking and size limit, see logguard.go
	last    time.Time // when the last line arrived
	done    chan struct{}
	stopped chan struct{}
}

const flushEvery = 200 * time.Millisecond

func newLogSink(ctx context.Context, jobID string, store LogWriter, log *slog.Logger) *logSink {
	s := &logSink{jobID: jobID, store: store, log: log, done: make(chan struct{}), stopped: make(chan struct{})}
	go s.loop(context.WithoutCancel(ctx))
	return s
}

// Line queues one line of output.
func (s *logSink) Line(line string) {
	s.mu.Lock()
	s.last = time.Now()
	s.guarded(line, false)
	s.mu.Unlock()
}

// Printf queues one line of Slipway's own narration.
func (s *logSink) Printf(format string, args ...any) {
	s.mu.Lock()
	s.last = time.Now()
	s.guarded(fmt.Sprintf(format, args...), true)
	s.mu.Unlock()
}

// Close writes what is still queued and stops the flusher.
func (s *logSink) Close() {
	s.mu.Lock()
	s.releaseHeld()
	s.endBlankRun()
	s.mu.Unlock()
	close(s.done)
	<-s.stopped
}

func (s *logSink) loop(ctx context.Context) {
	defer close(s.stopped)
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.flush(ctx)
		case <-s.done:
			s.flush(ctx)
			return
		}
	}
}

// quietRelease is how long output must pause before the lines the masker
// holds back (in case a secret continues on the next line) are released: a
// tool that wraps a long value prints the pieces together, and a live log
// must not stall behind a step that prints nothing for minutes.
const quietRelease = time.Second

func (s *logSink) flush(ctx context.Context) {
	s.mu.Lock()
	if time.Since(s.last) >= quietRelease {
		s.releaseHeld()
	}
	lines := s.pending
	s.pending = nil
	s.mu.Unlock()
	if len(lines) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.store.AppendLog(ctx, s.jobID, lines); err != nil {
		s.log.ErrorContext(ctx, "store build log", "job_id", s.jobID, "lines", len(lines), "err", err)
	}
}
