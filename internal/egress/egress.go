// Package egress decides which network addresses Slipway may connect to on
// behalf of a request: git fetches and HTTP callbacks name hosts chosen by
// whoever sent the request, so without a check they could reach the loopback
// interface, the private network or a cloud metadata service (SSRF).
//
// The check runs on the address actually dialled, after DNS resolution, so a
// name that resolves to a forbidden address, a redirect to one, or a DNS
// answer that changes between check and use (rebinding) is caught alike.
package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"

	"code.dny.dev/ssrf"

	"github.com/slipwayci/slipway/job"
)

// Policy says which addresses and hosts outgoing connections may reach. The
// zero Policy allows public unicast addresses of any host.
type Policy struct {
	// AllowPrivate lets connections reach loopback, private, link-local and
	// other non-public addresses. Cloud metadata addresses stay refused
	// unless a prefix in Allow names them.
	AllowPrivate bool
	// Allow lists prefixes reachable even though they are not public.
	Allow []netip.Prefix
	// Hosts, when not empty, is the only set of host names connections may
	// name: "git.example.com" matches that host, ".example.com" any host
	// below example.com.
	Hosts []string
}

// RefusedError says why a connection was refused.
type RefusedError struct {
	Host   string // the name asked for, when known
	Addr   netip.Addr
	Reason string
}

func (e *RefusedError) Error() string {
	switch {
	case !e.Addr.IsValid():
		return fmt.Sprintf("connection to %s refused: %s", e.Host, e.Reason)
	case e.Host != "" && e.Host != e.Addr.String():
		return fmt.Sprintf("connection to %s (%s) refused: %s", e.Host, e.Addr, e.Reason)
	}
	return fmt.Sprintf("connection to %s refused: %s", e.Addr, e.Reason)
}

