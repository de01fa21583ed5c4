package callback

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	d := &Deliverer{cfg: Config{MinBackoff: time.Second, MaxBackoff: 10 * time.Second}}
	tests := []struct {
		attempt int
		base    time.Duration
	}{
		{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {4, 8 * time.Second}, {5, 10 * time.Second}, {40, 10 * time.Second},
	}
	for _, tc := range tests {
		for range 50 {
			got := d.backoff(tc.attempt)
			if got < tc.base/2 || got > tc.base {
				t.Fatalf("backoff(%d) = %s, want within [%s, %s]", tc.attempt, got, tc.base/2, tc.base)
			}
		}
	}
}
