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
	lines := lineSplitter{onLine: onLine}
	flush := lines.write
	finish := lines.finish
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

// maxPartialLine bounds the output held while a line has no newline yet:
// twice the stored line length, so the log sink can still mask a secret
// that crosses its cut (logguard.go). The rest of such a line is dropped.
const maxPartialLine = 2 * maxLineBytes

// lineSplitter cuts a stream of text chunks into lines, holding at most
// maxPartialLine bytes of an unfinished line, and copying each byte once.
type lineSplitter struct {
	onLine func(string)
	buf    []byte
}

func (l *lineSplitter) write(text string) {
	for text != "" {
		i := strings.IndexByte(text, '\n')
		part := text
		if i >= 0 {
			part = text[:i]
		}
		if room := maxPartialLine - len(l.buf); room > 0 {
			l.buf = append(l.buf, part[:min(len(part), room)]...)
		}
		if i < 0 {
			return
		}
		l.emit()
		text = text[i+1:]
	}
}

func (l *lineSplitter) emit() {
	l.onLine(strings.TrimRight(string(l.buf), "\r"))
	l.buf = l.buf[:0]
}

// finish ends an unterminated last line.
func (l *lineSplitter) finish() {
	if len(l.buf) > 0 {
		l.emit()
	}
}
