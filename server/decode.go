package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
)

// decodeJSON reads a JSON object body of at most limit bytes into dst.
// Unknown fields, trailing data, invalid UTF-8 and a bare null are refused
// rather than silently ignored.
func decodeJSON(c echo.Context, limit int64, dst any) error {
	data, err := readJSONBody(c, limit)
	if err != nil {
		return err
	}
	return decodeStrict(data, dst)
}

// readJSONBody reads a body of at most limit bytes that claims to be, and
// starts like, a JSON object in valid UTF-8.
func readJSONBody(c echo.Context, limit int64) ([]byte, error) {
	req := c.Request()
	mt, _, err := mime.ParseMediaType(req.Header.Get(echo.HeaderContentType))
	if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return nil, &requestError{status: http.StatusUnsupportedMediaType, detail: "Content-Type must be application/json."}
	}
	data, err := io.ReadAll(http.MaxBytesReader(c.Response(), req.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, &requestError{status: http.StatusRequestEntityTooLarge, detail: fmt.Sprintf("The body exceeds %d bytes.", limit)}
		}
		return nil, badRequest("The body could not be read.")
	}
	if !utf8.Valid(data) {
		return nil, badRequest("The body is not valid UTF-8.")
	}
	if t := bytes.TrimSpace(data); len(t) == 0 || t[0] != '{' {
		return nil, badRequest("The body must be a JSON object.")
	}
	return data, nil
}

// decodeStrict decodes one JSON object, refusing unknown fields and trailing data.
func decodeStrict(data []byte, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return badRequest(describeJSONError(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest("The body must hold exactly one JSON object.")
	}
	return nil
}

func describeJSONError(err error) string {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("The body is not valid JSON (at byte %d).", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("Field %q must be of JSON type %s.", typ.Field, jsonType(typ.Type.Kind().String()))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "The body is truncated JSON."
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "Unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ") + "."
	}
	return "The body is not valid JSON."
}

func jsonType(kind string) string {
	switch kind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "map", "struct":
		return "object"
	case "slice", "array":
		return "array"
	}
	return "number"
}

// query parses the raw query string strictly: url.Values from the request
// silently drops malformed pairs.
func query(c echo.Context) (url.Values, error) {
	q, err := url.ParseQuery(c.Request().URL.RawQuery)
	if err != nil {
		return nil, badRequest("The query string is malformed.")
	}
	return q, nil
}
