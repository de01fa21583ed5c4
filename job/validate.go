package job

import (
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/distribution/reference"
)

// Policy holds the configurable parts of validation.
type Policy struct {
	// GitSchemes are the URL schemes a repository may use ("https", "file", …).
	GitSchemes []string
	// DefaultTimeout is a build's timeout when the request names none;
	// MaxTimeout is the most a request may ask for (0: no limit).
	DefaultTimeout, MaxTimeout time.Duration
	// BuildNetworks are the networks a build may ask for besides the default
	// bridge ("host", a named network); none unless the operator allows them,
	// since host networking reaches everything the Slipway host can.
	BuildNetworks []string
	// RegistryHosts, when not empty, are the only registries images may name.
	RegistryHosts []string
	// ImageOwners bind image-name prefixes to the projects whose deliveries
	// alone may build under them.
	ImageOwners []ImageOwner
	// Engine is the builder of jobs that name none (EngineAuto when empty).
	Engine string
	// KnownSecret reports whether the server holds a secret (or ssh key)
	// with the given id; nil: the server holds none.
	KnownSecret func(id string) bool
}

var (
	shaRE     = regexp.MustCompile(`^([0-9a-f]{40}|[0-9a-f]{64})$`)
	tagRE     = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	argNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// pathRE keeps build paths to a plain character set: no escapes, no
	// percent-encoding, no backslashes that could mean something to another layer.
	pathRE   = regexp.MustCompile(`^[A-Za-z0-9._@+/-]+$`)
	targetRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
)

// Limits on the size of a request's parts.
const (
	maxTags     = 32
	maxMapLen   = 128
	maxValueLen = 4096
	maxFieldLen = 2048
	ShortSHALen = 12
)

// Normalize fills defaults into s and validates it. It returns a
// *ValidationError listing every problem.
func (s *Spec) Normalize(p Policy) error {
	v := &ValidationError{}

	s.Source.Commit = strings.ToLower(strings.TrimSpace(s.Source.Commit))
	s.validateSource(v, p)

	if s.Build.Context == "" {
		s.Build.Context = "."
	}
	if ctx, ok := cleanRelPath(s.Build.Context); ok {
		s.Build.Context = ctx
	} else {
		v.add("build.context", "must be a relative path inside the repository (no '..', no absolute path, characters A-Z a-z 0-9 . _ @ + / -)")
	}
	if s.Build.Dockerfile == "" {
		s.Build.Dockerfile = path.Join(s.Build.Context, "Dockerfile")
	} else if df, ok := cleanRelPath(s.Build.Dockerfile); ok && df != "." {
		s.Build.Dockerfile = df
	} else {
		v.add("build.dockerfile", "must be a relative path to a file inside the repository (no '..', no absolute path, characters A-Z a-z 0-9 . _ @ + / -)")
	}
	if s.Build.Target != "" && (!targetRE.MatchString(s.Build.Target) || len(s.Build.Target) > 128) {
		v.add("build.target", "must be a build stage name")
	}
	if n := s.Build.Network; n != "" && !slices.Contains(p.BuildNetworks, n) {
		allowed := "none"
		if len(p.BuildNetworks) > 0 {
			allowed = strings.Join(p.BuildNetworks, ", ")
		}
		v.add("build.network", "network "+quote(n)+" is not allowed (allowed: "+allowed+")")
	}
	s.validateEngine(v, p)
	validateMap(v, "build.args", s.Build.Args, func(k string) bool { return argNameRE.MatchString(k) })
	validateMap(v, "build.labels", s.Build.Labels, func(k string) bool {
		return k != "" && !strings.ContainsFunc(k, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) || r == '=' })
	})

	s.validateImage(v)
	// Checked first: parsing the name again costs as much as the rest of Normalize.
	if len(p.RegistryHosts) > 0 {
		if name, err := reference.ParseNormalizedNamed(s.Image.Name); err == nil && !HostListed(p.RegistryHosts, reference.Domain(name)) {
			v.add("image.name", "registry "+quote(reference.Domain(name))+" is not allowed (allowed: "+strings.Join(p.RegistryHosts, ", ")+")")
		}
	}
	s.validateTrigger(v)
	s.validateQueue(v, p)
	s.Warnings = secretArgWarnings(s.Build.Args)
	return v.err()
}

func (s *Spec) validateSource(v *ValidationError, p Policy) {
	repo := s.Source.Repository
	switch {
	case repo == "":
		v.add("source.repository", "is required")
	case len(repo) > maxFieldLen || !printable(repo):
		v.add("source.repository", "must be a URL of printable characters")
	default:
		repo = NormalizeRepository(repo)
		s.Source.Repository = repo
		u, err := url.Parse(repo)
		switch {
		case err != nil || u.Scheme == "" || strings.HasPrefix(repo, "-"):
			v.add("source.repository", "must be an absolute URL such as https://git.example.com/org/app.git, ssh://git@git.example.com/org/app.git or git@git.example.com:org/app.git")
		case !slices.Contains(p.GitSchemes, strings.ToLower(u.Scheme)):
			v.add("source.repository", "scheme "+quote(u.Scheme)+" is not allowed (allowed: "+strings.Join(p.GitSchemes, ", ")+")")
		case u.Scheme != "file" && (u.Host == "" || strings.HasPrefix(u.Host, "-")):
			v.add("source.repository", "must name a host")
		case u.Scheme == "file" && (u.Path == "" || u.Host != ""):
			v.add("source.repository", "a file URL must be file:///absolute/path")
		case repositoryUserProblem(u) != "":
			// A secret would be stored, shown by the API and logged with every fetch.
			v.add("source.repository", repositoryUserProblem(u))
		}
	}
	switch c := s.Source.Commit; {
	case c == "":
		v.add("source.commit", "is required")
	case !shaRE.MatchString(c):
		v.add("source.commit", "must be a full commit id: 40 (or 64) hexadecimal characters")
	}
	if r := s.Source.Ref; r != "" && !validRef(r) {
		v.add("source.ref", "must be a git ref name such as refs/heads/main")
	}
}

