package redact

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"testing"
)

const secret = "s3cr3t-Pa$$w0rd/+?"

func TestMaskerSpellings(t *testing.T) {
	m := New(secret, "tiny")
	b64 := func(enc *base64.Encoding, prefix string) string {
		return enc.EncodeToString([]byte(prefix + secret + "~tail"))
	}
	tests := map[string]string{
		"Plain":          "password=" + secret + " end",
		"QueryEscaped":   "https://r.example/?p=" + url.QueryEscape(secret),
		"PathEscaped":    "https://u:" + url.PathEscape(secret) + "@r.example/",
		"DollarEscaped":  "ARG=" + strings.ReplaceAll(secret, "$", "$$"),
		"Base64Padded":   "auth " + base64.StdEncoding.EncodeToString([]byte(secret)),
		"Base64Raw":      "auth " + base64.RawStdEncoding.EncodeToString([]byte(secret)),
		"Base64Align1":   "Basic " + b64(base64.StdEncoding, "u:"),
		"Base64Align2":   "Basic " + b64(base64.StdEncoding, "us:"),
		"Base64Align0":   "Basic " + b64(base64.StdEncoding, "use:"),
		"Base64URLAlign": "tok " + b64(base64.RawURLEncoding, "x"),
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			out := m.String(in)
			if !strings.Contains(out, Mask) {
				t.Fatalf("nothing masked in %q", in)
			}
			for _, v := range variants(secret) {
				if len(v) >= minVariant && strings.Contains(out, v) {
					t.Errorf("%q still holds %q", out, v)
				}
			}
		})
	}
	if got := m.String("a tiny value stays"); got != "a tiny value stays" {
		t.Errorf("short secret masked: %q", got)
	}
	var nilM *Masker
	if got := nilM.String(secret); got != secret {
		t.Errorf("nil masker changed text: %q", got)
	}
}

func TestLinesSplitSecret(t *testing.T) {
	m := New(secret)
	var out []string
	l := NewLines(m, func(s string) { out = append(out, s) })
	enc := base64.StdEncoding.EncodeToString([]byte("user:" + secret))
	in := []string{"start", "pass " + secret[:5], secret[5:11], secret[11:] + " end", enc[:10], enc[10:], "", "tail"}
	for _, s := range in {
		l.Line(s)
	}
	l.Flush()
	if len(out) != len(in) {
		t.Fatalf("got %d lines, want %d: %q", len(out), len(in), out)
	}
	joined := strings.Join(out, "")
	if strings.Contains(joined, secret) || strings.Contains(joined, secret[:5]) || strings.Contains(joined, secret[11:]) {
		t.Errorf("secret survived across lines: %q", out)
	}
	if out[0] != "start" || out[7] != "tail" || !strings.HasSuffix(out[3], " end") {
		t.Errorf("unrelated text changed: %q", out)
	}
}

func TestHandler(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(NewHandler(slog.NewJSONHandler(&buf, nil), New(secret)))
	log = log.With("url", "https://u:"+url.PathEscape(secret)+"@x/")
	log.Info("push with "+secret, "err", errors.New("auth "+secret+" refused"), slog.Group("g", "p", secret), "n", 3)
	if s := buf.String(); strings.Contains(s, secret) || strings.Contains(s, url.PathEscape(secret)) || !strings.Contains(s, `"n":3`) {
		t.Errorf("log line: %s", s)
	}
}

func fuzzSeeds(f *testing.F) {
	fh, err := os.Open("testdata/secrets.txt")
	if err != nil {
		f.Fatal(err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		f.Add(sc.Text(), "prefix ", " suffix", uint8(3))
	}
}

// FuzzMask: a planted secret never survives masking, whole or split across
// lines, plain or base64.
func FuzzMask(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, sec, pre, post string, cut uint8) {
		if len(sec) < MinLen || strings.Contains(sec, "*") {
			return
		}
		m := New(sec)
		in := pre + sec + post
		if out := m.String(in); strings.Contains(out, sec) {
			t.Fatalf("String(%q) = %q holds the secret", in, out)
		}
		b := base64.StdEncoding.EncodeToString([]byte(in))
		if out := m.String(b); strings.Contains(out, base64.RawStdEncoding.EncodeToString([]byte(sec))) && len(pre)%3 == 0 {
			t.Fatalf("base64 %q kept the encoded secret: %q", b, out)
		}
		var got strings.Builder
		l := NewLines(m, func(s string) { got.WriteString(s) })
		c := len(pre) + int(cut)%len(sec)
		l.Line(in[:c])
		l.Line(in[c:])
		l.Flush()
		if strings.Contains(got.String(), sec) {
			t.Fatalf("split at %d: %q holds the secret", c, got.String())
		}
	})
}

func TestPrefixMasksAcrossTheCut(t *testing.T) {
	m := New(secret)
	s := strings.Repeat("x", 10) + secret + "tail"
	for n := 0; n <= len(s); n++ {
		got := m.Prefix(s, n)
		for k := 2; k <= len(secret); k++ {
			if n > 10 && strings.HasSuffix(got, secret[:k]) {
				t.Fatalf("Prefix(s, %d) = %q ends with the secret's first %d bytes", n, got, k)
			}
		}
	}
}

func TestWith(t *testing.T) {
	m := New("first-secret").With("second-secret", "first-secret")
	if got := m.String("first-secret second-secret"); got != "*** ***" {
		t.Errorf("String = %q", got)
	}
	if got := (*Masker)(nil).With("second-secret").String("second-secret"); got != "***" {
		t.Errorf("nil.With: %q", got)
	}
}
