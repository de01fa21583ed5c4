package job

import "time"

// DeliveryOutcome is what Slipway did with one webhook delivery.
type DeliveryOutcome string

const (
	DeliveryCreated DeliveryOutcome = "created" // a new job
	DeliveryShared  DeliveryOutcome = "shared"  // an existing job: a replay, or an identical build in flight
	DeliveryIgnored DeliveryOutcome = "ignored" // no build wanted, with the reason
	DeliveryRefused DeliveryOutcome = "refused" // an error answer, with the problem
)

// Valid reports whether o is one of the known outcomes.
func (o DeliveryOutcome) Valid() bool {
	switch o {
	case DeliveryCreated, DeliveryShared, DeliveryIgnored, DeliveryRefused:
		return true
	}
	return false
}

// DeliveryRecord is the record of one webhook delivery: what it was and what came
// of it. It holds a summary of the delivery, never its body or credentials.
type DeliveryRecord struct {
	ID          int64           `json:"id"`
	ReceivedAt  time.Time       `json:"received_at"`
	Endpoint    string          `json:"endpoint"` // the path it was sent to
	System      string          `json:"system"`   // api, jenkins or bamboo
	DeliveryID  string          `json:"delivery_id,omitempty"`
	Outcome     DeliveryOutcome `json:"outcome"`
	Status      int             `json:"status"`           // the HTTP status answered
	Reason      string          `json:"reason,omitempty"` // why it was ignored or refused
	Job         string          `json:"job,omitempty"`    // the CI job or plan that sent it
	BuildNumber string          `json:"build_number,omitempty"`
	Commit      string          `json:"commit,omitempty"`
	JobID       string          `json:"job_id,omitempty"` // the Slipway job it created or shared
}

// DeliveryQuery selects deliveries, newest first. Zero fields do not filter.
type DeliveryQuery struct {
	System  string
	Outcome DeliveryOutcome
	Job     string // the CI job or plan, exactly
	JobID   string
	Limit   int
	Before  int64 // continue below this delivery id
}

// DeliveryRetention bounds the deliveries log; zero fields do not bound it.
type DeliveryRetention struct {
	MaxAge  time.Duration
	MaxRows int
}
