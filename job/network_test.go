package job

import (
	"strings"
	"testing"
)

func TestBuildNetworkPolicy(t *testing.T) {
	for _, tc := range []struct {
		network string
		allowed []string
		ok      bool
	}{
		{"", nil, true},
		{"host", nil, false},
		{"host", []string{"host"}, true},
		{"builds", []string{"host"}, false},
		{"builds", []string{"host", "builds"}, true},
	} {
		s := Spec{
			Source: Source{Repository: "https://git.example.com/a.git", Commit: strings.Repeat("a", 40)},
			Build:  Build{Network: tc.network},
			Image:  Image{Name: "example.com/a"},
		}
		err := s.Normalize(Policy{GitSchemes: []string{"https"}, BuildNetworks: tc.allowed})
		if (err == nil) != tc.ok {
			t.Errorf("network %q allowed %v: err %v, want ok=%v", tc.network, tc.allowed, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "build.network") {
			t.Errorf("error %v does not name build.network", err)
		}
	}
}
