package builder

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/docker/docker/pkg/jsonmessage"

	"github.com/slipwayci/slipway/job"
)

// Metrics receives the workers' measurements. internal/app plugs in the
// Prometheus adapter; the builder never imports a metrics library.
type Metrics interface {
	// JobStarted is called when a claimed job starts; attempt counts from 1.
	JobStarted(attempt int)
	// JobFinished is called with the job's end state, how long it waited in
	// the queue before its first attempt and how long this attempt took.
	JobFinished(result string, queueWait, duration time.Duration)
	// PushedBytes counts layer bytes uploaded to a registry.
	PushedBytes(n int64)
}

type nopMetrics struct{}

func (nopMetrics) JobStarted(int)                                   {}
func (nopMetrics) JobFinished(string, time.Duration, time.Duration) {}
func (nopMetrics) PushedBytes(int64)                                {}

func (w *Worker) metrics() Metrics {
	if w.cfg.Metrics == nil {
		return nopMetrics{}
	}
	return w.cfg.Metrics
}

// pushMeter reads a copy of the daemon's push stream and adds up the sizes
// of the layers it uploaded; layers the registry already had cost nothing.
type pushMeter struct {
	buf    []byte
	totals map[string]int64 // layer id → size announced while pushing
	pushed int64
}

func (m *pushMeter) Write(p []byte) (int, error) {
	m.buf = append(m.buf, p...)
	for {
		i := bytes.IndexByte(m.buf, '\n')
		if i < 0 {
			break
		}
		m.line(m.buf[:i])
		m.buf = m.buf[i+1:]
	}
	return len(p), nil
}

func (m *pushMeter) line(b []byte) {
	var msg jsonmessage.JSONMessage
	if json.Unmarshal(b, &msg) != nil || msg.ID == "" {
		return
	}
	switch {
	case msg.Status == "Pushing" && msg.Progress != nil && msg.Progress.Total > 0:
		if m.totals == nil {
			m.totals = map[string]int64{}
		}
		m.totals[msg.ID] = msg.Progress.Total
	case msg.Status == "Pushed":
		m.pushed += m.totals[msg.ID]
		delete(m.totals, msg.ID)
	}
}

// Bytes returns the bytes of the layers pushed so far.
func (m *pushMeter) Bytes() int64 { return m.pushed }

// queueWait is how long j waited before its first attempt started, by the
// database's clock (both times come from it).
func queueWait(j *job.Job) time.Duration {
	if j.StartedAt == nil {
		return 0
	}
	return j.StartedAt.Sub(j.CreatedAt)
}
