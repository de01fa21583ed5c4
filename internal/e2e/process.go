package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/slipwayci/slipway/internal/testenv"
)

// Proc is slipway running as a process of the compiled binary.
type Proc struct {
	Name string
	Cmd  *exec.Cmd

	logs *logBuffer
	done chan struct{}
	err  error
}

// Process runs the binary with args and the instance's environment, extra
// on top (an empty value sets the variable empty), and kills it when the
// test ends.
func (s *Slipway) Process(tb testing.TB, name string, args []string, extra map[string]string) *Proc {
	tb.Helper()
	p := &Proc{Name: name, Cmd: exec.Command(testenv.Binary(tb), args...), logs: &logBuffer{}, done: make(chan struct{})}
	for k, v := range s.Env {
		if _, ok := extra[k]; !ok && v != "" {
			p.Cmd.Env = append(p.Cmd.Env, k+"="+v)
		}
	}
	for k, v := range extra {
		p.Cmd.Env = append(p.Cmd.Env, k+"="+v)
	}
	p.Cmd.Stdout = io.Discard
	p.Cmd.Stderr = p.logs
	// A test binary that dies (a timeout panics) takes its slipways along.
	p.Cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.Cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() { p.err = p.Cmd.Wait(); close(p.done) }()
	tb.Cleanup(func() {
		_ = p.Cmd.Process.Kill()
		<-p.done
		if tb.Failed() {
			tb.Logf("%s log:\n%s", name, p.logs.String())
		}
	})
	return p
}

// Worker starts `slipway worker` on the instance's database with extra
// environment.
func (s *Slipway) Worker(tb testing.TB, name string, extra map[string]string) *Proc {
	tb.Helper()
	return s.Process(tb, name, []string{"worker"}, extra)
}

// Stop sends sig and waits up to a minute for the process to exit.
func (p *Proc) Stop(tb testing.TB, sig syscall.Signal) {
	tb.Helper()
	if err := p.Cmd.Process.Signal(sig); err != nil {
		tb.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(time.Minute):
		tb.Fatalf("%s did not exit after %v", p.Name, sig)
	}
}

// Err is how the process exited, once Stop returned.
func (p *Proc) Err() error {
	<-p.done
	return p.err
}

// Logs returns what the process has written to stderr so far.
func (p *Proc) Logs() string { return p.logs.String() }

// Records returns the JSON log records (SLIPWAY_LOG_FORMAT=json) whose msg
// is msg.
func (p *Proc) Records(msg string) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(p.logs.String()))
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// logBuffer collects a log written while tests read it.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
