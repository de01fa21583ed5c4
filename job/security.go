package job

import (
	"regexp"
	"sort"
	"strings"
)

// secretNameRE matches build argument names that suggest a secret. Build
// args are recorded in the image history, so a secret passed as one leaks.
var secretNameRE = regexp.MustCompile(`(?i)(TOKEN|SECRET|PASSWORD|PASSWD|PASS|PWD|KEY|CREDENTIAL|AUTH|PRIVATE|CERT)`)

// secretArgWarnings lists a warning for each build argument whose name looks
// like a secret, in name order.
func secretArgWarnings(args map[string]string) []string {
	var names []string
	for k := range args {
		if secretNameRE.MatchString(k) {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	out := make([]string, 0, len(names))
	for _, k := range names {
		out = append(out, "build.args."+k+" looks like a secret: build arguments are stored in the image history; use a secret mount or fetch it at run time")
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// HostListed reports whether host matches an entry of list: an exact name
// (with port, if it has one), or ".example.com" for any name below
// example.com. Comparison ignores case and a trailing dot. It is the one
// host rule: the registry allowlist here, and internal/egress for connections.
func HostListed(list []string, host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "" {
		return false
	}
	for _, h := range list {
		h = strings.TrimSuffix(strings.ToLower(h), ".")
		if h == host || (len(h) > 1 && h[0] == '.' && strings.HasSuffix(host, h)) {
			return true
		}
	}
	return false
}
