// Package migrations holds Slipway's schema as numbered SQL files, embedded in
// the binary so a deployment never needs them on disk.
package migrations

import "embed"

// FS holds every migration, named NNNNN_name.sql in goose's format.
//
//go:embed *.sql
var FS embed.FS
