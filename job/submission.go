package job

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"time"
)

// Submission is a validated spec with what decides whether it makes a new job.
type Submission struct {
	Spec Spec
	// Source and DeliveryID identify one delivery of a CI system; empty
	// DeliveryID means every request is new.
	Source      string
	DeliveryID  string
	Fingerprint string // what a replay of the delivery must match
	BuildKey    string // identical in-flight builds share one job; "" turns that off
	CallbackURL string // told the job's outcome when it ends
	Project     string // the project that supplied defaults, recorded on the job
	Supersede   bool   // the new job cancels older queued ones for its ref and image
}

// Submitted is what became of a submission.
type Submitted struct {
	Job *Job
	// Created is false for a replayed delivery or a shared identical build.
	Created bool
	// Superseded counts the older queued jobs the new one canceled.
	Superseded int
}

// Fingerprint digests the parts of a request that decide what is built and
// who hears about it. A replay of one delivery has the same fingerprint.
func Fingerprint(s Spec, callbackURL string) string {
	return digest(struct {
		Spec        Spec   `json:"spec"`
		CallbackURL string `json:"callback_url"`
	}{s, callbackURL})
}

// BuildKey digests what makes two builds the same build: repository, commit,
// context, dockerfile, target, args, image and the BuildKit settings. Labels and triggers differ
// between CI systems watching one repository, so they are left out.
func BuildKey(s Spec) string {
	return digest(struct {
		Repository string            `json:"repository"`
		Commit     string            `json:"commit"`
		Context    string            `json:"context"`
		Dockerfile string            `json:"dockerfile"`
		Target     string            `json:"target"`
		Args       map[string]string `json:"args"`
		NoCache    bool              `json:"no_cache"`
		Image      Image             `json:"image"`
		Push       bool              `json:"push"`
		// Added with BuildKit; omitted when empty so older keys stay the same.
		Engine  string   `json:"engine,omitempty"`
		Secrets []string `json:"secrets,omitempty"`
		SSH     []string `json:"ssh,omitempty"`
		Cache   *Cache   `json:"cache,omitempty"`
	}{s.Source.Repository, s.Source.Commit, s.Build.Context, s.Build.Dockerfile, s.Build.Target, s.Build.Args, s.Build.NoCache, s.Image, s.Push,
		s.Build.Engine, s.Build.Secrets, s.Build.SSH, s.Build.Cache})
}

func digest(v any) string {
	// Maps marshal with sorted keys, so equal values give equal digests.
	b, _ := json.Marshal(v)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Callback delivery states. A callback waits until its job ends.
const (
	CallbackWaiting   = "waiting"
	CallbackPending   = "pending"
	CallbackDelivered = "delivered"
	CallbackExpired   = "expired"
)

// CallbackDelivery is the state of one completion callback of a job.
type CallbackDelivery struct {
	URL         string     `json:"url"`
	State       string     `json:"state"`
	Attempts    int        `json:"attempts"`
	LastStatus  *int       `json:"last_status,omitempty"`
	LastError   string     `json:"last_error,omitempty"`
	DeliveredAt *time.Time `json:"delivered_at,omitempty"`
}

// DueCallback is one completion callback claimed for an attempt now.
type DueCallback struct {
	ID        int64
	JobID     string
	URL       string
	Attempts  int // including the one about to be made
	CreatedAt time.Time
}

// OCI and Slipway label names added to every image.
const (
	LabelSource   = "org.opencontainers.image.source"
	LabelRevision = "org.opencontainers.image.revision"
	LabelCreated  = "org.opencontainers.image.created"
	LabelBuildURL = "io.slipway.ci.build-url"
)

// AddProvenanceLabels records where the image came from, without overriding
// labels the request set itself.
func (s *Spec) AddProvenanceLabels(now time.Time) {
	if s.Build.Labels == nil {
		s.Build.Labels = map[string]string{}
	}
	set := func(k, v string) {
		if _, ok := s.Build.Labels[k]; !ok && v != "" {
			s.Build.Labels[k] = v
		}
	}
	set(LabelSource, withoutUserinfo(s.Source.Repository))
	set(LabelRevision, s.Source.Commit)
	set(LabelCreated, now.UTC().Format(time.RFC3339))
	set(LabelBuildURL, s.Trigger.URL)
}

// withoutUserinfo keeps credentials in a repository URL out of the image.
func withoutUserinfo(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	u.User = nil
	return u.String()
}
