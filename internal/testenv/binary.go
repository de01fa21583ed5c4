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

// Binary builds the command in the current directory (the module root, for
// the main package's tests) once and returns its path, so tests can run
// slipway as real processes: kill -9 and SIGTERM need one.
func Binary(tb testing.TB) string {
	tb.Helper()
	binaries.once.Do(func() {
		binaries.dir, binaries.err = os.MkdirTemp("", "slipway-test-bin-")
		if binaries.err != nil {
			return
		}
		binaries.path = filepath.Join(binaries.dir, "slipway")
		binaries.out, binaries.err = exec.Command("go", "build", "-o", binaries.path, ".").CombinedOutput()
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
