package builder

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipwayci/slipway/internal/redact"
	"github.com/slipwayci/slipway/job"
)

// logQueue is a Queue whose only working method is AppendLog.
type logQueue struct {
	Queue
	log *memLog
}

func (q logQueue) AppendLog(ctx context.Context, id string, lines []string) error {
	return q.log.AppendLog(ctx, id, lines)
}

func TestJobLogMasksAndTruncates(t *testing.T) {
	const (
		regPass = "registry-Pa55word"
		token   = "slw_0123456789abcdef"
	)
	cfgPath := filepath.Join(t.TempDir(), "config.json")
	auth := base64.StdEncoding.EncodeToString([]byte("bob:" + regPass))
	if err := os.WriteFile(cfgPath, []byte(`{"auths":{"r.example":{"auth":"`+auth+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	store := &memLog{}
	w := New(Config{DockerConfig: cfgPath, Security: Security{Secrets: redact.New(token), MaxLogBytes: 400}},
		logQueue{log: store}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	sink := w.newJobLog(context.Background(), &job.Job{ID: "j"}, w.log)
	sink.Line("login with " + regPass)
	sink.Line("header: Authorization: Basic " + auth)
	sink.Line("token " + token[:8])
	sink.Line(token[8:] + " done")
	for range 50 {
		sink.Line("chatty build output line")
	}
	sink.Printf("==> failed: push with %s refused", token)
	if got := w.secrets().String("job error " + token); strings.Contains(got, token) {
		t.Errorf("job error kept the token: %q", got)
	}
	sink.Close()

	text := store.text()
	for _, s := range []string{regPass, auth, token, token[:8], token[8:]} {
		if strings.Contains(text, s) {
			t.Errorf("log holds secret %q:\n%s", s, text)
		}
	}
	lines := strings.Split(text, "\n")
	if !strings.Contains(text, "log truncated: it reached 400 bytes") || len(text) > 600 {
		t.Errorf("log not truncated (%d bytes):\n%s", len(text), text)
	}
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "==> failed: push with ") {
		t.Errorf("narration lost after truncation; last line %q", last)
	}
}

func TestLimitContext(t *testing.T) {
	mkTar := func(files int, size int) io.ReadCloser {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for i := range files {
			_ = tw.WriteHeader(&tar.Header{Name: strings.Repeat("f", i+1), Mode: 0o644, Size: int64(size), Typeflag: tar.TypeReg})
			_, _ = tw.Write(make([]byte, size))
		}
		_ = tw.Close()
		return io.NopCloser(&buf)
	}
	tests := []struct {
		name            string
		files, size     int
		maxBytes        int64
		maxFiles        int
		wantErrContains string
	}{
		{"WithinLimits", 3, 100, 1000, 3, ""},
		{"TooManyFiles", 4, 1, 0, 3, "more than 3 files"},
		{"TooLarge", 3, 400, 1000, 0, "larger than 1000 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := limitContext(mkTar(tt.files, tt.size), tt.maxBytes, tt.maxFiles)
			defer r.Close()
			_, err := io.Copy(io.Discard, r)
			ferr := contextFailure(r)
			if tt.wantErrContains == "" {
				if err != nil || ferr != nil {
					t.Fatalf("err = %v, failure = %v", err, ferr)
				}
				return
			}
			var f *job.Failure
			if !errors.As(ferr, &f) || f.Code != job.CodeContextTooLarge || !strings.Contains(f.Message, tt.wantErrContains) || err == nil {
				t.Errorf("stream err %v, failure %v; want %s naming %q", err, ferr, job.CodeContextTooLarge, tt.wantErrContains)
			}
		})
	}
}

func TestCheckRegistry(t *testing.T) {
	s := Security{RegistryHosts: []string{"registry.example.com", "127.0.0.1:5000"}}
	for image, ok := range map[string]bool{
		"registry.example.com/app": true,
		"127.0.0.1:5000/app":       true,
		"evil.example.com/app":     false,
		"app":                      false, // docker.io
	} {
		if err := s.checkRegistry(image); (err == nil) != ok {
			t.Errorf("checkRegistry(%q) = %v, want allowed=%v", image, err, ok)
		}
	}
}

func TestJobLogSanitizes(t *testing.T) {
	const secret = "a-long-secret-value"
	store := &memLog{}
	w := New(Config{Security: Security{Secrets: redact.New(secret)}}, logQueue{log: store}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	sink := w.newJobLog(context.Background(), &job.Job{ID: "j"}, w.log)
	sink.Line("nul:\x00: bad:\xff:")
	long := strings.Repeat("x", maxLineBytes-5) + secret + strings.Repeat("y", 100)
	sink.Line(long)
	sink.Close()
	lines := strings.Split(store.text(), "\n")
	if lines[0] != "nul:\uFFFD: bad:\uFFFD:" {
		t.Errorf("line 0 = %q", lines[0])
	}
	if !strings.HasSuffix(lines[1], "*** …[line truncated]") || strings.Contains(lines[1], "a-lo") {
		t.Errorf("long line ends %q", lines[1][len(lines[1])-40:])
	}
}

// TestJobLogStaysLive: a line the masker holds back in case a secret
// continues on the next one is released once output pauses, so a step that
// prints and then runs quietly for minutes shows its line at once.
func TestJobLogStaysLive(t *testing.T) {
	store := &memLog{}
	w := New(Config{Security: Security{Secrets: redact.New("slw_0123456789abcdef")}},
		logQueue{log: store}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	sink := w.newJobLog(context.Background(), &job.Job{ID: "j"}, w.log)
	defer sink.Close()
	sink.Line("Step 3/7 : RUN sleep 600")
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(store.text(), "Step 3/7") {
		if time.Now().After(deadline) {
			t.Fatalf("the line never reached the log while the build was quiet: %q", store.text())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestJobLogBoundsRows: a log is bounded in rows as well as bytes, and a
// run of empty lines is stored as a few rows, not one per newline.
func TestJobLogBoundsRows(t *testing.T) {
	tests := []struct {
		name      string
		lines     func(sink *logSink)
		maxLines  int
		wantRows  int
		wantLast  string
		wantAnyOf string
	}{
		{name: "EmptyLines", lines: func(s *logSink) {
			s.Line("start")
			for range 100000 {
				s.Line("")
			}
			s.Line("end")
		}, wantRows: 6, wantLast: "==> succeeded", wantAnyOf: "==> 99998 more empty lines"},
		{name: "EmptyLinesAtTheEnd", lines: func(s *logSink) {
			for range 10 {
				s.Line("")
			}
		}, wantRows: 3, wantLast: "==> 8 more empty lines"},
		{name: "RowCap", lines: func(s *logSink) {
			for range 5000 {
				s.Line("x")
			}
		}, maxLines: 100, wantRows: 101, wantLast: "==> succeeded", wantAnyOf: "==> log truncated: it reached 100 lines (SLIPWAY_MAX_LOG_LINES); later output is dropped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := &memLog{}
			w := New(Config{Security: Security{MaxLogBytes: 16 << 20, MaxLogLines: tt.maxLines}}, logQueue{log: store}, nil,
				slog.New(slog.NewTextHandler(io.Discard, nil)))
			sink := w.newJobLog(context.Background(), &job.Job{ID: "j"}, w.log)
			tt.lines(sink)
			if tt.wantLast == "==> succeeded" {
				sink.Printf("==> succeeded")
			}
			sink.Close()
			if len(store.lines) != tt.wantRows {
				t.Errorf("%d rows stored, want %d", len(store.lines), tt.wantRows)
			}
			if len(store.lines) == 0 || store.lines[len(store.lines)-1] != tt.wantLast {
				t.Errorf("log ends %q, want %q", store.lines[max(len(store.lines)-1, 0):], tt.wantLast)
			}
			if tt.wantAnyOf != "" && !strings.Contains(store.text(), tt.wantAnyOf) {
				t.Errorf("log lacks %q:\n%.500s", tt.wantAnyOf, store.text())
			}
		})
	}
}
