package app

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckSecrets(t *testing.T) {
	timings := hookConfig{CallbackMinDelay: 1, CallbackMaxDelay: 1, CallbackExpiry: 1, CallbackTimeout: 1, CallbackPollEvery: 1, JenkinsPRs: "ignore"}
	ok := timings
	ok.NativeSecret, ok.CallbackSecret = "plain whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_c2VjcmV0"
	if err := errors.Join(ok.validate()...); err != nil {
		t.Errorf("valid secrets: %v", err)
	}
	merge := timings
	merge.JenkinsPRs = "merge"
	if err := errors.Join(merge.validate()...); err == nil {
		t.Error("SLIPWAY_JENKINS_PULL_REQUESTS=merge accepted")
	}
	bad := timings
	bad.JenkinsSecret = "whsec_not*base64"
	if err := errors.Join(bad.validate()...); err == nil || !strings.Contains(err.Error(), "SLIPWAY_HOOK_SECRET_JENKINS") || strings.Contains(err.Error(), "not*base64") {
		t.Errorf("bad secret: %v, want an error naming the variable, not the value", err)
	}
}
