package job

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Domain errors. Adapters translate their own errors into these, and the HTTP
// layer maps them to statuses in one table.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")

	// ErrFinished is returned for an action that needs an unfinished job.
	ErrFinished = fmt.Errorf("%w: the job has already finished", ErrConflict)
	// ErrAlreadyRetried is returned when a finished job has been retried before.
	ErrAlreadyRetried = fmt.Errorf("%w: the job has already been retried", ErrConflict)
	// ErrIdempotencyMismatch is a delivery id reused for a different request.
	ErrIdempotencyMismatch = errors.New("idempotency key reused with a different request")
	// ErrUnavailable is a store that cannot be reached or cannot take work
	// now (down, restarting, out of connections): worth retrying later.
	ErrUnavailable = errors.New("store unavailable")
)

// Queue outcomes a worker acts on.
var (
	// ErrQueueEmpty: no queued job can be claimed now.
	ErrQueueEmpty = errors.New("no job to claim")
	// ErrLeaseLost: the job is no longer running under the worker that asks;
	// its lease expired and another process took it back.
	ErrLeaseLost = errors.New("lease lost")
)

// FieldError says what is wrong with one field of a request.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError lists every problem found in a request, so a caller can fix
// them all at once.
type ValidationError struct {
	Fields []FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return "invalid request: " + strings.Join(parts, "; ")
}

func (e *ValidationError) add(field, msg string) {
	e.Fields = append(e.Fields, FieldError{Field: field, Message: msg})
}

// err returns e when it holds any problem, sorted by field for stable output.
func (e *ValidationError) err() error {
	if len(e.Fields) == 0 {
		return nil
	}
	sort.SliceStable(e.Fields, func(i, j int) bool { return e.Fields[i].Field < e.Fields[j].Field })
	return e
}

// Failure is a build failure with a code users can act on. Permanent failures
// are not retried.
type Failure struct {
	Code      string
	Message   string
	Permanent bool
	Err       error
}

func (f *Failure) Error() string {
	if f.Err != nil {
		return f.Message + ": " + f.Err.Error()
	}
	return f.Message
}

func (f *Failure) Unwrap() error { return f.Err }