func (s *Spec) validateImage(v *ValidationError) {
	name := strings.TrimSpace(s.Image.Name)
	if name == "" {
		v.add("image.name", "is required")
	} else if len(name) > maxFieldLen {
		v.add("image.name", "is too long")
	} else if ref, err := reference.ParseNormalizedNamed(name); err != nil {
		v.add("image.name", "is not a valid image reference: "+err.Error())
	} else if _, tagged := ref.(reference.Tagged); tagged {
		v.add("image.name", "must not carry a tag: list tags in image.tags")
	} else if _, digested := ref.(reference.Digested); digested {
		v.add("image.name", "must not carry a digest")
	} else if reference.Domain(ref) == LocalImageDomain {
		v.add("image.name", "must not name "+LocalImageDomain+": Slipway keeps job images there")
	} else {
		s.Image.Name = ref.Name()
	}

	if len(s.Image.Tags) == 0 && shaRE.MatchString(s.Source.Commit) {
		s.Image.Tags = []string{ShortCommit(s.Source.Commit)}
	}
	if len(s.Image.Tags) > maxTags {
		v.add("image.tags", "at most 32 tags")
		return
	}
	seen := map[string]bool{}
	for _, t := range s.Image.Tags {
		switch {
		case !tagRE.MatchString(t):
			v.add("image.tags", quote(t)+" is not a valid tag (letters, digits, '_', '.', '-'; at most 128; not starting with '.' or '-')")
		case seen[t]:
			v.add("image.tags", quote(t)+" is listed twice")
		}
		seen[t] = true
	}
}

func (s *Spec) validateTrigger(v *ValidationError) {
	t := &s.Trigger
	if t.System == "" {
		t.System = SystemAPI
	}
	switch t.System {
	case SystemAPI, SystemJenkins, SystemBamboo:
	default:
		v.add("trigger.system", "must be one of api, jenkins, bamboo")
	}
	for field, val := range map[string]string{"trigger.job": t.Job, "trigger.build_number": t.BuildNumber} {
		if len(val) > maxFieldLen || !printable(val) {
			v.add(field, "must be at most 2048 printable characters")
		}
	}
	if t.URL != "" {
		if err := checkHTTPURL(t.URL); err != "" {
			v.add("trigger.url", err)
		}
	}
}

// checkHTTPURL accepts only absolute http(s) URLs: the value ends up as a link
// in the dashboard, where javascript: or data: would run.
func checkHTTPURL(raw string) string {
	if len(raw) > maxFieldLen || !printable(raw) {
		return "must be an http(s) URL of at most 2048 printable characters"
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "must be an absolute http or https URL"
	}
	return ""
}

func validateMap(v *ValidationError, field string, m map[string]string, keyOK func(string) bool) {
	if len(m) > maxMapLen {
		v.add(field, "at most 128 entries")
		return
	}
	for k, val := range m {
		if !keyOK(k) || len(k) > 256 {
			v.add(field, quote(k)+" is not a valid name")
		}
		if len(val) > maxValueLen || !utf8.ValidString(val) || strings.ContainsRune(val, 0) {
			v.add(field+"."+k, "must be at most 4096 bytes of text")
		}
	}
}

// cleanRelPath returns p cleaned if it stays inside its root.
func cleanRelPath(p string) (string, bool) {
	if len(p) > 1024 || !pathRE.MatchString(p) || strings.HasPrefix(p, "/") {
		return "", false
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return "", false
		}
	}
	return path.Clean(p), true
}

// validRef follows git check-ref-format's rules closely enough to keep ref
// names from being read as options or paths.
func validRef(r string) bool {
	if len(r) > 255 || strings.HasPrefix(r, "-") || strings.HasPrefix(r, "/") || strings.HasSuffix(r, "/") ||
		strings.HasSuffix(r, ".") || strings.HasSuffix(r, ".lock") || strings.Contains(r, "..") ||
		strings.Contains(r, "//") || strings.Contains(r, "@{") || r == "@" {
		return false
	}
	for _, c := range r {
		if c < 0x20 || c == 0x7f || strings.ContainsRune(" ~^:?*[\\", c) {
			return false
		}
	}
	for _, part := range strings.Split(r, "/") {
		if strings.HasPrefix(part, ".") {
			return false
		}
	}
	return true
}

func printable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
}

func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return `"` + strings.ToValidUTF8(s, "?") + `"`
}

// ShortCommit returns the abbreviated commit id used as the default tag.
func ShortCommit(sha string) string {
	if len(sha) < ShortSHALen {
		return sha
	}
	return sha[:ShortSHALen]
}

// References returns every name:tag the image is pushed as.
func (s *Spec) References() []string {
	refs := make([]string, len(s.Image.Tags))
	for i, t := range s.Image.Tags {
		refs[i] = s.Image.Name + ":" + t
	}
	return refs
}
