package server

import (
	"context"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/slipwayci/slipway/job"
)

// StatsStore is what the dashboard's charts need of the job store.
type StatsStore interface {
	History(ctx context.Context, q job.HistoryQuery) (*job.History, error)
	ImageStats(ctx context.Context, window time.Duration) (*job.ImageStatsList, error)
	Steps(ctx context.Context, id string) ([]job.TimelineStep, error)
}

// WithStats serves the history, per-image statistics and job steps from store.
func WithStats(store StatsStore) Option {
	return func(s *Server) { s.stats = store }
}

// The windows and steps offered are a short fixed list: every answer then
// has a bounded number of buckets and a cost known in advance.
var (
	statsWindows = map[string]time.Duration{
		"1h": time.Hour, "6h": 6 * time.Hour, "24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour, "30d": 30 * 24 * time.Hour,
	}
	statsSteps = map[string]time.Duration{
		"1m": time.Minute, "5m": 5 * time.Minute, "15m": 15 * time.Minute, "30m": 30 * time.Minute,
		"1h": time.Hour, "3h": 3 * time.Hour, "6h": 6 * time.Hour, "12h": 12 * time.Hour, "1d": 24 * time.Hour,
	}
	// defaultSteps gives each window about a hundred buckets.
	defaultSteps = map[string]string{"1h": "1m", "6h": "5m", "24h": "15m", "7d": "1h", "30d": "6h"}
)

const (
	windowChoices   = "1h, 6h, 24h, 7d or 30d"
	stepChoices     = "1m, 5m, 15m, 30m, 1h, 3h, 6h, 12h or 1d"
	maxHistoryBins  = 720
	defaultWindow   = "24h"
	defaultImgsSpan = "7d"
)

// parseHistoryQuery reads window and step strictly: unknown parameters,
// repeats, values off the lists, a step that does not divide the window and
// more than maxHistoryBins buckets are each a 400 that says what would do.
func parseHistoryQuery(c echo.Context) (job.HistoryQuery, error) {
	raw, err := query(c)
	if err != nil {
		return job.HistoryQuery{}, err
	}
	w, s := defaultWindow, ""
	for k, vs := range raw {
		if len(vs) != 1 {
			return job.HistoryQuery{}, badRequest(k + " may be given once.")
		}
		switch k {
		case "window":
			w = vs[0]
		case "step":
			s = vs[0]
		default:
			return job.HistoryQuery{}, badRequest("Unknown query parameter " + strconv.Quote(k) + ".")
		}
	}
	window, ok := statsWindows[w]
	if !ok {
		return job.HistoryQuery{}, badRequest("window must be " + windowChoices + ".")
	}
	if s == "" {
		s = defaultSteps[w]
	}
	step, ok := statsSteps[s]
	if !ok {
		return job.HistoryQuery{}, badRequest("step must be " + stepChoices + ".")
	}
	if step > window || window%step != 0 {
		return job.HistoryQuery{}, badRequest("step " + s + " must divide window " + w + " into whole buckets.")
	}
	if n := window / step; n > maxHistoryBins {
		return job.HistoryQuery{}, badRequest("window " + w + " in steps of " + s + " makes " + strconv.Itoa(int(n)) +
			" buckets; at most " + strconv.Itoa(maxHistoryBins) + " are served, so take a longer step.")
	}
	return job.HistoryQuery{Window: window, Step: step}, nil
}

func (s *Server) getHistory(c echo.Context) error {
	q, err := parseHistoryQuery(c)
	if err != nil {
		return err
	}
	h, err := s.stats.History(c.Request().Context(), q)
	if err != nil {
		return err
	}
	return writeCached(c, h)
}

func (s *Server) getImageStats(c echo.Context) error {
	raw, err := query(c)
	if err != nil {
		return err
	}
	w := defaultImgsSpan
	for k, vs := range raw {
		if k != "window" {
			return badRequest("Unknown query parameter " + strconv.Quote(k) + ".")
		}
		if len(vs) != 1 {
			return badRequest("window may be given once.")
		}
		w = vs[0]
	}
	window, ok := statsWindows[w]
	if !ok {
		return badRequest("window must be " + windowChoices + ".")
	}
	st, err := s.stats.ImageStats(c.Request().Context(), window)
	if err != nil {
		return err
	}
	return writeCached(c, st)
}
