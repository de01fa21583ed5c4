// Package redact masks secrets (registry passwords, API tokens, webhook
// secrets) in text on its way to a log. A secret rarely appears as itself
// only: an Authorization header carries it base64-encoded, a URL carries it
// percent-encoded, a Makefile or compose file doubles its dollar signs, and a
// tool that wraps long lines splits it. Each of those spellings is masked.
package redact

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
)

// Mask replaces every masked run of text.
const Mask = "***"

// MinLen is the shortest secret masked: masking a two-letter value would
// shred every log while protecting nothing.
const MinLen = 6

// minVariant is the shortest spelling of a secret masked; a shorter base64
// fragment matches ordinary text too often.
const minVariant = 4

// Masker knows a set of secrets in every spelling it masks. The zero value
// and nil mask nothing. A Masker is immutable and safe for concurrent use.
type Masker struct {
	variants []string
	maxLen   int
}

// New returns a Masker for secrets; values shorter than MinLen are ignored.
func New(secrets ...string) *Masker {
	seen := map[string]bool{}
	m := &Masker{}
	for _, s := range secrets {
		if len(s) < MinLen {
			continue
		}
		for _, v := range variants(s) {
			if len(v) >= minVariant && !seen[v] {
				seen[v] = true
				m.variants = append(m.variants, v)
				m.maxLen = max(m.maxLen, len(v))
			}
		}
	}
	sortVariants(m.variants)
	return m
}

// With returns a Masker that also masks secrets.
func (m *Masker) With(secrets ...string) *Masker {
	n := New(secrets...)
	if m == nil {
		return n
	}
	out := &Masker{variants: append(slices.Clone(m.variants), n.variants...), maxLen: max(m.maxLen, n.maxLen)}
	sortVariants(out.variants)
	out.variants = slices.Compact(out.variants)
	return out
}

// sortVariants orders longer spellings first (so equal ones are adjacent
// for Compact). Masking marks every match, so the order is for tidiness only.
func sortVariants(v []string) {
	slices.SortFunc(v, func(a, b string) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
}

// Empty reports whether m masks nothing.
func (m *Masker) Empty() bool { return m == nil || len(m.variants) == 0 }

func variants(s string) []string {
	out := []string{s, url.QueryEscape(s), url.PathEscape(s), strings.ReplaceAll(s, "$", "$$")}
	if b, err := json.Marshal(s); err == nil {
		out = append(out, string(b[1:len(b)-1]))
	}
	// base64 of the secret at each of the three byte alignments it can have
	// inside a longer encoded value ("user:secret" in a Basic header, a
	// Docker config "auth"): only the characters that depend on the secret
	// alone are kept, so padding and neighbours do not matter.
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		for k := range 3 {
			full := enc.EncodeToString(append(make([]byte, k), s...))
			first := (8*k + 5) / 6
			last := (8 * (k + len(s))) / 6
			if first < last && last <= len(full) {
				out = append(out, full[first:last])
			}
		}
	}
	return out
}

// String returns s with every secret masked.
func (m *Masker) String(s string) string {
	if m.Empty() {
		return s
	}
	marks := m.marks(s)
	if marks == nil {
		return s
	}
	return apply(s, marks)
}

// Prefix returns the first n bytes of s with every secret masked, including
// one that starts before byte n and ends after it: cutting first and masking
// after would leave the start of such a secret showing.
func (m *Masker) Prefix(s string, n int) string {
	if n >= len(s) {
		return m.String(s)
	}
	if m.Empty() {
		return s[:n]
	}
	marks := m.marks(s[:min(len(s), n+m.maxLen)])
	if marks == nil {
		return s[:n]
	}
	return apply(s[:n], marks[:n])
}

// marks returns, for each byte of s, whether it belongs to a secret; nil
// when none does.
func (m *Masker) marks(s string) []bool {
	var marks []bool
	for _, v := range m.variants {
		for from := 0; ; {
			i := strings.Index(s[from:], v)
			if i < 0 {
				break
			}
			if marks == nil {
				marks = make([]bool, len(s))
			}
			for j := from + i; j < from+i+len(v); j++ {
				marks[j] = true
			}
			from += i + 1
		}
	}
	return marks
}

// apply replaces each run of marked bytes of s with Mask.
func apply(s string, marks []bool) string {
	var b strings.Builder
	in := false
	for i := 0; i < len(s); i++ {
		if marks[i] {
			if !in {
				b.WriteString(Mask)
			}
			in = true
			continue
		}
		in = false
		b.WriteByte(s[i])
	}
	return b.String()
}

// Lines masks a stream of lines, including secrets split across lines (a
// tool wrapping long output). It holds back the last lines until enough
// text follows them that no secret can start in them and end later.
// Lines is not safe for concurrent use.
type Lines struct {
	m       *Masker
	pending []pendingLine
	emit    func(string)
}

// pendingLine is a held-back line and the bytes of it already known to be
// secret: a match found while an earlier line was still in the window stays
// marked after that line is gone.
type pendingLine struct {
	text  string
	marks []bool
}

// maxPending bounds how many lines are held back, so a run of empty lines
// cannot make the window grow without end.
const maxPending = 64

// NewLines returns a Lines that passes masked lines to emit.
func NewLines(m *Masker, emit func(string)) *Lines {
	return &Lines{m: m, emit: emit}
}

// Line adds one line of output.
func (l *Lines) Line(s string) {
	if l.m.Empty() {
		l.emit(s)
		return
	}
	l.pending = append(l.pending, pendingLine{text: s, marks: make([]bool, len(s))})
	for len(l.pending) > 0 {
		after := 0
		for _, p := range l.pending[1:] {
			after += len(p.text)
		}
		if after < l.m.maxLen-1 && len(l.pending) < maxPending {
			return
		}
		l.emitFirst()
	}
}

// Flush emits every line held back.
func (l *Lines) Flush() {
	for len(l.pending) > 0 {
		l.emitFirst()
	}
}

func (l *Lines) emitFirst() {
	var joined strings.Builder
	for _, p := range l.pending {
		joined.WriteString(p.text)
	}
	if marks := l.m.marks(joined.String()); marks != nil {
		off := 0
		for _, p := range l.pending {
			for i := range p.marks {
				p.marks[i] = p.marks[i] || marks[off+i]
			}
			off += len(p.text)
		}
	}
	first := l.pending[0]
	l.pending = l.pending[1:]
	l.emit(apply(first.text, first.marks))
}
