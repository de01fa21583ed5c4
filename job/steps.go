package job

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

// TimelineStep is one build step on the job page's timeline.
type TimelineStep struct {
	N        int       `json:"n"`
	Of       int       `json:"of"`
	Name     string    `json:"name"`
	Started  time.Time `json:"started_at"`
	Seconds  float64   `json:"duration_seconds"`
	Cached   bool      `json:"cached"`
	Finished bool      `json:"finished"` // false for the step still running
}

// TimedLine is a log line with the time it was written.
type TimedLine struct {
	Text string
	At   time.Time
}

// The classic builder announces each step as "Step 3/7 : RUN make" and says
// " ---> Using cache" when it takes the step from its cache.
var stepMarker = regexp.MustCompile(`^Step (\d{1,5})/(\d{1,5}) : (.*)$`)

const usingCache = "---> Using cache"

// StepMarkerPatterns are SQL LIKE patterns that select every line
// StepsFromLog reads, so a store need not send the whole log.
var StepMarkerPatterns = []string{"Step %", "%" + usingCache + "%"}

// maxStepName bounds a step's name: a Dockerfile line can be long.
const maxStepName = 200

// StepsFromLog reads the classic builder's step markers in lines (in log
// order) into a timeline: each step lasts from its marker to the next one,
// the last to end (when the job ended, or its last log line if it has not).
// A repeated or out-of-order marker (a retried attempt starts again at step
// 1) starts a new timeline, since only the last attempt's steps matter.
func StepsFromLog(lines []TimedLine, end time.Time, finished bool) []TimelineStep {
	var steps []TimelineStep
	for _, l := range lines {
		text := strings.TrimSpace(l.Text)
		if m := stepMarker.FindStringSubmatch(text); m != nil {
			n, _ := strconv.Atoi(m[1])
			of, _ := strconv.Atoi(m[2])
			if n < 1 || n > of {
				continue
			}
			if len(steps) > 0 && n <= steps[len(steps)-1].N {
				steps = nil
			}
			name := m[3]
			if len(name) > maxStepName {
				name = strings.ToValidUTF8(name[:maxStepName], "") + "…"
			}
			steps = append(steps, TimelineStep{N: n, Of: of, Name: name, Started: l.At})
			continue
		}
		if strings.Contains(text, usingCache) && len(steps) > 0 {
			steps[len(steps)-1].Cached = true
		}
	}
	for i := range steps {
		stop, done := end, finished
		if i+1 < len(steps) {
			stop, done = steps[i+1].Started, true
		}
		steps[i].Seconds = max(stop.Sub(steps[i].Started).Seconds(), 0)
		steps[i].Finished = done
	}
	return steps
}
