package egress

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"testing"

	"code.dny.dev/ssrf"
)

func TestCheckAddr(t *testing.T) {
	tests := []struct {
		ip      string
		policy  Policy
		refused bool
	}{
		{"93.184.215.14", Policy{}, false},
		{"2606:4700::1111", Policy{}, false},
		{"127.0.0.1", Policy{}, true},
		{"127.9.9.9", Policy{}, true},
		{"::1", Policy{}, true},
		{"::ffff:127.0.0.1", Policy{}, true},
		{"10.1.2.3", Policy{}, true},
		{"172.16.0.1", Policy{}, true},
		{"192.168.1.1", Policy{}, true},
		{"fd12::1", Policy{}, true},
		{"169.254.1.1", Policy{}, true},
		{"fe80::1", Policy{}, true},
		{"100.64.0.1", Policy{}, true},
		{"224.0.0.1", Policy{}, true},
		{"ff02::1", Policy{}, true},
		{"0.0.0.0", Policy{}, true},
		{"::", Policy{}, true},
		{"255.255.255.255", Policy{}, true},
		{"240.0.0.1", Policy{}, true},
		{"64:ff9b::7f00:1", Policy{}, true},
		{"64:ff9b::5db8:d70e", Policy{}, false},
		{"2002:7f00:1::", Policy{}, true},
		{"169.254.169.254", Policy{}, true},
		{"fd00:ec2::254", Policy{}, true},
		// Allowing private networks opens them, not the metadata service.
		{"127.0.0.1", Policy{AllowPrivate: true}, false},
		{"10.0.0.1", Policy{AllowPrivate: true}, false},
		{"169.254.169.254", Policy{AllowPrivate: true}, true},
		{"fd00:ec2::254", Policy{AllowPrivate: true}, true},
		// A prefix allowlist opens exactly what it names.
		{"127.0.0.1", Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}, false},
		{"127.0.0.2", Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}, true},
		{"169.254.169.254", Policy{Allow: []netip.Prefix{netip.MustParsePrefix("169.254.169.254/32")}}, false},
	}
	for _, tt := range tests {
		err := tt.policy.CheckAddr(netip.MustParseAddr(tt.ip))
		var re *RefusedError
		if tt.refused != (err != nil) || (err != nil && !errors.As(err, &re)) {
			t.Errorf("CheckAddr(%s) with %+v = %v, want refused=%v", tt.ip, tt.policy, err, tt.refused)
		}
	}
}

func TestParseIP(t *testing.T) {
	tests := []struct{ in, want string }{
		{"127.0.0.1", "127.0.0.1"},
		{"2130706433", "127.0.0.1"},
		{"0x7f000001", "127.0.0.1"},
		{"0177.0.0.1", "127.0.0.1"},
		{"0x7f.1", "127.0.0.1"},
		{"127.1", "127.0.0.1"},
		{"127.0.1", "127.0.0.1"},
		{"0251.0376.0251.0376", "169.254.169.254"},
		{"[::1]", "::1"},
		{"::ffff:127.0.0.1", "::ffff:127.0.0.1"},
		{"1.2.3.4.", "1.2.3.4"},
		{"git.example.com", ""},
		{"1.2.3.4.5", ""},
		{"256.1.1.1", ""},
		{"1.2.3.256", ""},
		{"1.65536", "1.1.0.0"},
		{"0x100000000", ""},
		{"08.1.1.1", ""},
		{"fe80::1%eth0", ""},
		{"", ""},
		{"1..2", ""},
	}
	for _, tt := range tests {
		ip, ok := ParseIP(tt.in)
		got := ""
		if ok {
			got = ip.String()
		}
		if got != tt.want {
			t.Errorf("ParseIP(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestResolve(t *testing.T) {
	ctx := context.Background()
	for _, host := range []string{"localhost", "127.0.0.1", "2130706433", "[::1]", "169.254.169.254"} {
		if _, err := (Policy{}).Resolve(ctx, nil, host); err == nil {
			t.Errorf("Resolve(%q) allowed, want refused", host)
		}
	}
	ip, err := Policy{AllowPrivate: true}.Resolve(ctx, nil, "2130706433")
	if err != nil || ip != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("Resolve with private allowed = %v, %v", ip, err)
	}
	if _, err := (Policy{AllowPrivate: true, Hosts: []string{"git.example.com"}}).Resolve(ctx, nil, "localhost"); err == nil {
		t.Error("host outside the allowlist resolved")
	}
}

// TestHTTPClientRefusesRedirectInward: an allowed server redirecting to a
// forbidden address gets the redirect refused at connect time.
func TestHTTPClientRefusesRedirectInward(t *testing.T) {
	var reached []string
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached = append(reached, r.URL.Path) })
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.2: %v", err)
	}
	internal := &httptest.Server{Listener: ln, Config: &http.Server{Handler: inner}}
	internal.Start()
	defer internal.Close()
	outer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, internal.URL+"/latest/meta-data", http.StatusFound)
	}))
	defer outer.Close()

	c := Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}.HTTPClient(0)
	_, err = c.Get(outer.URL)
	var re *RefusedError
	if !errors.As(err, &re) || re.Addr != netip.MustParseAddr("127.0.0.2") {
		t.Fatalf("err = %v, want a refusal of 127.0.0.2", err)
	}

	for _, u := range []string{outer.URL, "http://localhost:" + strings.Split(outer.URL, ":")[2]} {
		if _, err := (Policy{}).HTTPClient(0).Get(u); !errors.As(err, &re) {
			t.Errorf("GET %s: err = %v, want a refusal", u, err)
		}
	}
	if len(reached) != 0 {
		t.Errorf("the internal server was reached: %v", reached)
	}
	resp, err := Policy{AllowPrivate: true}.HTTPClient(0).Get(internal.URL + "/allowed")
	if err != nil {
		t.Fatalf("with private networks allowed: %v", err)
	}
	resp.Body.Close()
}

