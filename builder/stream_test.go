package builder

import (
	"bytes"
	"encoding/json"
	"runtime"
	"slices"
	"strings"
	"testing"
)

func TestReadStream(t *testing.T) {
	tests := []struct {
		name    string
		stream  string
		lines   []string
		aux     []string
		wantErr string
	}{
		{
			name: "BuildLinesSplitAcrossChunks",
			stream: `{"stream":"Step 1/2 : FROM scratch\n"}{"stream":"\n"}{"stream":" ---\u003e abc"}{"stream":"\nStep 2/2 : COPY a /\n"}` +
				`{"aux":{"ID":"sha256:123"}}{"stream":"Successfully built 123\n"}`,
			lines: []string{"Step 1/2 : FROM scratch", "", " ---> abc", "Step 2/2 : COPY a /", "Successfully built 123"},
			aux:   []string{`{"ID":"sha256:123"}`},
		},
		{
			name:    "ErrorInsideStream",
			stream:  `{"stream":"Step 2/2 : RUN false\n"}{"errorDetail":{"code":1,"message":"The command '/bin/sh -c false' returned a non-zero code: 1"},"error":"x"}`,
			lines:   []string{"Step 2/2 : RUN false"},
			wantErr: "returned a non-zero code: 1",
		},
		{
			name: "PushSkipsProgress",
			stream: `{"status":"The push refers to repository [r/app]"}{"status":"Preparing","progressDetail":{},"id":"a1"}` +
				`{"status":"Pushing","progressDetail":{"current":5,"total":10},"progress":"[==>  ]","id":"a1"}` +
				`{"status":"Pushed","progressDetail":{},"id":"a1"}{"status":"latest: digest: sha256:d size: 1"}` +
				`{"progressDetail":{},"aux":{"Tag":"latest","Digest":"sha256:d","Size":1}}`,
			lines: []string{"The push refers to repository [r/app]", "latest: digest: sha256:d size: 1"},
			aux:   []string{`{"Tag":"latest","Digest":"sha256:d","Size":1}`},
		},
		{
			name:    "Garbage",
			stream:  `{"stream":"ok\n"}not json`,
			lines:   []string{"ok"},
			wantErr: "read daemon stream",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var lines, aux []string
			err := readStream(strings.NewReader(tt.stream), func(l string) { lines = append(lines, l) },
				func(m json.RawMessage) { aux = append(aux, string(m)) })
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if tt.lines != nil && !slices.Equal(lines, tt.lines) {
				t.Errorf("lines = %q, want %q", lines, tt.lines)
			}
			if !slices.Equal(aux, tt.aux) {
				t.Errorf("aux = %q, want %q", aux, tt.aux)
			}
		})
	}
}

// TestReadStreamBoundsUnterminatedLines sends 4 MiB of build output without
// a newline in 4 KiB chunks: it must be held at most maxPartialLine bytes,
// not buffered whole and copied again on every chunk.
func TestReadStreamBoundsUnterminatedLines(t *testing.T) {
	chunk, _ := json.Marshal(map[string]string{"stream": strings.Repeat("x", 4096)})
	var stream bytes.Buffer
	for range 1024 {
		stream.Write(chunk)
	}
	stream.WriteString(`{"stream":"\nnext\n"}`)
	var lines []string
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err := readStream(&stream, func(l string) { lines = append(lines, l) }, nil)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 2 || len(lines[0]) != maxPartialLine || lines[1] != "next" {
		t.Fatalf("got %d lines (first %d bytes), want a first line cut to %d bytes and \"next\"", len(lines), len(lines[0]), maxPartialLine)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Errorf("reading 4 MiB without a newline allocated %d MiB", alloc>>20)
	}
}
