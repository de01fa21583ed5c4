package server

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// etagged is a JSON body with its ETag, a hash of the body.
type etagged struct {
	body []byte
	tag  string
}

func render(v any) (etagged, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return etagged{}, err
	}
	sum := sha256.Sum256(body)
	return etagged{body: body, tag: `"` + hex.EncodeToString(sum[:16]) + `"`}, nil
}

// writeCached answers with v as JSON under an ETag that is a hash of the
// body, or with 304 when the client already holds that body. Pollers then
// pay for one query and a hash, not for the transfer and parse.
func writeCached(c echo.Context, v any) error {
	e, err := render(v)
	if err != nil {
		return err
	}
	return e.write(c)
}

func (e etagged) write(c echo.Context) error {
	h := c.Response().Header()
	h.Set("ETag", e.tag)
	// Clients may keep the answer but must ask again before using it.
	h.Set("Cache-Control", "no-cache")
	if etagMatches(c.Request().Header.Get("If-None-Match"), e.tag) {
		return c.NoContent(http.StatusNotModified)
	}
	return c.JSONBlob(http.StatusOK, e.body)
}

// etagMatches applies If-None-Match's weak comparison (RFC 9110 13.1.2).
func etagMatches(header, tag string) bool {
	if header == "" {
		return false
	}
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == tag {
			return true
		}
	}
	return false
}