func seeds(f *testing.F) {
	fh, err := os.Open("testdata/hosts.txt")
	if err != nil {
		f.Fatal(err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		f.Add(sc.Text())
	}
}

// FuzzParseIP: the legacy parser agrees with netip on every canonical
// address and never yields an address for what netip and the legacy grammar
// both refuse.
func FuzzParseIP(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, s string) {
		ip, ok := ParseIP(s)
		if std, err := netip.ParseAddr(s); err == nil && std.Zone() == "" {
			if !ok || ip != std {
				t.Fatalf("ParseIP(%q) = %v, %v; netip says %v", s, ip, ok, std)
			}
		}
		if ok && !ip.IsValid() {
			t.Fatalf("ParseIP(%q) returned an invalid address", s)
		}
	})
}

// FuzzResolveLiteral: an IP literal in any spelling is refused exactly when
// its address is.
func FuzzResolveLiteral(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, s string) {
		ip, ok := ParseIP(s)
		if !ok {
			return
		}
		_, err := Policy{}.Resolve(context.Background(), nil, s)
		if (err == nil) != (classify(ip) == "") {
			t.Fatalf("Resolve(%q) = %v, classify(%v) = %q", s, err, ip, classify(ip))
		}
	})
}

// TestIANASpecialPurpose: the first and last address of every entry of the
// IANA special-purpose registries (as code.dny.dev/ssrf tables them) is
// refused, and so are the ranges the first pass missed.
func TestIANASpecialPurpose(t *testing.T) {
	var prefixes []netip.Prefix
	prefixes = append(prefixes, ssrf.IPv4DeniedPrefixes...)
	prefixes = append(prefixes, ssrf.IPv6DeniedPrefixes...)
	for _, s := range []string{"64:ff9b:1::/48", "2001::/23", "fec0::/10", "192.88.99.0/24", "::/96", "2001:2::/48", "2001:20::/28", "3fff::/20"} {
		prefixes = append(prefixes, netip.MustParsePrefix(s))
	}
	for _, p := range prefixes {
		for _, ip := range []netip.Addr{p.Masked().Addr(), lastAddr(p)} {
			if err := (Policy{}).CheckAddr(ip); err == nil {
				t.Errorf("%s (in %s) is not refused", ip, p)
			}
		}
	}
	for _, s := range []string{"93.184.215.14", "2606:4700::1111", "2a00:1450:4001:80b::200e", "1.1.1.1"} {
		if err := (Policy{}).CheckAddr(netip.MustParseAddr(s)); err != nil {
			t.Errorf("public %s refused: %v", s, err)
		}
	}
}

// lastAddr is the highest address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
