package builder

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"
)

// pingDocker is a daemon that answers pings with err.
type pingDocker struct{ err error }

func (p *pingDocker) Ping(context.Context) (types.Ping, error) { return types.Ping{}, p.err }
func (p *pingDocker) ImageBuild(context.Context, io.Reader, build.ImageBuildOptions) (build.ImageBuildResponse, error) {
	return build.ImageBuildResponse{}, errors.New("not used")
}
func (p *pingDocker) DialHijack(context.Context, string, string, map[string][]string) (net.Conn, error) {
	return nil, errors.New("not used")
}
func (p *pingDocker) ImagePush(context.Context, string, image.PushOptions) (io.ReadCloser, error) {
	return nil, errors.New("not used")
}
func (p *pingDocker) ImageTag(context.Context, string, string) error { return errors.New("not used") }
func (p *pingDocker) ImageRemove(context.Context, string, image.RemoveOptions) ([]image.DeleteResponse, error) {
	return nil, errors.New("not used")
}

func TestReadyFollowsDaemonAndShutdown(t *testing.T) {
	docker := &pingDocker{}
	w := New(Config{Concurrency: 1}, nil, docker, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx := context.Background()
	if w.Ready(ctx) == nil {
		t.Error("ready before the daemon was checked")
	}
	steps := []struct {
		ping      error
		wantReady bool
	}{
		{nil, true},
		{errors.New("dial unix /var/run/docker.sock: connect: connection refused"), false},
		{nil, true},
	}
	for i, s := range steps {
		docker.err = s.ping
		w.checkDocker(ctx)
		if got := w.Ready(ctx) == nil; got != s.wantReady {
			t.Errorf("step %d: ready = %v (%v), want %v", i, got, w.Ready(ctx), s.wantReady)
		}
	}
	w.draining.Store(true)
	w.checkDocker(ctx)
	if !errors.Is(w.Ready(ctx), errShutdown) {
		t.Errorf("draining worker: Ready = %v, want shutting down", w.Ready(ctx))
	}
}
