package app

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// logFlushEvery bounds how long a log line waits in the buffer.
const logFlushEvery = 50 * time.Millisecond

// logWriter batches the process log into few writes. One write(2) per line
// cost the API about a third of its read throughput with the access log on
// (measured with the bench at 32 clients); a line now waits at most
// logFlushEvery, and Close writes what is left. Written by hand: the standard
// library's bufio has no time bound and slog no batching.
type logWriter struct {
	mu   sync.Mutex
	buf  *bufio.Writer
	stop chan struct{}
	done chan struct{}
}

func newLogWriter(w io.Writer) *logWriter {
	l := &logWriter{buf: bufio.NewWriterSize(w, 64<<10), stop: make(chan struct{}), done: make(chan struct{})}
	go l.flushLoop()
	return l
}

// Write buffers p; slog hands over one whole record per call, so a record is
// never split between two flushes unless it exceeds the buffer.
func (l *logWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logWriter) flushLoop() {
	defer close(l.done)
	t := time.NewTicker(logFlushEvery)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.flush()
		}
	}
}

func (l *logWriter) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	_ = l.buf.Flush()
}

// Close stops the flusher and writes what is buffered.
func (l *logWriter) Close() {
	close(l.stop)
	<-l.done
	l.flush()
}
