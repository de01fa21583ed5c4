package job

// Failure codes of Slipway's defences against hostile requests.
const (
	CodeEgressRefused   = "egress_refused"
	CodeContextTooLarge = "context_too_large"
	CodeRegistryRefused = "registry_refused"
)
