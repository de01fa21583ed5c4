package builder

import (
	"io"
	"strings"
	"testing"
)

// TestPushMeter counts the layers a push uploaded, not those the registry
// already had, whatever the chunking of the stream.
func TestPushMeter(t *testing.T) {
	stream := `{"status":"The push refers to repository [127.0.0.1:5000/app]"}
{"status":"Preparing","progressDetail":{},"id":"aaa"}
{"status":"Preparing","progressDetail":{},"id":"bbb"}
{"status":"Pushing","progressDetail":{"current":512,"total":2048},"progress":"[==>  ]","id":"aaa"}
{"status":"Layer already exists","progressDetail":{},"id":"bbb"}
{"status":"Pushing","progressDetail":{"current":2048,"total":2048},"progress":"[=====]","id":"aaa"}
{"status":"Pushed","progressDetail":{},"id":"aaa"}
{"status":"Pushing","progressDetail":{"current":10,"total":100},"id":"ccc"}
{"status":"Pushed","progressDetail":{},"id":"ccc"}
{"status":"latest: digest: sha256:abc size: 527"}
`
	for _, chunk := range []int{1, 7, len(stream)} {
		m := &pushMeter{}
		r := strings.NewReader(stream)
		buf := make([]byte, chunk)
		for {
			n, err := r.Read(buf)
			m.Write(buf[:n])
			if err == io.EOF {
				break
			}
		}
		if got := m.Bytes(); got != 2148 {
			t.Errorf("chunks of %d: %d bytes, want 2148", chunk, got)
		}
	}
}
