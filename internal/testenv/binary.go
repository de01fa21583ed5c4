package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// binaries holds the slipway binary one test binary builds at most once;
// Main removes it.
var binaries struct {
	once sync.Once
	dir  string
	path string
	err  error
	out  []byte
}

// Binary builds slipway once and returns its path, so tests can run it as a
// real process: kill -9, SIGTERM and the CLI need one.
func Binary(tb testing.TB) string {
	tb.Helper()
	binaries.once.Do(func() {
		binaries.dir, binaries.err = os.MkdirTemp("", "slipway-test-bin-")
		if binaries.err != nil {
			return
		}
		binaries.path = filepath.Join(binaries.dir, "slipway")
		binaries.out, binaries.err = exec.Command("go", "build", "-o", binaries.path, "github.com/slipwayci/slipway").CombinedOutput()
	})
	if binaries.err != nil {
		tb.Fatalf("go build: %v\n%s", binaries.err, binaries.out)
	}
	return binaries.path
}

func removeBinaries() {
	if binaries.dir != "" {
		_ = os.RemoveAll(binaries.dir)
	}
}
