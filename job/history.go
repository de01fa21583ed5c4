package job

import "time"

// HistoryQuery asks for the queue's history over the Window before now, in
// buckets of Step aligned to whole steps since the Unix epoch.
type HistoryQuery struct {
	Window time.Duration
	Step   time.Duration
}

// History is the queue's activity bucket by bucket, oldest first.
type History struct {
	From    time.Time       `json:"from"`
	To      time.Time       `json:"to"`
	Buckets []HistoryBucket `json:"buckets"`
}

// HistoryBucket is what happened in [Start, Start+step). Jobs count where
// their event fell: Queued by creation, Started by first start, the outcomes
// by finish. Waits are of the jobs that started in the bucket; durations of
// the builds that succeeded or failed in it. QueueDepth is the number of jobs
// created and neither started nor ended at the bucket's end (or now, for the
// bucket still open). Percentiles are nil when the bucket has no such job.
type HistoryBucket struct {
	Start        time.Time `json:"start"`
	Queued       int       `json:"queued"`
	Started      int       `json:"started"`
	Succeeded    int       `json:"succeeded"`
	Failed       int       `json:"failed"`
	Canceled     int       `json:"canceled"`
	QueueWaitP50 *float64  `json:"queue_wait_p50_seconds"`
	QueueWaitP95 *float64  `json:"queue_wait_p95_seconds"`
	DurationP50  *float64  `json:"duration_p50_seconds"`
	DurationP95  *float64  `json:"duration_p95_seconds"`
	QueueDepth   int       `json:"queue_depth"`
}

// ImageStats is one image's builds that ended in a window. SuccessRate is
// succeeded over succeeded plus failed (nil when none of either);
// durations are of the builds that succeeded or failed.
type ImageStats struct {
	Image       string       `json:"image"`
	Runs        int          `json:"runs"`
	Succeeded   int          `json:"succeeded"`
	Failed      int          `json:"failed"`
	Canceled    int          `json:"canceled"`
	SuccessRate *float64     `json:"success_rate"`
	DurationP50 *float64     `json:"duration_p50_seconds"`
	DurationP95 *float64     `json:"duration_p95_seconds"`
	LastFailure *LastFailure `json:"last_failure"`
}

// LastFailure is an image's most recent failed build in the window.
type LastFailure struct {
	JobID      string    `json:"job_id"`
	FinishedAt time.Time `json:"finished_at"`
	Code       string    `json:"code"`
}

// ImageStatsList is the images that had builds end in a window, the worst
// first: highest failure rate, then slowest p95.
type ImageStatsList struct {
	From   time.Time    `json:"from"`
	To     time.Time    `json:"to"`
	Images []ImageStats `json:"images"`
}
