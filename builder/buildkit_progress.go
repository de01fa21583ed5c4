package builder

import (
	"bytes"
	"context"
	"strings"
	"sync"

	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/util/progress/progressui"
	digest "github.com/opencontainers/go-digest"

	"github.com/slipwayci/slipway/job"
)

// buildKitProgress renders BuildKit's status stream as `--progress=plain`
// does, line by line into the job's log, and keeps each step's outcome.
type buildKitProgress struct {
	log *logSink

	mu     sync.Mutex
	order  []digest.Digest
	byID   map[digest.Digest]*bkclient.Vertex
	failed string
}

func newProgress(log *logSink) *buildKitProgress {
	return &buildKitProgress{log: log, byID: map[digest.Digest]*bkclient.Vertex{}}
}

// run reads statuses until the solve closes ch.
func (p *buildKitProgress) run(ch chan *bkclient.SolveStatus) {
	lines := &lineWriter{emit: p.log.Line}
	display, err := progressui.NewDisplay(lines, progressui.PlainMode)
	shown := make(chan *bkclient.SolveStatus)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err != nil {
			for range shown {
			}
			return
		}
		// The display must read to the end whatever happens to the solve.
		_, _ = display.UpdateFrom(context.Background(), shown)
	}()
	for s := range ch {
		p.record(s)
		shown <- s
	}
	close(shown)
	<-done
	lines.Flush()
}

func (p *buildKitProgress) record(s *bkclient.SolveStatus) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, v := range s.Vertexes {
		if _, seen := p.byID[v.Digest]; !seen {
			p.order = append(p.order, v.Digest)
		}
		cp := *v
		p.byID[v.Digest] = &cp
		if v.Error != "" && p.failed == "" && !strings.Contains(v.Error, "context canceled") {
			p.failed = v.Name
		}
	}
}

// failedStep names the first step that failed on its own (not canceled
// because another did).
func (p *buildKitProgress) failedStep() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.failed
}

// steps lists the steps that started, in the order BuildKit announced them.
func (p *buildKitProgress) steps() []job.Step {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []job.Step
	for _, d := range p.order {
		v := p.byID[d]
		if v.Started == nil && !v.Cached {
			continue
		}
		s := job.Step{Name: v.Name, Cached: v.Cached, Error: v.Error}
		if v.Started != nil && v.Completed != nil {
			s.DurationMS = v.Completed.Sub(*v.Started).Milliseconds()
		}
		out = append(out, s)
	}
	return out
}

// lineWriter cuts what the display writes into lines.
type lineWriter struct {
	emit    func(string)
	partial []byte
}

func (l *lineWriter) Write(b []byte) (int, error) {
	l.partial = append(l.partial, b...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.emit(strings.TrimRight(string(l.partial[:i]), "\r"))
		l.partial = l.partial[i+1:]
	}
	return len(b), nil
}

// Flush ends an unterminated last line.
func (l *lineWriter) Flush() {
	if len(l.partial) > 0 {
		l.emit(string(l.partial))
		l.partial = nil
	}
}
