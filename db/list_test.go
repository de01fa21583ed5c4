package db

import (
	"context"
	"slices"
	"testing"

	"github.com/slipwayci/slipway/job"
)

// TestListByProject: a job records the project it was built with, and the
// list filters on it.
func TestListByProject(t *testing.T) {
	d := openTestDB(t)
	ctx := context.Background()
	var want []string
	for n, project := range []string{"team/app", "", "team/other", "team/app"} {
		sub := intakeSub(n)
		sub.Project = project
		res, err := d.Submit(ctx, sub)
		if err != nil {
			t.Fatal(err)
		}
		if res.Job.Project != project {
			t.Errorf("submit returned project %q, want %q", res.Job.Project, project)
		}
		if project == "team/app" {
			want = append([]string{res.Job.ID}, want...)
		}
	}
	jobs, err := d.ListJobs(ctx, job.ListQuery{Project: "team/app", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, j := range jobs {
		got = append(got, j.ID)
		if j.Project != "team/app" {
			t.Errorf("listed job %s of project %q", j.ID, j.Project)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("project=team/app lists %v, want %v", got, want)
	}
}
