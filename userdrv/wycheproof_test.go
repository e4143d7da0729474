package userdrv

// Wycheproof known answers through the whole path: client -> driver -> device
// -> client, on an embedded device and on a real acceld process, with
// registered buffers and many jobs in flight at once.

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/accelq/accelq/internal/wycheproof"
	"github.com/accelq/accelq/ring"
)

func TestWycheproofThroughUserdrv(t *testing.T) {
	wycheproof.Require(t)
	suites := make([]*wycheproof.Suite, len(wycheproof.Files))
	for i, file := range wycheproof.Files {
		s, err := wycheproof.Cases(file)
		if err != nil {
			t.Fatal(err)
		}
		suites[i] = s
	}
	t.Run("embedded", func(t *testing.T) {
		wpRunSuites(t, openTest(t, "qat-gen4"), suites, false)
	})
	t.Run("acceld", func(t *testing.T) {
		dm := startDaemon(t, "--profile", "qat-gen4")
		d, err := Open(WithSocket(dm.Socket))
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		wpRunSuites(t, d, suites, true)
	})
}

// wpRunSuites runs every suite on a device-only queue in zero-copy and in copy
// mode.
func wpRunSuites(t *testing.T, d *Device, suites []*wycheproof.Suite, remote bool) {
	for _, copyMode := range []bool{false, true} {
		opts := []QueueOption{WithDepth(128), WithFallback(DeviceOnly), WithBlockWhenFull()}
		mode := "zero-copy"
		if copyMode {
			opts, mode = append(opts, WithCopyMode()), "copy"
		}
		q := newQueue(t, d, opts...)
		for _, s := range suites {
			t.Run(strings.TrimSuffix(s.File, "_test.json")+"/"+mode, func(t *testing.T) {
				wpRunCases(t, d, q, s.Cases)
				t.Logf("%s: %d cases through the device (%d vectors skipped: %s)",
					s.File, len(s.Cases), s.SkippedTotal(), s.SkipSummary())
			})
		}
		if err := q.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// wpJob is one case in flight: its job and its buffers.
type wpJob struct {
	c       *wycheproof.Case
	job     Job
	in, dst *Buffer
}

// wpRunCases copies every case into registered buffers, submits them all
// (SubmitBatch, the ring refilled as the device drains it), then waits for each
// and judges it.
func wpRunCases(t *testing.T, d *Device, q *Queue, cases []wycheproof.Case) {
	keys := map[string]*Key{}
	defer func() {
		for _, k := range keys {
			if err := k.Destroy(); err != nil {
				t.Errorf("destroy key: %v", err)
			}
		}
	}()
	js := make([]wpJob, len(cases))
	ptrs := make([]*Job, len(cases))
	for i := range cases {
		c, w := &cases[i], &js[i]
		w.c = c
		w.job = Job{Op: c.Op, Param: c.Param}
		if c.KeyKind != 0 {
			id := fmt.Sprintf("%d:%x", c.KeyKind, c.Key)
			k := keys[id]
			if k == nil {
				var err error
				if k, err = d.ImportKey(c.KeyKind, c.Key); err != nil {
					t.Fatalf("%s: import key: %v", c.Name(), err)
				}
				keys[id] = k
			}
			w.job.Key = k
		}
		if n := len(c.Src) + len(c.Aux); n > 0 {
			w.in = alloc(t, d, n)
			copy(w.in.Bytes(), c.Src)
			copy(w.in.Bytes()[len(c.Src):], c.Aux)
			if len(c.Src) > 0 {
				w.job.Src = Span{Buf: w.in, Len: len(c.Src)}
			}
			if len(c.Aux) > 0 {
				w.job.Aux = Span{Buf: w.in, Off: len(c.Src), Len: len(c.Aux)}
			}
		}
		if c.DstLen > 0 {
			w.dst = alloc(t, d, c.DstLen)
			clear(w.dst.Bytes()) // pooled memory: whatever the last user left
			w.job.Dst = All(w.dst)
		}
		ptrs[i] = &w.job
	}
	if n, err := q.SubmitBatch(ptrs); err != nil || n != len(ptrs) {
		t.Fatalf("submitted %d of %d: %v", n, len(ptrs), err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := range js {
		w := &js[i]
		if err := w.job.Wait(ctx); err != nil && ctx.Err() != nil {
			t.Fatalf("%s: %v", w.c.Name(), err)
		}
		var out []byte
		if w.dst != nil {
			if w.job.N > w.dst.Len() {
				t.Fatalf("%s: %d bytes written to a %d-byte destination", w.c.Name(), w.job.N, w.dst.Len())
			}
			out = w.dst.Bytes()[:w.job.N]
		} else if w.job.N != 0 {
			t.Fatalf("%s: %d bytes written without a destination", w.c.Name(), w.job.N)
		}
		if err := w.c.Check(w.job.Status, out); err != nil {
			t.Error(err)
		}
		if w.job.CQEFlags&ring.CQEFallback != 0 {
			t.Errorf("%s: ran in software on a device-only queue", w.c.Name())
		}
		if w.job.Status != ring.StatusOK {
			if w.job.Err == nil {
				t.Errorf("%s: status %v without an error", w.c.Name(), w.job.Status)
			}
			if w.dst != nil {
				for _, b := range w.dst.Bytes() {
					if b != 0 {
						t.Errorf("%s: failed with %v but wrote to its destination", w.c.Name(), w.job.Status)
						break
					}
				}
			}
		}
		if w.in != nil {
			w.in.Free()
		}
		if w.dst != nil {
			w.dst.Free()
		}
	}
}
