package job

// LocalImageDomain is the registry part of the job-unique names images are
// built under on the shared daemon. ".invalid" never resolves (RFC 2606), so
// such a name cannot be pushed, and requests may not name it.
const LocalImageDomain = "slipway.invalid"

// LocalImage is the name the job's image has on the Docker daemon while it
// is built and pushed, and afterwards for push: false jobs. No other job can
// name it, so no job can change what another job's FROM resolves to.
func (j *Job) LocalImage() string {
	return LocalImageDomain + "/jobs/" + j.ID + ":image"
}
