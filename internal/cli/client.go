package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// apiClient talks to a Slipway server as its CLI commands do. The URL and token
// come from the environment only, so they never show in a CI log.
type apiClient struct {
	base  string
	token string
	http  *http.Client
}

func newClient(getenv func(string) string) (*apiClient, error) {
	base := strings.TrimRight(getenv("SLIPWAY_URL"), "/")
	if base == "" {
		return nil, otherError(errors.New("SLIPWAY_URL is not set"))
	}
	if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, otherError(errors.New("SLIPWAY_URL must be an http(s) URL such as https://slipway.example.com"))
	}
	return &apiClient{base: base, token: getenv("SLIPWAY_TOKEN"), http: &http.Client{Timeout: time.Minute}}, nil
}

// apiError is a non-2xx answer, described by its problem document.
type apiError struct {
	status int
	detail string
}

func (e *apiError) Error() string { return fmt.Sprintf("server answered %d: %s", e.status, e.detail) }

func (c *apiClient) do(ctx context.Context, method, path string, body []byte, header http.Header) ([]byte, int, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, 0, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// url.Error repeats the URL; the method and path say enough.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, resp.StatusCode, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var p struct {
			Detail string `json:"detail"`
			Errors []struct {
				Field   string `json:"field"`
				Message string `json:"message"`
			} `json:"errors"`
		}
		detail := http.StatusText(resp.StatusCode)
		if json.Unmarshal(data, &p) == nil && p.Detail != "" {
			detail = p.Detail
			for _, e := range p.Errors {
				detail += "; " + e.Field + ": " + e.Message
			}
		}
		return data, resp.StatusCode, &apiError{status: resp.StatusCode, detail: detail}
	}
	return data, resp.StatusCode, nil
}