var (
	metadata = []netip.Addr{
		netip.MustParseAddr("169.254.169.254"), // AWS, GCP, Azure, OpenStack…
		netip.MustParseAddr("169.254.170.2"),   // AWS ECS task metadata
		netip.MustParseAddr("100.100.100.200"), // Alibaba Cloud
		netip.MustParseAddr("fd00:ec2::254"),   // AWS over IPv6
	}
	// special lists non-public ranges netip has no predicate for.
	special = []struct {
		prefix netip.Prefix
		reason string
	}{
		{netip.MustParsePrefix("0.0.0.0/8"), "\"this network\" address"},
		{netip.MustParsePrefix("100.64.0.0/10"), "carrier-grade NAT address"},
		{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignment"},
		{netip.MustParsePrefix("192.0.2.0/24"), "documentation address"},
		{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking address"},
		{netip.MustParsePrefix("198.51.100.0/24"), "documentation address"},
		{netip.MustParsePrefix("203.0.113.0/24"), "documentation address"},
		{netip.MustParsePrefix("240.0.0.0/4"), "reserved address"},
		{netip.MustParsePrefix("2001:db8::/32"), "documentation address"},
		{netip.MustParsePrefix("100::/64"), "discard address"},
	}
	// Prefixes that embed an IPv4 address: what they reach is decided by
	// the embedded address.
	nat64   = netip.MustParsePrefix("64:ff9b::/96")
	sixTo4  = netip.MustParsePrefix("2002::/16")
	errHost = errors.New("host not allowed")
)

// classify returns why ip is not a public unicast address, or "".
func classify(ip netip.Addr) string {
	ip = ip.Unmap()
	for _, m := range metadata {
		if ip == m {
			return "cloud metadata address"
		}
	}
	switch {
	case !ip.IsValid():
		return "invalid address"
	case ip.IsUnspecified():
		return "unspecified address"
	case ip.IsLoopback():
		return "loopback address"
	case ip.IsPrivate():
		return "private address"
	case ip.IsLinkLocalUnicast():
		return "link-local address"
	case ip.IsMulticast(), ip.IsLinkLocalMulticast(), ip.IsInterfaceLocalMulticast():
		return "multicast address"
	case ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "broadcast address"
	}
	for _, s := range special {
		if s.prefix.Contains(ip) {
			return s.reason
		}
	}
	if nat64.Contains(ip) || sixTo4.Contains(ip) {
		return classifyEmbedded(ip)
	}
	return classifyIANA(ip)
}

// classifyIANA checks the IANA special-purpose registries (IPv4 and IPv6),
// from code.dny.dev/ssrf's table generated from them: a maintained list
// rather than one written here. An IPv6 address outside global unicast
// (2000::/3) is never public: that covers site-local fec0::/10, the
// IPv4-compatible ::/96 and the local-use NAT64 prefix 64:ff9b:1::/48.
func classifyIANA(ip netip.Addr) string {
	if ip.Is4() {
		for _, p := range ssrf.IPv4DeniedPrefixes {
			if p.Contains(ip) {
				return "IANA special-purpose address (" + p.String() + ")"
			}
		}
		return ""
	}
	if !ssrf.IPv6GlobalUnicast.Contains(ip) {
		return "IPv6 address outside global unicast (2000::/3)"
	}
	for _, p := range ssrf.IPv6DeniedPrefixes {
		if p.Contains(ip) {
			return "IANA special-purpose address (" + p.String() + ")"
		}
	}
	return ""
}

// classifyEmbedded judges a NAT64 or 6to4 address by the IPv4 address it
// carries.
func classifyEmbedded(ip netip.Addr) string {
	b := ip.As16()
	v4 := netip.AddrFrom4([4]byte(b[2:6]))
	if nat64.Contains(ip) {
		v4 = netip.AddrFrom4([4]byte(b[12:16]))
	}
	if r := classify(v4); r != "" {
		return r + " (embedded in " + ip.String() + ")"
	}
	return ""
}

func isMetadata(ip netip.Addr) bool {
	for _, m := range metadata {
		if ip.Unmap() == m {
			return true
		}
	}
	return false
}

// CheckAddr returns a *RefusedError when ip may not be dialled.
func (p Policy) CheckAddr(ip netip.Addr) error {
	ip = ip.Unmap()
	for _, pr := range p.Allow {
		if pr.Contains(ip) {
			return nil
		}
	}
	reason := classify(ip)
	if reason == "" || (p.AllowPrivate && !isMetadata(ip)) {
		return nil
	}
	// The hint names only settings that would let this address through:
	// SLIPWAY_ALLOW_PRIVATE_NETWORKS never opens cloud metadata.
	hint := " (allow its network with SLIPWAY_ALLOWED_NETWORKS, e.g. " + netip.PrefixFrom(ip, ip.BitLen()).String() + ", or every private network with SLIPWAY_ALLOW_PRIVATE_NETWORKS)"
	if isMetadata(ip) {
		hint = " (only SLIPWAY_ALLOWED_NETWORKS naming " + netip.PrefixFrom(ip, ip.BitLen()).String() + " allows it; SLIPWAY_ALLOW_PRIVATE_NETWORKS does not)"
	}
	return &RefusedError{Addr: ip, Reason: reason + hint}
}

// CheckHost returns a *RefusedError when host is not on the allowlist.
func (p Policy) CheckHost(host string) error {
	if len(p.Hosts) == 0 {
		return nil
	}
	if job.HostListed(p.Hosts, host) {
		return nil
	}
	return &RefusedError{Host: host, Reason: fmt.Sprintf("%v: not in the allowlist SLIPWAY_GIT_HOSTS (%s)", errHost, strings.Join(p.Hosts, ", "))}
}

// Control is a net.Dialer Control function: it refuses a connection whose
// resolved address the policy forbids, right before connect(2).
func (p Policy) Control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &RefusedError{Host: address, Reason: "not an IP address"}
	}
	return p.CheckAddr(ap.Addr())
}

// Dialer returns a dialer that checks every address it connects to.
func (p Policy) Dialer() *net.Dialer {
	return &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: p.Control}
}

// HTTPClient returns a client for requests to hosts chosen by users (such as
// build callbacks): every connection, including those of redirects, is
// checked after resolution; proxies from the environment are ignored, as a
// proxy would connect on the client's behalf unchecked.
func (p Policy) HTTPClient(timeout time.Duration) *http.Client {
	tr := p.Transport()
	tr.ResponseHeaderTimeout = timeout
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("stopped after 5 redirects")
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return fmt.Errorf("redirect to a %s URL refused", req.URL.Scheme)
			}
			return nil
		},
	}
}

