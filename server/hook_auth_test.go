package server

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
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

// FuzzVerifyHookRequest: whatever the headers, the answer is a pass or a 401,
// and without the secret nothing passes.
func FuzzVerifyHookRequest(f *testing.F) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	f.Add("Bearer x", "sha256=00", "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", "token=x", []byte(`{"test": 2432232314}`))
	f.Add("Basic amVua2luczp4", "", "", "", "v1, v2,", "%%%", []byte(nil))
	f.Fuzz(func(t *testing.T, authz, hub, id, ts, sig, query string, body []byte) {
		h := http.Header{}
		h.Set("Authorization", authz)
		h.Set("X-Hub-Signature-256", hub)
		h.Set("webhook-id", id)
		h.Set("webhook-timestamp", ts)
		h.Set("webhook-signature", sig)
		err := verifyHookRequest([]string{secret}, h, query, body, time.Unix(1614265330, 0))
		if err == nil && !strings.Contains(authz, secret) && !strings.Contains(authz, "Basic") && sig != webhooksig.Sign(mustKey(secret), id, time.Unix(1614265330, 0), body) &&
			!strings.Contains(sig, "g0hM9SsE") && hub != webhooksig.HubSign([]byte(secret), body) {
			t.Fatalf("accepted without the secret: %q %q %q", authz, hub, sig)
		}
		if err != nil && problemFor(err).Status != http.StatusUnauthorized {
			t.Fatalf("status %d", problemFor(err).Status)
		}
	})
}

func mustKey(s string) []byte {
	k, _ := webhooksig.Key(s)
	return k
}

// TestHeaderCredentialCheckedBeforeBody: a request whose credential is a
// header is refused before its body is read: the body here never comes.
func TestHeaderCredentialCheckedBeforeBody(t *testing.T) {
	const secret = "jenkins-secret-0123456789abcdef"
	s := New(Config{AdminToken: testAdminToken, MaxBodyBytes: 1 << 20, MaxHookBodyBytes: 4 << 20,
		Hooks: HookConfig{JenkinsSecrets: []string{secret}, NativeSecrets: []string{secret}}},
		&fakeStore{}, fakeTokens{}, slog.New(slog.DiscardHandler))
	srv := httptest.NewServer(s)
	defer srv.Close()
	for _, tc := range []struct{ name, path, auth string }{
		{"JenkinsWrongBearer", "/api/v1/hooks/jenkins", "Bearer not-the-secret"},
		{"JenkinsNoCredential", "/api/v1/hooks/jenkins", ""},
		{"JenkinsWrongBasic", "/api/v1/hooks/jenkins", "Basic dTpub3BlCg=="},
		{"BambooWrongBearer", "/api/v1/hooks/bamboo", "Bearer not-the-secret"},
		{"JobsWrongBearer", "/api/v1/jobs", "Bearer not-the-secret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			head := "POST " + tc.path + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4000000\r\n"
			if tc.auth != "" {
				head += "Authorization: " + tc.auth + "\r\n"
			}
			if _, err := io.WriteString(conn, head+"\r\n{\"source\":"); err != nil {
				t.Fatal(err)
			}
			_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no answer while the body is pending: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("status %d, want 401", resp.StatusCode)
			}
		})
	}
}
