// Package layering holds no code: its test checks, with go list, that the
// packages import only what the project's layering allows.
package layering
