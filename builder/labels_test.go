package builder

import (
	"bufio"
	"maps"
	"os"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// readQuoted reads testdata/name: one Go-quoted string a line, # comments.
func readQuoted(tb testing.TB, name string) []string {
	tb.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		s, err := strconv.Unquote(l)
		if err != nil {
			tb.Fatalf("testdata/%s: %q: %v", name, l, err)
		}
		out = append(out, s)
	}
	return out
}

// hostileLabels pairs every hostile name with a hostile value.
func hostileLabels(tb testing.TB) map[string]string {
	tb.Helper()
	keys, values := readQuoted(tb, "label-keys.txt"), readQuoted(tb, "labels.txt")
	labels := map[string]string{}
	for i, v := range values {
		labels[keys[i%len(keys)]+"."+strconv.Itoa(i)] = v
	}
	for i, k := range keys {
		labels[k] = values[i%len(values)]
	}
	return labels
}

// readLabelLines reads LABEL lines back the way the classic builder does:
// a model of buildkit's frontend/dockerfile/parser (parseWords,
// parseNameVal) and shell.Lex.ProcessWord, for the quoting a label line
// can hold. A $ left for expansion, or anything but one LABEL instruction a
// line, fails the test. escape is the Dockerfile's escape character.
func readLabelLines(t *testing.T, text string, escape rune) map[string]string {
	t.Helper()
	if !strings.HasSuffix(text, "\n") {
		t.Fatalf("%q does not end its last line", text)
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		rest, ok := strings.CutPrefix(line, "LABEL ")
		if !ok || len(line) > maxLabelLine {
			t.Fatalf("line %q is not one LABEL instruction of at most %d bytes", line, maxLabelLine)
		}
		if strings.HasSuffix(strings.TrimRight(line, " \t"), string(escape)) {
			t.Fatalf("line %q continues onto the next", line)
		}
		for _, w := range parseWords(rest, escape) {
			k, v, ok := strings.Cut(w, "=")
			if !ok {
				t.Fatalf("word %q of %q has no =", w, line)
			}
			got[processWord(t, k, escape)] = processWord(t, v, escape)
		}
	}
	return got
}

// parseWords is buildkit's parser.parseWords.
func parseWords(rest string, escape rune) []string {
	const (
		inSpaces = iota
		inWord
		inQuote
	)
	var words []string
	var word strings.Builder
	phase, quote, blankOK := inSpaces, rune(0), false
	var ch rune
	var width int
	for pos := 0; pos <= len(rest); pos += width {
		if pos != len(rest) {
			ch, width = utf8.DecodeRuneInString(rest[pos:])
		}
		if phase == inSpaces {
			if pos == len(rest) {
				break
			}
			if unicode.IsSpace(ch) {
				continue
			}
			phase = inWord
		}
		if pos == len(rest) {
			if blankOK || word.Len() > 0 {
				words = append(words, word.String())
			}
			break
		}
		switch phase {
		case inWord:
			if unicode.IsSpace(ch) {
				phase = inSpaces
				if blankOK || word.Len() > 0 {
					words = append(words, word.String())
				}
				word.Reset()
				blankOK = false
				continue
			}
			if ch == '\'' || ch == '"' {
				quote, blankOK, phase = ch, true, inQuote
			}
			if ch == escape {
				if pos+width == len(rest) {
					continue
				}
				word.WriteRune(ch)
				pos += width
				ch, width = utf8.DecodeRuneInString(rest[pos:])
			}
			word.WriteRune(ch)
		case inQuote:
			if ch == quote {
				phase = inWord
			}
			if ch == escape && quote != '\'' {
				if pos+width == len(rest) {
					phase = inWord
					continue
				}
				pos += width
				word.WriteRune(ch)
				ch, width = utf8.DecodeRuneInString(rest[pos:])
			}
			word.WriteRune(ch)
		}
	}
	return words
}

