package app

import (
	"fmt"

	"github.com/slipwayci/slipway/builder"
	"github.com/slipwayci/slipway/internal/egress"
	"github.com/slipwayci/slipway/internal/redact"
)

// securityConfig holds the settings that defend Slipway against hostile
// requests: where builds may connect, how much they may use, how fast
// callers may ask.
type securityConfig struct {
	AllowPrivateNetworks bool
	AllowedNetworks      []string
	GitHosts             []string
	RegistryHosts        []string
	ImageOwners          []string
	TrustedLocalTags     bool
	MaxContextBytes      int
	MaxContextFiles      int
	MaxLogBytes          int
	MaxLogLines          int
	MaxCheckoutBytes     int
	RateLimit            int
	RateBurst            int
}

func (c *securityConfig) register(s *settings) {
	s.Bool(&c.AllowPrivateNetworks, "allow-private-networks", "SLIPWAY_ALLOW_PRIVATE_NETWORKS", false, "let git and callbacks reach loopback, private and link-local addresses (never cloud metadata)")
	s.List(&c.AllowedNetworks, "allowed-networks", "SLIPWAY_ALLOWED_NETWORKS", "", "CIDR prefixes git and callbacks may reach although they are not public (e.g. 10.1.2.0/24)")
	s.List(&c.GitHosts, "git-hosts", "SLIPWAY_GIT_HOSTS", "", "the only git hosts repositories may name (\".example.com\" for a domain); empty: any")
	s.List(&c.RegistryHosts, "registry-hosts", "SLIPWAY_REGISTRY_HOSTS", "", "the only registries images may name (host[:port]); empty: any")
	s.List(&c.ImageOwners, "image-owners", "SLIPWAY_IMAGE_OWNERS", "", "image-name prefixes bound to the projects whose deliveries alone may build under them: prefix=project|project, e.g. registry.example.com/team-a/=app|lib")
	s.Bool(&c.TrustedLocalTags, "trusted-local-tags", "SLIPWAY_TRUSTED_LOCAL_TAGS", false, "keep push: false images on the Docker daemon under their requested names, where any later build's FROM uses them (only for a single-tenant host; otherwise only under slipway.invalid/jobs/<job id>)")
	s.Int(&c.MaxContextBytes, "max-context-bytes", "SLIPWAY_MAX_CONTEXT_BYTES", 1<<30, "largest build context sent to Docker, in bytes (0: no limit)")
	s.Int(&c.MaxContextFiles, "max-context-files", "SLIPWAY_MAX_CONTEXT_FILES", 100000, "most files in a build context (0: no limit)")
	s.Int(&c.MaxCheckoutBytes, "max-checkout-bytes", "SLIPWAY_MAX_CHECKOUT_BYTES", 4<<30, "largest checkout on the worker's disk, .git included, in bytes; a job over it fails with checkout_too_large (0: no limit)")
	s.Int(&c.MaxLogBytes, "max-log-bytes", "SLIPWAY_MAX_LOG_BYTES", 16<<20, "largest stored build log per job, in bytes; truncated with a marker beyond (0: no limit)")
	s.Int(&c.MaxLogLines, "max-log-lines", "SLIPWAY_MAX_LOG_LINES", 200000, "most stored build log lines per job (one row each); truncated with a marker beyond (0: no limit)")
	s.Int(&c.RateLimit, "rate-limit", "SLIPWAY_RATE_LIMIT", 20, "API requests per second per caller (credential, or source address without one; 0: no limit)")
	s.Int(&c.RateBurst, "rate-burst", "SLIPWAY_RATE_BURST", 60, "API requests a caller may make at once above the rate limit")
}

// egressPolicy is where git's http(s) traffic may connect.
func (c *securityConfig) egressPolicy() (egress.Policy, error) {
	allow, err := egress.ParsePrefixes(c.AllowedNetworks)
	if err != nil {
		return egress.Policy{}, fmt.Errorf("SLIPWAY_ALLOWED_NETWORKS: %w", err)
	}
	return egress.Policy{AllowPrivate: c.AllowPrivateNetworks, Allow: allow, Hosts: c.GitHosts}, nil
}

func (c *securityConfig) validate() []error {
	var errs []error
	for _, v := range []struct {
		env string
		n   int
	}{{"SLIPWAY_MAX_CONTEXT_BYTES", c.MaxContextBytes}, {"SLIPWAY_MAX_CONTEXT_FILES", c.MaxContextFiles},
		{"SLIPWAY_MAX_LOG_BYTES", c.MaxLogBytes}, {"SLIPWAY_MAX_LOG_LINES", c.MaxLogLines}, {"SLIPWAY_MAX_CHECKOUT_BYTES", c.MaxCheckoutBytes}, {"SLIPWAY_RATE_LIMIT", c.RateLimit}, {"SLIPWAY_RATE_BURST", c.RateBurst}} {
		if v.n < 0 {
			errs = append(errs, fmt.Errorf("%s must be 0 or more", v.env))
		}
	}
	return errs
}

// builderSecurity is the workers' share of the settings.
func (c *securityConfig) builderSecurity(policy egress.Policy, secrets *redact.Masker) builder.Security {
	return builder.Security{
		Egress:           policy,
		RegistryHosts:    c.RegistryHosts,
		MaxContextBytes:  int64(c.MaxContextBytes),
		MaxContextFiles:  c.MaxContextFiles,
		MaxLogBytes:      int64(c.MaxLogBytes),
		MaxLogLines:      c.MaxLogLines,
		MaxCheckoutBytes: int64(c.MaxCheckoutBytes),
		Secrets:          secrets,
		TrustedLocalTags: c.TrustedLocalTags,
	}
}

// callbackPolicy is where callbacks may connect: the same networks as git,
// any host (the git host allowlist names git servers, not receivers).
func (c *config) callbackPolicy() egress.Policy {
	p := c.egress
	p.Hosts = nil
	return p
}
