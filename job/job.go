// Package job is Slipway's vocabulary: a build request (Spec), the job that
// carries it through the queue (Job), its states and its errors. It imports no
// other package of the project, so every adapter can share it.
package job

import "time"

// State is where a job is in its life.
type State string

const (
	StateQueued    State = "queued"
	StateRunning   State = "running"
	StateSucceeded State = "succeeded"
	StateFailed    State = "failed"
	StateCanceled  State = "canceled"
)

// Terminal reports whether no further transition can happen.
func (s State) Terminal() bool {
	return s == StateSucceeded || s == StateFailed || s == StateCanceled
}

// Valid reports whether s is one of the known states.
func (s State) Valid() bool {
	switch s {
	case StateQueued, StateRunning, StateSucceeded, StateFailed, StateCanceled:
		return true
	}
	return false
}

// Source names the commit to build.
type Source struct {
	Repository string `json:"repository"`
	Commit     string `json:"commit"`
	Ref        string `json:"ref,omitempty"`
}

// Build holds what is handed to the Docker builder.
type Build struct {
	Context    string            `json:"context"`
	Dockerfile string            `json:"dockerfile"`
	Target     string            `json:"target,omitempty"`
	Args       map[string]string `json:"args,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	NoCache    bool              `json:"no_cache"`
	// Network is the network RUN steps use; "" is the daemon's default
	// bridge. Others must be allowed by the server (Policy.BuildNetworks).
	Network string `json:"network,omitempty"`
	// Engine is the builder: EngineClassic, EngineBuildKit or EngineAuto
	// (BuildKit when the Dockerfile or the request needs it, see engine.go).
	Engine string `json:"engine,omitempty"`
	// Secrets and SSH name files of the server's secrets directory: each
	// secret is mounted by RUN --mount=type=secret,id=<id>, each key is
	// forwarded to RUN --mount=type=ssh,id=<id>. Values never enter the job.
	Secrets []string `json:"secrets,omitempty"`
	SSH     []string `json:"ssh,omitempty"`
	// Cache lists the registry images whose inline build cache the build
	// may reuse (BuildKit only).
	Cache *Cache `json:"cache,omitempty"`
}

// Cache is where BuildKit finds earlier builds' cache.
type Cache struct {
	From []string `json:"from,omitempty"`
}

// Image names the repository the image is tagged and pushed as.
type Image struct {
	Name string   `json:"name"`
	Tags []string `json:"tags"`
}

// Trigger records which CI system asked for the build.
type Trigger struct {
	System      string `json:"system"`
	Job         string `json:"job,omitempty"`
	BuildNumber string `json:"build_number,omitempty"`
	URL         string `json:"url,omitempty"`
}

// Trigger systems Slipway knows.
const (
	SystemAPI     = "api"
	SystemJenkins = "jenkins"
	SystemBamboo  = "bamboo"
)

// Spec is a complete, validated build request.
type Spec struct {
	Source  Source  `json:"source"`
	Build   Build   `json:"build"`
	Image   Image   `json:"image"`
	Push    bool    `json:"push"`
	Trigger Trigger `json:"trigger"`
	// Priority orders the queue: higher runs first.
	Priority int `json:"priority"`
	// TimeoutSeconds bounds one attempt's build; 0 asks for the server default.
	TimeoutSeconds int `json:"timeout_seconds,omitempty"`
	// Warnings are set by Normalize: things that work but probably should not.
	Warnings []string `json:"warnings,omitempty"`
}

// Result is what a succeeded build produced.
type Result struct {
	Digest string   `json:"digest,omitempty"`
	Images []string `json:"images"`
	// Engine is the builder that ran; Steps are BuildKit's steps in the
	// order they started (classic builds list none).
	Engine string `json:"engine,omitempty"`
	Steps  []Step `json:"steps,omitempty"`
}

// Step is one step of a BuildKit build.
type Step struct {
	Name       string `json:"name"`
	Cached     bool   `json:"cached"`
	DurationMS int64  `json:"duration_ms"`
	Error      string `json:"error,omitempty"`
}

// Error is why a job failed, as shown to users.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Job is a build request and everything known about its execution.
type Job struct {
	ID         string     `json:"id"`
	State      State      `json:"state"`
	CreatedAt  time.Time  `json:"created_at"`
	StartedAt  *time.Time `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	Attempt    int        `json:"attempt"`
	Spec
	Result *Result `json:"result"`
	Error  *Error  `json:"error"`

	MaxAttempts     int        `json:"max_attempts"`
	Attempts        []Attempt  `json:"attempts"`
	CancelRequested bool       `json:"cancel_requested,omitempty"`
	RetryOf         *string    `json:"retry_of"`
	RetriedBy       *string    `json:"retried_by"`
	Owner           string     `json:"worker,omitempty"`         // the worker holding the lease while running
	Project         string     `json:"project,omitempty"`        // the project that supplied defaults
	LogsPrunedAt    *time.Time `json:"logs_pruned_at,omitempty"` // when log retention deleted the log
}
