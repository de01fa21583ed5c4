package webhooksig

import (
	"errors"
	"testing"
	"time"
)

// GitHub's documented known-answer vector.
func TestHubSignKnownAnswer(t *testing.T) {
	const want = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
	got := HubSign([]byte("It's a Secret to Everybody"), []byte("Hello, World!"))
	if got != want {
		t.Fatalf("HubSign = %s, want %s", got, want)
	}
	if err := HubVerify([][]byte{[]byte("other"), []byte("It's a Secret to Everybody")}, want, []byte("Hello, World!")); err != nil {
		t.Errorf("HubVerify with the right secret second: %v", err)
	}
	if err := HubVerify([][]byte{[]byte("It's a Secret to Everybody")}, want, []byte("Hello, World?")); !errors.Is(err, ErrMismatch) {
		t.Errorf("HubVerify of a tampered body = %v, want ErrMismatch", err)
	}
}

// The Standard Webhooks reference libraries' test vector.
func TestStandardWebhooksKnownAnswer(t *testing.T) {
	key, err := Key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	const (
		id   = "msg_p5jXN8AQM9LWM0D4loKWxJek"
		want = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	)
	ts := time.Unix(1614265330, 0)
	body := []byte(`{"test": 2432232314}`)
	if got := Sign(key, id, ts, body); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	tests := []struct {
		name string
		sigs string
		body string
		now  time.Time
		want error
	}{
		{"valid", want, string(body), ts, nil},
		{"one of several", "v1,Zm9v v2,abc " + want, string(body), ts, nil},
		{"tampered body", want, `{"test": 2432232315}`, ts, ErrMismatch},
		{"stale", want, string(body), ts.Add(Tolerance + time.Second), ErrStale},
		{"future", want, string(body), ts.Add(-Tolerance - time.Second), ErrStale},
		{"at tolerance", want, string(body), ts.Add(Tolerance), nil},
		{"unknown version only", "v2," + want[3:], string(body), ts, ErrMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Verify([][]byte{key}, id, "1614265330", tc.sigs, []byte(tc.body), tc.now)
			if !errors.Is(err, tc.want) {
				t.Errorf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
}
