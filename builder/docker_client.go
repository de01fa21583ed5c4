package builder

import (
	"fmt"

	"github.com/docker/docker/client"
)

// NewDockerClient connects to the Docker daemon at host (empty: DOCKER_HOST
// or the local socket). It negotiates the API version, so daemons older than
// the client (Docker 20.10 speaks 1.41) accept its calls.
func NewDockerClient(host string) (*client.Client, error) {
	opts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if host != "" {
		opts = append(opts, client.WithHost(host))
	}
	c, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	return c, nil
}
