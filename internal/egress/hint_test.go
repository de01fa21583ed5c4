package egress

import (
	"net/netip"
	"strings"
	"testing"
)

// TestRefusalHint: a refusal names a setting that would let that very
// address through, and only such settings.
func TestRefusalHint(t *testing.T) {
	tests := []struct {
		addr string
		fix  Policy // a policy the hint points to; it must allow addr
		bad  Policy // a policy the hint must not recommend
	}{
		{"10.1.2.3", Policy{Allow: []netip.Prefix{netip.MustParsePrefix("10.1.2.3/32")}}, Policy{}},
		{"127.0.0.1", Policy{AllowPrivate: true}, Policy{}},
		{"169.254.169.254", Policy{Allow: []netip.Prefix{netip.MustParsePrefix("169.254.169.254/32")}}, Policy{AllowPrivate: true}},
	}
	for _, tc := range tests {
		ip := netip.MustParseAddr(tc.addr)
		err := Policy{}.CheckAddr(ip)
		if err == nil {
			t.Fatalf("%s allowed by the zero policy", tc.addr)
		}
		msg := err.Error()
		if !strings.Contains(msg, "SLIPWAY_ALLOWED_NETWORKS") || !strings.Contains(msg, tc.addr+"/32") {
			t.Errorf("%s: %q does not name SLIPWAY_ALLOWED_NETWORKS with the address's prefix", tc.addr, msg)
		}
		if tc.fix.CheckAddr(ip) != nil {
			t.Errorf("%s: the hinted policy %+v does not allow it", tc.addr, tc.fix)
		}
		if tc.bad.AllowPrivate && tc.bad.CheckAddr(ip) != nil && strings.Contains(msg, "SLIPWAY_ALLOW_PRIVATE_NETWORKS") && !strings.Contains(msg, "SLIPWAY_ALLOW_PRIVATE_NETWORKS does not") {
			t.Errorf("%s: %q recommends SLIPWAY_ALLOW_PRIVATE_NETWORKS, which does not allow it", tc.addr, msg)
		}
	}
	err := Policy{Hosts: []string{".example.com"}}.CheckHost("git.other.org")
	if err == nil || !strings.Contains(err.Error(), "SLIPWAY_GIT_HOSTS") {
		t.Errorf("host refusal %v does not name SLIPWAY_GIT_HOSTS", err)
	}
}
