package job

import (
	"fmt"
	"time"
)

// Attempt is one run of a job by a worker, as shown to users.
type Attempt struct {
	Attempt    int        `json:"attempt"`
	Owner      string     `json:"worker"`
	StartedAt  *time.Time `json:"started_at"`
	FinishedAt time.Time  `json:"finished_at"`
	Outcome    string     `json:"outcome"` // succeeded, failed, canceled, or released (handed back at shutdown)
	Error      *Error     `json:"error,omitempty"`
}

// Limits on the queue fields of a request.
const (
	MinPriority = -1000
	MaxPriority = 1000
)

// MaxTimeoutSeconds bounds timeout_seconds even when the server sets no
// maximum, so the deadline arithmetic of a worker cannot overflow.
const MaxTimeoutSeconds = 30 * 24 * 3600

func (s *Spec) validateQueue(v *ValidationError, p Policy) {
	if s.Priority < MinPriority || s.Priority > MaxPriority {
		v.add("priority", fmt.Sprintf("must be between %d and %d", MinPriority, MaxPriority))
	}
	switch {
	case s.TimeoutSeconds < 0:
		v.add("timeout_seconds", "must be positive")
	case s.TimeoutSeconds == 0:
		s.TimeoutSeconds = int(p.DefaultTimeout / time.Second)
	// Compared in seconds: multiplying first overflows for values near
	// 2^63/10^9 and lets them through.
	case p.MaxTimeout > 0 && int64(s.TimeoutSeconds) > int64(p.MaxTimeout/time.Second):
		v.add("timeout_seconds", fmt.Sprintf("must be at most %d (the server's maximum)", int(p.MaxTimeout/time.Second)))
	case s.TimeoutSeconds > MaxTimeoutSeconds:
		v.add("timeout_seconds", fmt.Sprintf("must be at most %d (30 days)", MaxTimeoutSeconds))
	}
}
