package job

import "time"

// ListQuery selects jobs for a listing, newest first. Zero fields do not
// filter.
type ListQuery struct {
	States        []State
	Source        string // trigger system: api, jenkins or bamboo
	Repository    string
	Commit        string // a full commit id or a prefix of at least 7 hex digits
	Image         string // image name without tag
	Project       string
	CreatedAfter  time.Time
	CreatedBefore time.Time
	Limit         int
	// After continues a listing below the last job of the previous page.
	After *Cursor
}

// Cursor is a position in the newest-first order: the created time and id of
// the last job already seen.
type Cursor struct {
	CreatedAt time.Time
	ID        string
}

// Stats is the queue at a glance, as a dashboard header shows it.
type Stats struct {
	States         map[State]int  `json:"states"`
	QueueDepth     int            `json:"queue_depth"`
	OldestQueued   *time.Time     `json:"oldest_queued_at"`
	OldestAgeSecs  float64        `json:"oldest_queued_age_seconds"`
	RunningByOwner map[string]int `json:"running_by_worker"`
}

// LogLine is one numbered line of a job's log; numbers start at 1.
type LogLine struct {
	N    int
	Text string
}
