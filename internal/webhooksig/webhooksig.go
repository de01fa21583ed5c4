// Package webhooksig signs and checks webhook bodies the Standard Webhooks
// way (https://www.standardwebhooks.com) and GitHub's X-Hub-Signature-256
// way. It is a few lines of crypto/hmac: the reference Go library pulls in
// nothing this needs, and the server must check several secrets at once.
package webhooksig

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Tolerance is how far a webhook-timestamp may be from now, either way.
const Tolerance = 5 * time.Minute

// Key returns the HMAC key of a Standard Webhooks secret: the base64 after
// "whsec_", or the secret's own bytes when it has no such prefix.
func Key(secret string) ([]byte, error) {
	if rest, ok := strings.CutPrefix(secret, "whsec_"); ok {
		k, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return nil, errors.New("secret: whsec_ is not followed by base64")
		}
		return k, nil
	}
	return []byte(secret), nil
}

// Sign returns the webhook-signature value ("v1,<base64>") for a message.
func Sign(key []byte, id string, ts time.Time, body []byte) string {
	return "v1," + base64.StdEncoding.EncodeToString(mac(key, id, strconv.FormatInt(ts.Unix(), 10), body))
}

func mac(key []byte, id, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Errors of Verify.
var (
	ErrStale    = errors.New("webhook-timestamp is not within 5 minutes of now")
	ErrMismatch = errors.New("no signature matches")
)

// Verify checks a Standard Webhooks message against any of keys: signatures
// is the space-separated webhook-signature header, of which one valid "v1"
// entry suffices; other versions are skipped.
func Verify(keys [][]byte, id, ts, signatures string, body []byte, now time.Time) error {
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("webhook-timestamp is not a number of seconds")
	}
	t := time.Unix(sec, 0)
	if t.Before(now.Add(-Tolerance)) || t.After(now.Add(Tolerance)) {
		return ErrStale
	}
	for _, key := range keys {
		want := mac(key, id, ts, body)
		for _, s := range strings.Fields(signatures) {
			version, b64, ok := strings.Cut(s, ",")
			if !ok || version != "v1" {
				continue
			}
			got, err := base64.StdEncoding.DecodeString(b64)
			if err == nil && hmac.Equal(got, want) {
				return nil
			}
		}
	}
	return ErrMismatch
}

// HubSign returns an X-Hub-Signature-256 value: "sha256=<hex HMAC of body>".
func HubSign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// HubVerify checks an X-Hub-Signature-256 value against any of secrets.
func HubVerify(secrets [][]byte, header string, body []byte) error {
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	got, err := hex.DecodeString(hexSig)
	if !ok || err != nil {
		return errors.New("X-Hub-Signature-256 must be sha256=<hex>")
	}
	for _, s := range secrets {
		m := hmac.New(sha256.New, s)
		m.Write(body)
		if hmac.Equal(got, m.Sum(nil)) {
			return nil
		}
	}
	return ErrMismatch
}