// Transport returns a transport whose every connection is checked after
// resolution, for clients that handle redirects their own way.
func (p Policy) Transport() *http.Transport {
	d := p.Dialer()
	return &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			if err := p.CheckHost(host); err != nil {
				return nil, err
			}
			return d.DialContext(ctx, network, addr)
		},
		ForceAttemptHTTP2:   true,
		MaxIdleConns:        16,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
	}
}

// Resolve returns an address of host the policy allows, checking the host
// allowlist first. host may be an IP literal, including the legacy IPv4
// forms (2130706433, 0x7f.1, 0177.0.0.1) that resolvers still honour. It
// refuses when any resolved address is forbidden, so that which one is
// dialled never depends on the order of a DNS answer.
func (p Policy) Resolve(ctx context.Context, r *net.Resolver, host string) (netip.Addr, error) {
	if err := p.CheckHost(host); err != nil {
		return netip.Addr{}, err
	}
	if ip, ok := ParseIP(host); ok {
		if err := p.CheckAddr(ip); err != nil {
			var re *RefusedError
			if errors.As(err, &re) {
				re.Host = host
			}
			return netip.Addr{}, err
		}
		return ip.Unmap(), nil
	}
	if r == nil {
		r = net.DefaultResolver
	}
	ips, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("resolve %s: %w", host, err)
	}
	if len(ips) == 0 {
		return netip.Addr{}, fmt.Errorf("resolve %s: no addresses", host)
	}
	for _, ip := range ips {
		if err := p.CheckAddr(ip); err != nil {
			var re *RefusedError
			if errors.As(err, &re) {
				re.Host = host
			}
			return netip.Addr{}, err
		}
	}
	return ips[0].Unmap(), nil
}

// ParseIP parses an IP literal: IPv6 (bracketed or not, without a zone) or
// IPv4 in any form inet_aton(3) accepts — decimal, octal or hexadecimal
// parts, one to four of them — because curl and other resolvers accept them
// and "http://2130706433/" is 127.0.0.1 to them.
func ParseIP(s string) (netip.Addr, bool) {
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	if strings.Contains(s, ":") {
		ip, err := netip.ParseAddr(s)
		if err != nil || ip.Zone() != "" {
			return netip.Addr{}, false
		}
		return ip, true
	}
	s = strings.TrimSuffix(s, ".")
	parts := strings.Split(s, ".")
	if len(parts) > 4 || s == "" {
		return netip.Addr{}, false
	}
	vals := make([]uint64, len(parts))
	for i, part := range parts {
		v, ok := parseIPv4Part(part)
		if !ok {
			return netip.Addr{}, false
		}
		vals[i] = v
	}
	// The last part fills the remaining bytes; each earlier one is a byte.
	for _, v := range vals[:len(vals)-1] {
		if v > 0xff {
			return netip.Addr{}, false
		}
	}
	last := vals[len(vals)-1]
	if last >= 1<<(8*(5-len(vals))) {
		return netip.Addr{}, false
	}
	n := last
	for i, v := range vals[:len(vals)-1] {
		n |= v << (8 * (3 - i))
	}
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
}

func parseIPv4Part(p string) (uint64, bool) {
	base := uint64(10)
	switch {
	case p == "":
		return 0, false
	case len(p) > 2 && (p[:2] == "0x" || p[:2] == "0X"):
		base, p = 16, p[2:]
	case len(p) > 1 && p[0] == '0':
		base, p = 8, p[1:]
	}
	if len(p) > 32 {
		return 0, false
	}
	var n uint64
	for _, c := range p {
		var d uint64
		switch {
		case c >= '0' && c <= '9':
			d = uint64(c - '0')
		case c >= 'a' && c <= 'f':
			d = uint64(c-'a') + 10
		case c >= 'A' && c <= 'F':
			d = uint64(c-'A') + 10
		default:
			return 0, false
		}
		if d >= base {
			return 0, false
		}
		n = n*base + d
		if n > 0xffffffff {
			return 0, false
		}
	}
	return n, true
}

// ParsePrefixes parses a comma-separated list of CIDR prefixes or single
// addresses, for configuration.
func ParsePrefixes(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR prefix or IP address", s)
		}
		out = append(out, netip.PrefixFrom(ip, ip.BitLen()))
	}
	return out, nil
}
