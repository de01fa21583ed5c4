package app

import (
	"context"
	"io"
	"strings"
	"testing"
)

func TestSecuritySettingsRefused(t *testing.T) {
	tests := map[string][2]string{
		"BadCIDR":        {"SLIPWAY_ALLOWED_NETWORKS", "10.0.0.0/33"},
		"NegativeLog":    {"SLIPWAY_MAX_LOG_BYTES", "-1"},
		"NotANumber":     {"SLIPWAY_RATE_LIMIT", "fast"},
		"NotABool":       {"SLIPWAY_ALLOW_PRIVATE_NETWORKS", "maybe"},
		"NegativeFiles":  {"SLIPWAY_MAX_CONTEXT_FILES", "-5"},
		"NegativeBurst":  {"SLIPWAY_RATE_BURST", "-1"},
		"NegativeContxt": {"SLIPWAY_MAX_CONTEXT_BYTES", "-1"},
	}
	for name, kv := range tests {
		t.Run(name, func(t *testing.T) {
			env := map[string]string{"SLIPWAY_DATABASE_URL": "postgres://u:p@127.0.0.1:1/db", kv[0]: kv[1], "SLIPWAY_LOG_FORMAT": "text"}
			err := Run(context.Background(), Build{}, []string{"slipway", "serve"}, func(k string) string { return env[k] }, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), kv[0]) {
				t.Errorf("err = %v, want one naming %s", err, kv[0])
			}
		})
	}
}
