package job

import (
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// timed gives each line of a log a time one second after the previous.
func timed(log string, start time.Time) []TimedLine {
	var out []TimedLine
	for i, l := range strings.Split(strings.TrimRight(log, "\n"), "\n") {
		out = append(out, TimedLine{Text: l, At: start.Add(time.Duration(i) * time.Second)})
	}
	return out
}

func TestStepsFromLog(t *testing.T) {
	log, err := os.ReadFile("testdata/classic-build.log")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	lines := timed(string(log), start)
	end := start.Add(20 * time.Second)
	steps := StepsFromLog(lines, end, true)
	type want struct {
		name    string
		seconds float64
		cached  bool
	}
	wants := []want{
		{"ARG BASE", 1, false},
		{"FROM ${BASE}", 2, false},
		{"RUN echo one && sleep 1", 3, true},
		{"RUN echo two && sleep 2", 5, false},
		{"COPY Dockerfile /Dockerfile", 9, false},
	}
	if len(steps) != len(wants) {
		t.Fatalf("%d steps, want %d: %+v", len(steps), len(wants), steps)
	}
	for i, w := range wants {
		s := steps[i]
		if s.N != i+1 || s.Of != 5 || s.Name != w.name || s.Seconds != w.seconds || s.Cached != w.cached || !s.Finished {
			t.Errorf("step %d = %+v, want %+v", i+1, s, w)
		}
	}

	// A running build: the last step is not finished yet.
	running := StepsFromLog(lines[:9], lines[8].At, false)
	if n := len(running); n != 4 || running[3].Finished || !running[2].Finished {
		t.Errorf("running build: %+v", running)
	}
	// A second attempt starts over at step 1: only its steps are shown.
	again := append(append([]TimedLine{}, lines...), timed("Step 1/2 : FROM x\nStep 2/2 : RUN y\n", end)...)
	if got := StepsFromLog(again, end.Add(5*time.Second), true); len(got) != 2 || got[0].Name != "FROM x" {
		t.Errorf("second attempt: %+v", got)
	}
	// Nothing that looks like a step: no timeline.
	if got := StepsFromLog(timed("#1 [internal] load build definition\nStep 9/3 : bogus\n", start), end, true); len(got) != 0 {
		t.Errorf("no markers: %+v", got)
	}
}

func FuzzStepsFromLog(f *testing.F) {
	log, err := os.ReadFile("testdata/classic-build.log")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(log))
	f.Add("Step 1/1 : " + strings.Repeat("é", 300))
	f.Add("Step 3/2 : RUN x\n ---> Using cache\nStep 0/0 : \n")
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f.Fuzz(func(t *testing.T, log string) {
		lines := timed(log, start)
		end := start.Add(time.Duration(len(lines)) * time.Second)
		steps := StepsFromLog(lines, end, true)
		for i, s := range steps {
			if s.N < 1 || s.N > s.Of || s.Seconds < 0 || !utf8.ValidString(s.Name) && utf8.ValidString(log) {
				t.Fatalf("step %d = %+v", i, s)
			}
			if len(s.Name) > maxStepName+len("…") {
				t.Fatalf("step name of %d bytes", len(s.Name))
			}
			if i > 0 && s.N <= steps[i-1].N {
				t.Fatalf("steps out of order: %+v", steps)
			}
		}
	})
}
