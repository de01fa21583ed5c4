package db_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/slipwayci/slipway/db"
	"github.com/slipwayci/slipway/job"
)

func TestDeliveryLog(t *testing.T) {
	ctx := context.Background()
	d := MustOpen(t)
	log := db.NewDeliveryLog(d, job.DeliveryRetention{})
	jobID := uuid.NewString()
	now := time.Now()
	for i := range 6 {
		rec := job.DeliveryRecord{ReceivedAt: now.Add(time.Duration(i) * time.Millisecond), Endpoint: "/api/v1/hooks/jenkins", System: job.SystemJenkins,
			DeliveryID: fmt.Sprintf("team/app#%d/%d", 100+i, i), Outcome: job.DeliveryIgnored, Status: 202, Reason: `phase "STARTED" starts no build`,
			Job: "team/app", BuildNumber: fmt.Sprint(i), Commit: "c6d86dc7c9a7cbd1ad7ad3bef0b17e4c1b3fe4a9"}
		if i%2 == 1 {
			rec.System, rec.Endpoint, rec.Outcome, rec.Status, rec.Reason, rec.JobID, rec.Job = job.SystemBamboo, "/api/v1/hooks/bamboo", job.DeliveryCreated, 202, "", jobID, "PAY-API3"
		}
		log.Record(rec)
	}
	log.Flush()

	all, err := log.Deliveries(ctx, job.DeliveryQuery{Limit: 10})
	if err != nil || len(all) != 6 {
		t.Fatalf("all: %d deliveries, %v; want 6", len(all), err)
	}
	if all[0].BuildNumber != "5" || all[5].BuildNumber != "0" || all[0].ID <= all[5].ID {
		t.Errorf("not newest first: %+v … %+v", all[0], all[5])
	}
	if got := all[0]; got.JobID != jobID || got.Outcome != job.DeliveryCreated || got.Endpoint != "/api/v1/hooks/bamboo" || got.Job != "PAY-API3" {
		t.Errorf("newest = %+v", got)
	}
	for _, tc := range []struct {
		name string
		q    job.DeliveryQuery
		want int
	}{
		{"system", job.DeliveryQuery{System: job.SystemJenkins, Limit: 10}, 3},
		{"outcome", job.DeliveryQuery{Outcome: job.DeliveryIgnored, Limit: 10}, 3},
		{"job", job.DeliveryQuery{Job: "PAY-API3", Limit: 10}, 3},
		{"job id", job.DeliveryQuery{JobID: jobID, Limit: 10}, 3},
		{"other job id", job.DeliveryQuery{JobID: uuid.NewString(), Limit: 10}, 0},
		{"page", job.DeliveryQuery{Limit: 2, Before: all[1].ID}, 2},
	} {
		got, err := log.Deliveries(ctx, tc.q)
		if err != nil || len(got) != tc.want {
			t.Errorf("%s: %d deliveries, %v; want %d", tc.name, len(got), err, tc.want)
		}
	}
	page, _ := log.Deliveries(ctx, job.DeliveryQuery{Limit: 2, Before: all[1].ID})
	if len(page) == 2 && (page[0].ID != all[2].ID || page[1].ID != all[3].ID) {
		t.Errorf("page after %d = %d, %d; want %d, %d", all[1].ID, page[0].ID, page[1].ID, all[2].ID, all[3].ID)
	}

	// Retention: an old record is hidden at once and pruned by the next
	// write, and the row cap keeps the newest.
	log.Record(job.DeliveryRecord{ReceivedAt: now.Add(-30 * 24 * time.Hour), Endpoint: "/api/v1/jobs", System: job.SystemAPI, Outcome: job.DeliveryRefused, Status: 401})
	log.Flush()
	kept := db.NewDeliveryLog(d, job.DeliveryRetention{MaxAge: 7 * 24 * time.Hour, MaxRows: 4})
	if got, _ := kept.Deliveries(ctx, job.DeliveryQuery{Outcome: job.DeliveryRefused, Limit: 10}); len(got) != 0 {
		t.Errorf("a delivery past the retention period is listed: %+v", got)
	}
	kept.Record(job.DeliveryRecord{ReceivedAt: time.Now(), Endpoint: "/api/v1/jobs", System: job.SystemAPI, Outcome: job.DeliveryShared, Status: 200})
	kept.Flush()
	rest, err := log.Deliveries(ctx, job.DeliveryQuery{Limit: 10})
	if err != nil || len(rest) != 4 || rest[0].Outcome != job.DeliveryShared || rest[3].ID != all[2].ID {
		t.Errorf("after pruning to 4 rows: %d deliveries (%v), want the newest 4", len(rest), err)
	}
}
