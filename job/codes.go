package job

// Failure codes recorded on jobs (Error.Code), every one of them: users and
// scripts match on these, so they never change once released.
const (
	// The build itself.
	CodeFetch    = "fetch_failed"    // git could not fetch the commit
	CodeContext  = "context_invalid" // the build context or Dockerfile is unusable
	CodeBuild    = "build_failed"    // the Dockerfile's build failed
	CodePush     = "push_failed"     // the registry did not take the image
	CodeInternal = "internal"        // anything else

	// Slipway's defences against hostile requests.
	CodeEgressRefused    = "egress_refused"     // a fetch or callback named a forbidden address
	CodeContextTooLarge  = "context_too_large"  // the build context exceeds the limit
	CodeCheckoutTooLarge = "checkout_too_large" // the checkout outgrew SLIPWAY_MAX_CHECKOUT_BYTES
	CodeRegistryRefused  = "registry_refused"   // the image names a registry not allowed

	// BuildKit builds.
	CodeBuildKitUnavailable = "buildkit_unavailable" // the job needs BuildKit and the daemon has none
	CodeSecretUnavailable   = "secret_unavailable"   // a named secret or ssh key is no longer on the server

	// The queue.
	CodeTimeout      = "timeout"       // the build ran past its timeout
	CodeLeaseExpired = "lease_expired" // the worker stopped renewing its lease (it died or lost the database)
	CodeReleased     = "released"      // the worker shut down and handed the job back
	CodeQueueExpired = "queue_expired" // nobody picked the job up within the queue TTL
	CodeSuperseded   = "superseded"    // a newer commit for the same ref and image was queued
	CodeCanceled     = "canceled"      // a user canceled the job
)