// processWord is shell.Lex.ProcessWord without variable expansion: a $ it
// would expand fails the test.
func processWord(t *testing.T, w string, escape rune) string {
	t.Helper()
	var out strings.Builder
	r := []rune(w)
	for i := 0; i < len(r); i++ {
		switch c := r[i]; {
		case c == '\'':
			j := i + 1
			for j < len(r) && r[j] != '\'' {
				j++
			}
			if j == len(r) {
				t.Fatalf("unterminated single quote in %q", w)
			}
			out.WriteString(string(r[i+1 : j]))
			i = j
		case c == '"':
			i++
			for ; i < len(r) && r[i] != '"'; i++ {
				switch {
				case r[i] == '$':
					t.Fatalf("%q would expand a variable", w)
				case r[i] == escape && i+1 < len(r) && (r[i+1] == '"' || r[i+1] == '$' || r[i+1] == escape):
					i++
				}
				out.WriteRune(r[i])
			}
			if i == len(r) {
				t.Fatalf("unterminated double quote in %q", w)
			}
		case c == '$':
			t.Fatalf("%q would expand a variable", w)
		case c == escape:
			if i+1 < len(r) {
				i++
				out.WriteRune(r[i])
			}
		default:
			out.WriteRune(c)
		}
	}
	return out.String()
}

func TestLabelInstructionsReadBack(t *testing.T) {
	labels := hostileLabels(t)
	lines, ok := labelInstructions(labels)
	if !ok {
		t.Fatal("hostile but writable labels refused")
	}
	if n := strings.Count(lines, "\n"); n != 1 {
		t.Errorf("%d LABEL lines, want 1:\n%s", n, lines)
	}
	for _, escape := range []rune{'\\', '`'} {
		if got := readLabelLines(t, lines, escape); !maps.Equal(got, labels) {
			t.Errorf("escape %c: read back %q, want %q", escape, got, labels)
		}
	}
}

func TestLabelInstructionsSplitLongSets(t *testing.T) {
	labels := map[string]string{}
	for i := range 128 {
		labels["label."+strconv.Itoa(i)] = strings.Repeat("'", 4096)
	}
	lines, ok := labelInstructions(labels)
	if !ok {
		t.Fatal("refused")
	}
	if n := strings.Count(lines, "\n"); n < 2 {
		t.Errorf("%d lines for %d bytes of labels", n, len(lines))
	}
	if got := readLabelLines(t, lines, '\\'); !maps.Equal(got, labels) {
		t.Error("long label set does not read back")
	}
}

func TestLabelInstructionsRefuseWhatALineCannotHold(t *testing.T) {
	tests := []struct {
		name   string
		labels map[string]string
	}{
		{"NewlineInValue", map[string]string{"a": "x\nRUN touch /pwned"}},
		{"CarriageReturnInValue", map[string]string{"a": "x\r"}},
		{"NULInValue", map[string]string{"a": "x\x00"}},
		{"InvalidUTF8", map[string]string{"a": "\xff"}},
		{"EqualsInName", map[string]string{"a=b": "x"}},
		{"EmptyName", map[string]string{"": "x"}},
		{"NewlineInName", map[string]string{"a\nb": "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if lines, ok := labelInstructions(tt.labels); ok {
				t.Errorf("wrote %q", lines)
			}
		})
	}
}

func TestContinuesLine(t *testing.T) {
	tests := []struct {
		dockerfile string
		want       bool
	}{
		{"FROM x\nRUN a\n", false},
		{"FROM x\nRUN a", false},
		{"FROM x\nRUN a \\\n", true},
		{"FROM x\nRUN a \\  \t\n\n\n", true},
		{"FROM x\nRUN a \\\n# comment\n  \n", true},
		{"# escape=`\nFROM x\nRUN a `\n", true},
		{"FROM x\nRUN a\n# trailing comment \\\n", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := continuesLine([]byte(tt.dockerfile)); got != tt.want {
			t.Errorf("continuesLine(%q) = %v, want %v", tt.dockerfile, got, tt.want)
		}
	}
}

// FuzzLabelInstructions: a label either reads back exactly, under either
// escape character, or is refused; nothing it holds starts an instruction.
func FuzzLabelInstructions(f *testing.F) {
	keys, values := readQuoted(f, "label-keys.txt"), readQuoted(f, "labels.txt")
	for i, v := range values {
		f.Add(keys[i%len(keys)], v)
	}
	f.Fuzz(func(t *testing.T, key, value string) {
		labels := map[string]string{key: value, "org.opencontainers.image.revision": value}
		lines, ok := labelInstructions(labels)
		if !ok {
			if dockerfileText(key) && dockerfileText(value) && key != "" && !strings.Contains(key, "=") {
				t.Fatalf("refused %q=%q", key, value)
			}
			return
		}
		for _, escape := range []rune{'\\', '`'} {
			if got := readLabelLines(t, lines, escape); !maps.Equal(got, labels) {
				t.Fatalf("escape %c: %q read back as %q, want %q", escape, lines, got, labels)
			}
		}
	})
}
