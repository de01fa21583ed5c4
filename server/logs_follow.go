package server

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/slipwayci/slipway/job"
)

type logQuery struct {
	since  int
	follow bool
}

// parseLogQuery reads ?since=, ?follow= and the Last-Event-ID header of a
// reconnecting EventSource, which wins over since.
func parseLogQuery(q url.Values, lastEventID string) (logQuery, error) {
	var o logQuery
	for k, vs := range q {
		if len(vs) != 1 {
			return o, badRequest(k + " may be given once.")
		}
		switch k {
		case "since":
			n, err := strconv.Atoi(vs[0])
			if err != nil || n < 0 {
				return o, badRequest("since must be a non-negative line number.")
			}
			o.since = n
		case "follow":
			b, err := strconv.ParseBool(vs[0])
			if err != nil {
				return o, badRequest("follow must be true or false.")
			}
			o.follow = b
		default:
			return o, badRequest("Unknown query parameter " + strconv.Quote(k) + ".")
		}
	}
	if lastEventID != "" {
		n, err := strconv.Atoi(lastEventID)
		if err != nil || n < 0 {
			return o, badRequest("Last-Event-ID must be a non-negative line number.")
		}
		o.since = n
	}
	return o, nil
}

const (
	logBatch      = 1000
	keepaliveIdle = 15 * time.Second
)

// followLog streams a job's log as Server-Sent Events: one event per line
// with the line number as its id, then an "end" event with the final state.
// It polls the log table, so it follows builds run by any process.
func (s *Server) followLog(c echo.Context, id string, since int) error {
	ctx := c.Request().Context()
	if _, err := s.jobs.Job(ctx, id); err != nil {
		return err
	}
	res := c.Response()
	h := res.Header()
	h.Set(echo.HeaderContentType, "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // proxies such as nginx must not hold events back
	res.WriteHeader(http.StatusOK)
	// A stream outlives the server's read and write timeouts: it reads no
	// body, and each write gets its own deadline.
	rc := http.NewResponseController(res)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Now().Add(streamWriteWindow))
	w := &deadlineWriter{Writer: bufio.NewWriter(res), rc: rc}
	fmt.Fprint(w, "retry: 2000\n\n")

	tick := time.NewTicker(s.cfg.LogPollInterval)
	defer tick.Stop()
	last, idle := since, time.Duration(0)
	var final job.State
	for {
		lines, err := s.jobs.LogLines(ctx, id, last, logBatch)
		if err != nil {
			return s.streamFailed(c, id, err)
		}
		for _, l := range lines {
			writeEvent(w, strconv.Itoa(l.N), "", l.Text)
			last = l.N
		}
		if len(lines) > 0 {
			idle = 0
		}
		if len(lines) == logBatch {
			continue
		}
		if final != "" {
			// The state was final before this last read, so no line can follow.
			end, _ := json.Marshal(map[string]any{"state": final, "lines": last})
			writeEvent(w, "", "end", string(end))
			return flushEvents(w, res)
		}
		if err := flushEvents(w, res); err != nil {
			return nil // the client went away
		}
		j, err := s.jobs.Job(ctx, id)
		if err != nil {
			return s.streamFailed(c, id, err)
		}
		if j.State.Terminal() {
			final = j.State
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if idle += s.cfg.LogPollInterval; idle >= keepaliveIdle {
			fmt.Fprint(w, ": keepalive\n\n")
			idle = 0
		}
	}
}

// writeEvent writes one SSE event; a line holding CR or LF becomes several
// data fields, which the client joins back with LF.
func writeEvent(w *deadlineWriter, id, event, data string) {
	if event != "" {
		w.WriteString("event: " + event + "\n")
	}
	if id != "" {
		w.WriteString("id: " + id + "\n")
	}
	data = strings.ReplaceAll(strings.ReplaceAll(data, "\r\n", "\n"), "\r", "\n")
	for _, part := range strings.Split(data, "\n") {
		w.WriteString("data: " + part + "\n")
	}
	w.WriteString("\n")
}

// callerSlots counts the live log streams of each caller, so one token
// cannot take every slot of MaxLogFollowers.
type callerSlots struct {
	max int // 0: no cap
	mu  sync.Mutex
	n   map[string]int
}

// take reserves a slot for key and returns its release, or false when key
// holds max already.
func (s *callerSlots) take(key string) (func(), bool) {
	if s.max <= 0 {
		return func() {}, true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n[key] >= s.max {
		return nil, false
	}
	s.n[key]++
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.n[key]--; s.n[key] <= 0 {
			delete(s.n, key)
		}
	}, true
}

// followerKey is who a stream counts against: its credential, or its
// address without one.
func followerKey(r *http.Request) string {
	if k := credentialKey(r); k != "" {
		return k
	}
	return sourceKey(r)
}

// streamWriteWindow is how long one flush of a stream may take; events or
// keepalives come at least every keepaliveIdle.
const streamWriteWindow = 30 * time.Second

// deadlineWriter buffers a stream's events and gives each flush a fresh
// write deadline.
type deadlineWriter struct {
	*bufio.Writer
	rc *http.ResponseController
}

func (w *deadlineWriter) Flush() error {
	// Unsupported by test recorders; a real connection always supports it.
	_ = w.rc.SetWriteDeadline(time.Now().Add(streamWriteWindow))
	return w.Writer.Flush()
}

func flushEvents(w *deadlineWriter, res *echo.Response) error {
	if err := w.Flush(); err != nil {
		return err
	}
	res.Flush()
	return nil
}

// streamFailed ends a stream whose headers are sent: the status can no
// longer change, so the client sees an error event and the operator a log.
func (s *Server) streamFailed(c echo.Context, id string, err error) error {
	ctx := c.Request().Context()
	if ctx.Err() != nil {
		return nil
	}
	s.log.ErrorContext(ctx, "follow log", "job_id", id, "err", err)
	fmt.Fprint(c.Response(), "event: error\ndata: {\"detail\":\"Internal error.\"}\n\n")
	c.Response().Flush()
	return nil
}
