package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// statusReads: GET /api/v1/jobs/{id} and its 304 path at 32 clients, against
// a bare Echo handler in this process serving the same bytes behind the same
// bearer check.
func (b *bench) statusReads(ctx context.Context) error {
	d := 10 * time.Second
	if b.smoke {
		d = time.Second
	}
	const clients = 32
	s, err := b.startSlipway(ctx, "serve", nil)
	if err != nil {
		return err
	}
	id, err := b.postJob(ctx, s, jobBody(1, benchRepo, "registry.example.com/bench/app"))
	if err != nil {
		return err
	}
	url := s.addr + "/api/v1/jobs/" + id
	resp, err := b.request(ctx, http.MethodGet, url, nil, nil)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET job: %s", resp.Status)
	}
	etag, ctype := resp.Header.Get("ETag"), resp.Header.Get("Content-Type")

	bare, stopBare, err := b.bareEcho(body, ctype, etag)
	if err != nil {
		return err
	}
	defer stopBare()

	get := func(u string, hdr map[string]string, want int) func(context.Context, int, int64) error {
		return func(ctx context.Context, _ int, _ int64) error {
			resp, err := b.request(ctx, http.MethodGet, u, nil, hdr)
			if err != nil {
				return err
			}
			discard(resp)
			if resp.StatusCode != want {
				return fmt.Errorf("status %s", resp.Status)
			}
			return nil
		}
	}
	measure := func(what, goalText string, bound float64, hdr map[string]string, want int) {
		load(ctx, clients, warmup(d), 0, get(url, hdr, want))
		sw := load(ctx, clients, d, 0, get(url, hdr, want))
		load(ctx, clients, warmup(d), 0, get(bare+"/api/v1/jobs/"+id, hdr, want))
		bw := load(ctx, clients, d, 0, get(bare+"/api/v1/jobs/"+id, hdr, want))
		b.note(fmt.Sprintf("%s: Slipway %d in %s (%d failed %s); bare Echo %d in %s (%d failed %s)", what, sw.ok, sw.elapsed.Round(time.Millisecond), sw.failed, sw.firstErr, bw.ok, bw.elapsed.Round(time.Millisecond), bw.failed, bw.firstErr))
		r := row{num: 3, what: what, slipway: fmt.Sprintf("%.0f/s", sw.rate()), baseline: fmt.Sprintf("bare Echo %.0f/s", bw.rate()), goal: goalText}
		b.add(goal(r, sw.rate()/bw.rate(), true, bound))
	}
	measure("status read 200, 32 clients", "≥ 0.5×", 0.5, nil, http.StatusOK)
	if etag == "" {
		b.na(3, "status read 304, 32 clients", "no ETag header on GET /api/v1/jobs/{id}")
		return nil
	}
	measure("status read 304, 32 clients", "≥ 0.8×", 0.8, map[string]string{"If-None-Match": etag}, http.StatusNotModified)
	return nil
}

// bareEcho serves body at /api/v1/jobs/:id behind a bearer check, with the
// same ETag, and returns its base URL.
func (b *bench) bareEcho(body []byte, ctype, etag string) (string, func(), error) {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	want := []byte("Bearer " + b.token)
	e.GET("/api/v1/jobs/:id", func(c echo.Context) error {
		if subtle.ConstantTimeCompare([]byte(c.Request().Header.Get("Authorization")), want) != 1 {
			return c.NoContent(http.StatusUnauthorized)
		}
		if etag != "" {
			c.Response().Header().Set("ETag", etag)
			if c.Request().Header.Get("If-None-Match") == etag {
				return c.NoContent(http.StatusNotModified)
			}
		}
		return c.Blob(http.StatusOK, ctype, body)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Println("bare echo:", err)
		}
	}()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}
