package job

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestNormalizeQueueFields(t *testing.T) {
	p := Policy{GitSchemes: []string{"https"}, DefaultTimeout: 30 * time.Minute, MaxTimeout: time.Hour}
	tests := []struct {
		name        string
		priority    int
		timeout     int
		wantTimeout int
		wantField   string
		noMax       bool // the server sets no maximum
	}{
		{"defaults", 0, 0, 1800, "", false},
		{"explicit", 10, 600, 600, "", false},
		{"at the maximum", MaxPriority, 3600, 3600, "", false},
		{"priority too high", MaxPriority + 1, 0, 1800, "priority", false},
		{"priority too low", MinPriority - 1, 0, 1800, "priority", false},
		{"timeout above the maximum", 0, 3601, 3601, "timeout_seconds", false},
		{"negative timeout", 0, -1, -1, "timeout_seconds", false},
		// 9223372037 s is just above 2^63 ns: multiplied first, it wraps negative.
		{"timeout overflowing nanoseconds", 0, 9223372037, 9223372037, "timeout_seconds", false},
		{"largest int timeout", 0, math.MaxInt, math.MaxInt, "timeout_seconds", false},
		{"overflow without a server maximum", 0, 9223372037, 9223372037, "timeout_seconds", true},
		{"30 days without a server maximum", 0, MaxTimeoutSeconds, MaxTimeoutSeconds, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Spec{
				Source:         Source{Repository: "https://git.example.com/a.git", Commit: strings.Repeat("a", 40)},
				Image:          Image{Name: "registry.example.com/a"},
				Trigger:        Trigger{System: SystemAPI},
				Priority:       tt.priority,
				TimeoutSeconds: tt.timeout,
			}
			pol := p
			if tt.noMax {
				pol.MaxTimeout = 0
			}
			err := s.Normalize(pol)
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("Normalize: %v", err)
				}
				if s.TimeoutSeconds != tt.wantTimeout {
					t.Errorf("timeout = %d, want %d", s.TimeoutSeconds, tt.wantTimeout)
				}
				return
			}
			verr, ok := err.(*ValidationError)
			if !ok || len(verr.Fields) != 1 || verr.Fields[0].Field != tt.wantField {
				t.Errorf("Normalize = %v, want one problem with %s", err, tt.wantField)
			}
		})
	}
}
