package builder

import (
	"slices"
	"strings"
	"unicode/utf8"
)

// The classic builder turns every label passed with the build request into
// a LABEL step of its own, each a container create and commit. Written into
// the Dockerfile as one LABEL instruction they cost one step, and the image
// ends up with the same labels: build-time labels also go last, on the final
// stage, unexpanded.

// maxLabelLine keeps each written LABEL line well under the 64 KiB line limit
// of the Dockerfile parser's scanner; a larger label set takes several lines.
const maxLabelLine = 32 * 1024

// labelInstructions returns LABEL instructions, one per line, that set
// labels. ok is false when a label cannot be written into a Dockerfile (a
// line break in it, or bytes that are not UTF-8); the caller then passes the
// labels with the build request instead.
func labelInstructions(labels map[string]string) (lines string, ok bool) {
	keys := make([]string, 0, len(labels))
	for k, v := range labels {
		if !dockerfileText(k) || !dockerfileText(v) || k == "" || strings.Contains(k, "=") {
			return "", false
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b, line strings.Builder
	for _, k := range keys {
		kv := labelWord(k) + "=" + labelWord(labels[k])
		if line.Len() > 0 && line.Len()+1+len(kv) > maxLabelLine {
			b.WriteString(line.String() + "\n")
			line.Reset()
		}
		if line.Len() == 0 {
			line.WriteString("LABEL")
		}
		line.WriteString(" " + kv)
	}
	if line.Len() > 0 {
		b.WriteString(line.String() + "\n")
	}
	return b.String(), true
}

// labelWord quotes s as one word of a Dockerfile instruction that reads back
// as exactly s. Inside single quotes nothing is special, neither the escape
// character (\ or `, whichever the Dockerfile's escape directive chose) nor
// $, so nothing is expanded and no value can end the word early; a single
// quote itself is written as "'", where it is not special either.
func labelWord(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'"
}

// dockerfileText reports whether s can stand inside one Dockerfile line: the
// parser splits lines at \n (dropping a \r before it) and decodes UTF-8,
// replacing invalid bytes.
func dockerfileText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsAny(s, "\n\r\x00")
}

// continuesLine reports whether the Dockerfile's last instruction ends with a
// line continuation, which would swallow an appended line. Both possible
// escape characters count, so the answer errs towards "yes".
func continuesLine(dockerfile []byte) bool {
	lines := strings.Split(string(dockerfile), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l == "" || strings.HasPrefix(l, "#") {
			// Blank lines and comments inside a continuation are skipped.
			continue
		}
		return strings.HasSuffix(l, `\`) || strings.HasSuffix(l, "`")
	}
	return false
}
