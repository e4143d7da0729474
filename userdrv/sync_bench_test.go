package userdrv

// Synchronous round trips with the defaults a user gets: Open, NewQueue,
// Submit and Wait, the typed calls and the Go-native faces, one job at a time.
// Each case times the same operation in software in the same run and reports
// the difference as the framework's cost: overhead-ns/op.

import (
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/accelq/accelq/device"
	"github.com/accelq/accelq/internal/bytesize"
	"github.com/accelq/accelq/ring"
	"github.com/accelq/accelq/sim"
)

// syncCase is one synchronous operation: on the device, and in software.
type syncCase struct {
	name     string
	job      sim.Job // what the timing model sees of it
	setup    func(b *testing.B, d *Device, q *Queue) (dev func() error)
	software func() error
}

func syncCases(b *testing.B) []syncCase {
	msg4k := make([]byte, 4096)
	rand.Read(msg4k)
	var cases []syncCase
	cases = append(cases, syncCase{
		name: "submit-wait/nop",
		job:  sim.Job{Op: ring.OpNop},
		setup: func(b *testing.B, d *Device, q *Queue) func() error {
			j := &Job{Op: ring.OpNop}
			return func() error {
				if err := q.Submit(j); err != nil {
					return err
				}
				return j.Wait(context.Background())
			}
		},
		software: func() error { return nil },
	})
	cases = append(cases, syncCase{
		name: "submit-wait/sha256-4KiB",
		job:  sim.Job{Op: ring.OpSHA256, Bytes: 4096},
		setup: func(b *testing.B, d *Device, q *Queue) func() error {
			src, err := d.Alloc(4096)
			if err != nil {
				b.Fatal(err)
			}
			copy(src.Bytes(), msg4k)
			dst, err := d.Alloc(32)
			if err != nil {
				b.Fatal(err)
			}
			j := &Job{Op: ring.OpSHA256, Src: All(src), Dst: All(dst)}
			return func() error {
				if err := q.Submit(j); err != nil {
					return err
				}
				return j.Wait(context.Background())
			}
		},
		software: func() error { sha256.Sum256(msg4k); return nil },
	})
	cases = append(cases, syncCase{
		name: "digest/sha256-4KiB",
		job:  sim.Job{Op: ring.OpSHA256, Bytes: 4096},
		setup: func(b *testing.B, d *Device, q *Queue) func() error {
			return func() error {
				_, err := q.Digest(context.Background(), crypto.SHA256, msg4k)
				return err
			}
		},
		software: func() error { sha256.Sum256(msg4k); return nil },
	})
	for _, n := range []int{64, 4096, 65536} {
		pt := make([]byte, n)
		nonce := make([]byte, 12)
		k := make([]byte, 16)
		blk, _ := aes.NewCipher(k)
		gcm, _ := cipher.NewGCM(blk)
		out := make([]byte, 0, n+16)
		cases = append(cases, syncCase{
			name: fmt.Sprintf("aead-seal/%s", bytesize.Name(n)),
			job:  sim.Job{Op: ring.OpAESGCMSeal, Bytes: n},
			setup: func(b *testing.B, d *Device, q *Queue) func() error {
				key, err := d.ImportKey(device.KeyAES, k)
				if err != nil {
					b.Fatal(err)
				}
				a, err := NewAEAD(q, key)
				if err != nil {
					b.Fatal(err)
				}
				return func() error { a.Seal(out[:0], nonce, pt, nil); return nil }
			},
			software: func() error { gcm.Seal(out[:0], nonce, pt, nil); return nil },
		})
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	digest := sha256.Sum256(msg4k)
	cases = append(cases, syncCase{
		name: "signer/ecdsa-p256",
		job:  sim.Job{Op: ring.OpECDSASign, KeyBits: 256, Bytes: 32},
		setup: func(b *testing.B, d *Device, q *Queue) func() error {
			key, err := d.ImportPrivateKey(priv)
			if err != nil {
				b.Fatal(err)
			}
			s, err := NewSigner(q, key)
			if err != nil {
				b.Fatal(err)
			}
			return func() error { _, err := s.Sign(rand.Reader, digest[:], crypto.SHA256); return err }
		},
		software: func() error { _, err := ecdsa.SignASN1(rand.Reader, priv, digest[:]); return err },
	})
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	cases = append(cases, syncCase{
		name: "signer/rsa-2048-pss",
		job:  sim.Job{Op: ring.OpRSASignPSS, KeyBits: 2048, Bytes: 32},
		setup: func(b *testing.B, d *Device, q *Queue) func() error {
			key, err := d.ImportPrivateKey(rsaKey)
			if err != nil {
				b.Fatal(err)
			}
			s, err := NewSigner(q, key)
			if err != nil {
				b.Fatal(err)
			}
			opts := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}
			return func() error { _, err := s.Sign(rand.Reader, digest[:], opts); return err }
		},
		software: func() error {
			_, err := rsa.SignPSS(rand.Reader, rsaKey, crypto.SHA256, digest[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
			return err
		},
	})
	return cases
}

// BenchmarkSync: one job at a time on a default queue (NewQueue with no
// options but the depth the README shows), embedded on the ideal and qat-gen4
// profiles and across processes through acceld on ideal; and on queues that
// sleep at once (ReapInterrupt), where every job costs one wake-up.
//
// Metrics: software-ns/op is the same operation in software in the same run;
// model-ns/op is the modelled latency of the job on an idle device (0 on
// ideal); overhead-ns/op is the round trip less the larger of the two, since
// the device computes while the model's time runs: what accelq adds;
// cpu-ns/op is the benchmark process's CPU time per job (through acceld, the
// client's alone).
func BenchmarkSync(b *testing.B) {
	type target struct {
		name    string
		profile string
		remote  bool
		opts    []QueueOption
	}
	targets := []target{
		{name: "embedded/ideal", profile: "ideal"},
		{name: "embedded/qat-gen4", profile: "qat-gen4"},
		{name: "acceld/ideal", profile: "ideal", remote: true},
		{name: "embedded/ideal/sleeping", profile: "ideal", opts: []QueueOption{WithReap(ReapInterrupt)}},
		{name: "acceld/ideal/sleeping", profile: "ideal", remote: true, opts: []QueueOption{WithReap(ReapInterrupt)}},
	}
	for _, tg := range targets {
		b.Run(tg.name, func(b *testing.B) {
			var d *Device
			if tg.remote {
				dm := startDaemon(b, "--profile", tg.profile)
				d = mustOpen(b, WithSocket(dm.Socket))
			} else {
				d = mustOpen(b, WithEmbedded(tg.profile))
			}
			defer d.Close()
			prof, err := sim.LoadProfile(tg.profile)
			if err != nil {
				b.Fatal(err)
			}
			model := sim.NewModel(prof)
			q, err := d.NewQueue(append([]QueueOption{WithDepth(64)}, tg.opts...)...)
			if err != nil {
				b.Fatal(err)
			}
			defer q.Close()
			for _, c := range syncCases(b) {
				b.Run(c.name, func(b *testing.B) {
					run := c.setup(b, d, q)
					for range 100 { // warm the buffers and the paths
						if err := run(); err != nil {
							b.Fatal(err)
						}
					}
					b.ResetTimer()
					c0 := cpuTime()
					t0 := time.Now()
					for range b.N {
						if err := run(); err != nil {
							b.Fatal(err)
						}
					}
					dev := time.Since(t0)
					cpu := cpuTime() - c0
					b.StopTimer()
					t0 = time.Now()
					for range b.N {
						c.software()
					}
					n := float64(b.N)
					soft := float64(time.Since(t0).Nanoseconds()) / n
					lat := float64(model.Costs(c.job).Latency().Nanoseconds())
					b.ReportMetric(soft, "software-ns/op")
					b.ReportMetric(lat, "model-ns/op")
					b.ReportMetric(float64(dev.Nanoseconds())/n-max(soft, lat), "overhead-ns/op")
					// The process's CPU per job: with acceld it is the client's alone.
					b.ReportMetric(float64(cpu.Nanoseconds())/n, "cpu-ns/op")
				})
			}
		})
	}
}

func mustOpen(b *testing.B, opts ...Option) *Device {
	d, err := Open(opts...)
	if err != nil {
		b.Fatal(err)
	}
	return d
}
