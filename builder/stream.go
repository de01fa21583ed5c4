package builder

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/docker/docker/pkg/jsonmessage"
)

// readStream decodes the daemon's newline-separated JSON progress stream,
// sends complete text lines to onLine, hands every aux payload to onAux, and
// returns the error the daemon reported inside the stream (a failing RUN
// arrives this way, inside an HTTP 200).
func readStream(r io.Reader, onLine func(string), onAux func(json.RawMessage)) error {
	dec := json.NewDecoder(r)
	var partial strings.Builder
	flush := func(text string) {
		partial.WriteString(text)
		s := partial.String()
		for {
			i := strings.IndexByte(s, '\n')
			if i < 0 {
				break
			}
			onLine(strings.TrimRight(s[:i], "\r"))
			s = s[i+1:]
		}
		partial.Reset()
		partial.WriteString(s)
	}
	// finish ends an unterminated last line.
	finish := func() {
		if partial.Len() > 0 {
			flush("\n")
		}
	}
	for {
		var m jsonmessage.JSONMessage
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return fmt.Errorf("read daemon stream: %w", err)
		}
		switch {
		case m.Error != nil:
			finish()
			return errors.New(strings.TrimSpace(m.Error.Message))
		case m.ErrorMessage != "":
			finish()
			return errors.New(strings.TrimSpace(m.ErrorMessage))
		case m.Aux != nil:
			if onAux != nil {
				onAux(*m.Aux)
			}
		case m.Stream != "":
			flush(m.Stream)
		case m.Status != "" && m.Progress == nil:
			// Progress ticks repeat hundreds of times per layer; only the
			// state changes ("Pushed", "digest: …") belong in the log.
			if m.ID != "" {
				flush(m.ID + ": " + m.Status + "\n")
			} else {
				flush(m.Status + "\n")
			}
		}
	}
	finish()
	return nil
}
