package server

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/slipwayci/slipway/internal/webhooksig"
)

func TestVerifyHookRequest(t *testing.T) {
	const (
		secret  = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		old     = "s3cret-being-rotated-out"
		msgID   = "msg_1"
		payload = `{"source": {}}`
	)
	now := time.Unix(1_800_000_000, 0)
	key, _ := webhooksig.Key(secret)
	oldKey, _ := webhooksig.Key(old)
	std := func(k []byte, ts time.Time, body string) http.Header {
		h := http.Header{}
		h.Set("webhook-id", msgID)
		h.Set("webhook-timestamp", "1800000000")
		if !ts.Equal(now) {
			h.Set("webhook-timestamp", itoa(ts.Unix()))
		}
		h.Set("webhook-signature", webhooksig.Sign(k, msgID, ts, []byte(body)))
		return h
	}
	hdr := func(k, v string) http.Header { h := http.Header{}; h.Set(k, v); return h }
	tests := []struct {
		name  string
		h     http.Header
		query string
		body  string
		ok    bool
	}{
		{"no credential", http.Header{}, "", payload, false},
		{"bearer right", hdr("Authorization", "Bearer "+secret), "", payload, true},
		{"bearer rotated", hdr("Authorization", "Bearer "+old), "", payload, true},
		{"bearer wrong", hdr("Authorization", "Bearer nope"), "", payload, false},
		{"bearer prefix of secret", hdr("Authorization", "Bearer "+secret[:10]), "", payload, false},
		{"basic not base64", hdr("Authorization", "Basic "+secret), "", payload, false},
		{"basic right", basic("jenkins", secret), "", payload, true},
		{"basic wrong", basic("jenkins", "nope"), "", payload, false},
		{"basic secret as user", basic(secret, ""), "", payload, false},
		{"hub right", hdr("X-Hub-Signature-256", webhooksig.HubSign([]byte(secret), []byte(payload))), "", payload, true},
		{"hub rotated", hdr("X-Hub-Signature-256", webhooksig.HubSign([]byte(old), []byte(payload))), "", payload, true},
		{"hub tampered", hdr("X-Hub-Signature-256", webhooksig.HubSign([]byte(secret), []byte(payload))), "", payload + " ", false},
		{"hub wrong", hdr("X-Hub-Signature-256", webhooksig.HubSign([]byte("nope"), []byte(payload))), "", payload, false},
		{"std right", std(key, now, payload), "", payload, true},
		{"std rotated", std(oldKey, now, payload), "", payload, true},
		{"std tampered", std(key, now, payload), "", payload + " ", false},
		{"std stale", std(key, now.Add(-6*time.Minute), payload), "", payload, false},
		{"std future", std(key, now.Add(6*time.Minute), payload), "", payload, false},
		{"std wrong", std([]byte("nope"), now, payload), "", payload, false},
		{"query secret", http.Header{}, "token=" + secret, payload, false},
		{"query secret beside a right bearer", hdr("Authorization", "Bearer "+secret), "secret=" + secret, payload, false},
		{"harmless query", hdr("Authorization", "Bearer "+secret), "debug=1", payload, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := verifyHookRequest([]string{secret, old}, tc.h, tc.query, []byte(tc.body), now)
			if (err == nil) != tc.ok {
				t.Fatalf("verifyHookRequest = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && problemFor(err).Status != http.StatusUnauthorized {
				t.Errorf("status = %d, want 401", problemFor(err).Status)
			}
		})
	}
}

func basic(user, password string) http.Header {
	r, _ := http.NewRequest(http.MethodPost, "/", nil)
	r.SetBasicAuth(user, password)
	return r.Header
}

func itoa(n int64) string {
	return strconv.FormatInt(n, 10)
}
