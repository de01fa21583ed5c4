package job

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"time"
)

// Scope is what an API token may do.
type Scope string

const (
	// ScopeRead reads jobs, logs and stats.
	ScopeRead Scope = "read"
	// ScopeAdmin also creates, cancels and retries jobs and manages projects
	// and tokens.
	ScopeAdmin Scope = "admin"
)

// Valid reports whether s is a known scope.
func (s Scope) Valid() bool { return s == ScopeRead || s == ScopeAdmin }

// Allows reports whether a token of scope s may do what need requires.
func (s Scope) Allows(need Scope) bool { return s == ScopeAdmin || s == need }

// Token is an API token as stored and listed: never its secret.
type Token struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Scope      Scope      `json:"scope"`
	Prefix     string     `json:"prefix"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

// TokenPrefix starts every generated token, so secret scanners and people
// can tell a Slipway token at a glance.
const TokenPrefix = "slw_"

// NewTokenSecret returns a fresh random token: 32 bytes from crypto/rand,
// base64url-encoded.
func NewTokenSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// HashToken returns the digest a token is stored and looked up by. A plain
// SHA-256 is enough: tokens carry 256 bits of randomness, so unlike passwords
// they cannot be guessed from their hash, and a fast hash keeps every request's
// lookup cheap; slow password hashes only help low-entropy secrets.
func HashToken(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}
