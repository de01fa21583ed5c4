package app

import (
	"strings"
	"sync"
	"testing"
	"time"
)

type lockedBuilder struct {
	mu     sync.Mutex
	b      strings.Builder
	writes int
}

func (l *lockedBuilder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes++
	return l.b.Write(p)
}

func (l *lockedBuilder) state() (string, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String(), l.writes
}

// TestLogWriter: many lines reach the output in few writes, each line within
// the flush bound, and Close writes what is left.
func TestLogWriter(t *testing.T) {
	var out lockedBuilder
	w := newLogWriter(&out)
	const lines = 1000
	for range lines {
		_, _ = w.Write([]byte("a log line\n"))
	}
	deadline := time.Now().Add(10 * logFlushEvery)
	for {
		text, _ := out.state()
		if strings.Count(text, "\n") == lines {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d lines written after %s", strings.Count(text, "\n"), lines, 10*logFlushEvery)
		}
		time.Sleep(logFlushEvery / 5)
	}
	if _, writes := out.state(); writes > 5 {
		t.Errorf("%d writes for %d lines, want a few", writes, lines)
	}
	_, _ = w.Write([]byte("last\n"))
	w.Close()
	if text, _ := out.state(); !strings.HasSuffix(text, "last\n") {
		t.Errorf("Close left the last line in the buffer")
	}
}
