package app

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestHTTPServerTimeouts: a slow body and an idle keep-alive connection are
// closed at their timeouts instead of holding a connection forever.
func TestHTTPServerTimeouts(t *testing.T) {
	c := apiConfig{ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond, IdleTimeout: 200 * time.Millisecond}
	srv := c.httpServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "ok")
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })

	for _, tc := range []struct {
		name string
		send string // what the client sends before going quiet
		// answered: a complete request precedes the silence.
		answered bool
	}{
		{"SlowBody", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc", false},
		{"IdleKeepAlive", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := io.WriteString(conn, tc.send); err != nil {
				t.Fatal(err)
			}
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			r := bufio.NewReader(conn)
			if tc.answered {
				resp, err := http.ReadResponse(r, nil)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			start := time.Now()
			_, err = io.Copy(io.Discard, r)
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("the server held the connection for %s", time.Since(start).Round(time.Millisecond))
			}
		})
	}
}
