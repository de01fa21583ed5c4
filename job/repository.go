package job

import (
	"net/url"
	"regexp"
	"strings"
)

// scpLikeRE is git's scp-like syntax, [user@]host:path: git takes it when
// the URL has no "://" and a ':' comes before any '/'.
var scpLikeRE = regexp.MustCompile(`^(?:([A-Za-z0-9._-]+)@)?([A-Za-z0-9][A-Za-z0-9._-]*):([^/].*|/.+)$`)

// NormalizeRepository rewrites a scp-like repository ("git@host:org/app.git")
// as the ssh URL git reads it as ("ssh://git@host/org/app.git"), so that
// both spellings of one repository are one repository. Anything else is
// returned as it is.
//
// A relative scp-like path is made absolute: git hosting services (GitHub,
// GitLab, Bitbucket, Gitea) serve "host:org/app.git" and
// "ssh://host/org/app.git" alike. A plain sshd resolves the relative form
// from the account's home; write that as "ssh://host/~/path".
func NormalizeRepository(raw string) string {
	if strings.Contains(raw, "://") || strings.Contains(raw, "::") { // "::": a remote helper (ext::…)
		return raw
	}
	m := scpLikeRE.FindStringSubmatch(raw)
	if m == nil {
		return raw
	}
	switch strings.ToLower(m[2]) {
	case "http", "https", "ssh", "git", "file":
		return raw // a URL missing its slashes, not a host
	}
	path := m[3]
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	user := ""
	if m[1] != "" {
		user = m[1] + "@"
	}
	return "ssh://" + user + m[2] + path
}

// userRE is an account name safe to pass to ssh and git: it cannot start
// with '-' (ssh would read an option) and has no characters a shell or URL
// treats specially.
var userRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$`)

// tokenPrefixes start the access tokens of common git hosts; such a "user
// name" is a secret.
var tokenPrefixes = []string{"ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "glpat-", "gldt-", "glptt-", "ATBB", "ATCTT"}

// repositoryUserProblem says what is wrong with the user part of a
// repository URL, or "" when it is an account name Slipway may store. A
// password never is; over http(s), a long or token-shaped user name is
// taken for a token, since tokens often travel as the user name.
func repositoryUserProblem(u *url.URL) string {
	if u.User == nil {
		return ""
	}
	if _, ok := u.User.Password(); ok {
		return "must not carry a password (user:password@); give Slipway the credential in SLIPWAY_GIT_CREDENTIALS_FILE instead"
	}
	name := u.User.Username()
	switch {
	case !userRE.MatchString(name):
		return "user name must be letters, digits, '.', '_' or '-', not starting with '-'"
	case u.Scheme == "http" || u.Scheme == "https":
		for _, p := range tokenPrefixes {
			if strings.HasPrefix(name, p) {
				return "user name looks like an access token; give Slipway the credential in SLIPWAY_GIT_CREDENTIALS_FILE instead"
			}
		}
		if len(name) >= 32 {
			return "user name is long enough to be an access token; give Slipway the credential in SLIPWAY_GIT_CREDENTIALS_FILE instead"
		}
	case u.Scheme == "git" || u.Scheme == "file":
		return "must not name a user: the " + u.Scheme + " protocol has none"
	}
	return ""
}
