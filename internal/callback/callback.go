// Package callback delivers completion callbacks: when a job ends, the
// database writes an outbox row in the same transaction, and a Deliverer
// POSTs the job's JSON, signed the Standard Webhooks way, until the receiver
// answers 2xx or the callback expires.
package callback

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/slipwayci/slipway/internal/webhooksig"
	"github.com/slipwayci/slipway/job"
)

// Outbox is what a Deliverer needs of the store.
type Outbox interface {
	ClaimCallbacks(ctx context.Context, limit int, hold time.Duration) ([]job.DueCallback, error)
	Job(ctx context.Context, id string) (*job.Job, error)
	CallbackDelivered(ctx context.Context, id int64, status int) error
	CallbackFailed(ctx context.Context, id int64, status int, reason string, retryAt time.Time, expire bool) error
}

// Config tunes a Deliverer.
type Config struct {
	Secret       string        // Standard Webhooks secret (whsec_…); "" sends unsigned
	PollInterval time.Duration // how often the outbox is read
	MinBackoff   time.Duration // wait after the first failure; doubles each time
	MaxBackoff   time.Duration
	Expiry       time.Duration     // give up this long after the job ended
	Timeout      time.Duration     // per attempt
	Metrics      Metrics           // counts deliveries by outcome; nil counts nothing
	Transport    http.RoundTripper // checks where connections go (internal/egress); nil: http.DefaultTransport
}

// Metrics receives one outcome per delivery attempt: delivered, failed or
// expired.
type Metrics interface {
	CallbackDelivered(outcome string)
}

type nopMetrics struct{}

func (nopMetrics) CallbackDelivered(string) {}

// Deliverer sends due callbacks until its context ends.
type Deliverer struct {
	cfg    Config
	key    []byte
	outbox Outbox
	client *http.Client
	log    *slog.Logger
}

// New returns a Deliverer over outbox.
func New(cfg Config, outbox Outbox, log *slog.Logger) (*Deliverer, error) {
	var key []byte
	if cfg.Secret != "" {
		k, err := webhooksig.Key(cfg.Secret)
		if err != nil {
			return nil, fmt.Errorf("callback secret: %w", err)
		}
		key = k
	}
	client := &http.Client{
		Transport: cfg.Transport,
		Timeout:   cfg.Timeout,
		// A redirect would send the signed job somewhere nobody configured.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	if cfg.Metrics == nil {
		cfg.Metrics = nopMetrics{}
	}
	return &Deliverer{cfg: cfg, key: key, outbox: outbox, client: client, log: log}, nil
}

// Run delivers callbacks until ctx ends.
func (d *Deliverer) Run(ctx context.Context) error {
	t := time.NewTicker(d.cfg.PollInterval)
	defer t.Stop()
	for {
		d.deliverDue(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (d *Deliverer) deliverDue(ctx context.Context) {
	// Claimed rows stay hidden from other processes for longer than one attempt can take.
	due, err := d.outbox.ClaimCallbacks(ctx, 16, d.cfg.Timeout+time.Minute)
	if err != nil {
		if ctx.Err() == nil {
			d.log.ErrorContext(ctx, "claim callbacks", "err", err)
		}
		return
	}
	for _, c := range due {
		d.deliver(ctx, c)
	}
}

func (d *Deliverer) deliver(ctx context.Context, c job.DueCallback) {
	log := d.log.With("job_id", c.JobID, "callback_id", c.ID, "attempt", c.Attempts)
	status, err := d.post(ctx, c)
	// The outcome is recorded even when shutdown has begun.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err == nil {
		log.InfoContext(ctx, "callback delivered", "status", status)
		d.cfg.Metrics.CallbackDelivered("delivered")
		if err := d.outbox.CallbackDelivered(rctx, c.ID, status); err != nil {
			log.ErrorContext(ctx, "record callback delivery", "err", err)
		}
		return
	}
	retryAt := time.Now().Add(d.backoff(c.Attempts))
	expire := retryAt.After(c.CreatedAt.Add(d.cfg.Expiry))
	log.WarnContext(ctx, "callback failed", "status", status, "err", err, "expired", expire)
	if expire {
		d.cfg.Metrics.CallbackDelivered("expired")
	} else {
		d.cfg.Metrics.CallbackDelivered("failed")
	}
	if err := d.outbox.CallbackFailed(rctx, c.ID, status, err.Error(), retryAt, expire); err != nil {
		log.ErrorContext(ctx, "record callback failure", "err", err)
	}
}

// backoff doubles from MinBackoff up to MaxBackoff, with jitter so receivers
// that came back are not hit by every sender at once.
func (d *Deliverer) backoff(attempt int) time.Duration {
	b := d.cfg.MinBackoff
	for i := 1; i < attempt && b < d.cfg.MaxBackoff; i++ {
		b *= 2
	}
	b = min(b, d.cfg.MaxBackoff)
	return b/2 + rand.N(b/2+1)
}

// post sends the job once and returns the receiver's status.
func (d *Deliverer) post(ctx context.Context, c job.DueCallback) (int, error) {
	j, err := d.outbox.Job(ctx, c.JobID)
	if err != nil {
		return 0, fmt.Errorf("load job: %w", err)
	}
	body, err := json.Marshal(j)
	if err != nil {
		return 0, fmt.Errorf("encode job: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("callback request: %w", err)
	}
	id := "slipway-callback-" + strconv.FormatInt(c.ID, 10)
	now := time.Now()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "slipway-callback")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	if d.key != nil {
		req.Header.Set("webhook-signature", webhooksig.Sign(d.key, id, now, body))
	}
	resp, err := d.client.Do(req)
	if err != nil {
		// url.Error quotes the URL, whose path may be a capability token
		// (Jenkins' registerWebhook URLs are); keep only the cause.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return 0, errors.New("no answer: " + err.Error())
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("receiver answered %d", resp.StatusCode)
	}
	return resp.StatusCode, nil
}
