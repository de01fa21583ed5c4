// Package openapi holds the committed OpenAPI 3.1 description of Slipway's
// HTTP API. The server serves it and the tests validate every response they
// receive against it, so it cannot drift from the code.
package openapi

import _ "embed"

// Document is openapi.yaml.
//
//go:embed openapi.yaml
var Document []byte
