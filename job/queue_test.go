package job

import (
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
	}{
		{"defaults", 0, 0, 1800, ""},
		{"explicit", 10, 600, 600, ""},
		{"at the maximum", MaxPriority, 3600, 3600, ""},
		{"priority too high", MaxPriority + 1, 0, 1800, "priority"},
		{"priority too low", MinPriority - 1, 0, 1800, "priority"},
		{"timeout above the maximum", 0, 3601, 3601, "timeout_seconds"},
		{"negative timeout", 0, -1, -1, "timeout_seconds"},
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
			err := s.Normalize(p)
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
