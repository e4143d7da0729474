package userdrv

// The streaming writers through an embedded ideal device, beside the same
// chunks compressed with the same code and level on the calling goroutine:
// two host cores against one.

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/accelq/accelq/internal/op"
)

// BenchmarkStreamCores: 64 MiB of generated text through NewWriter on the
// ideal profile (the device compresses 1 MiB chunks on its workers, one per
// core), and the same 1 MiB chunks compressed one after another by
// internal/op, the device's own code, at the same level, on one goroutine.
// device/one-core is the speed-up the device's workers give over one core.
func BenchmarkStreamCores(b *testing.B) {
	const size = 64 << 20
	var text bytes.Buffer
	io.Copy(&text, newStreamGen(size, 7))
	in := text.Bytes()
	for _, f := range []Format{FormatGzip, FormatZstd} {
		b.Run(f.String(), func(b *testing.B) {
			d := openTest(b, "ideal")
			q := newQueue(b, d, WithDepth(64))
			cop, _ := f.CompressOp()
			dst := make([]byte, CompressBound(f, DefaultChunkSize))
			b.SetBytes(size)
			b.ResetTimer()
			var dev, one time.Duration
			var outDev, outOne int64
			for range b.N {
				t0 := time.Now()
				var cw countWriter
				w, err := NewWriter(q, &cw, f)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := w.Write(in); err != nil {
					b.Fatal(err)
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
				dev += time.Since(t0)
				outDev += cw.n
				t0 = time.Now()
				for off := 0; off < len(in); off += DefaultChunkSize {
					chunk := in[off:min(off+DefaultChunkSize, len(in))]
					r := op.Run(cop, 0, nil, chunk, nil, dst)
					if r.Status != 0 {
						b.Fatalf("software compress: %v", r.Status)
					}
					outOne += int64(r.N)
				}
				one += time.Since(t0)
			}
			b.StopTimer()
			n := float64(b.N) * size
			b.ReportMetric(n/dev.Seconds()/1e6, "device-MB/s")
			b.ReportMetric(n/one.Seconds()/1e6, "one-core-MB/s")
			b.ReportMetric(one.Seconds()/dev.Seconds(), "device/one-core")
			b.ReportMetric(n/float64(outDev), "ratio")
			if r1 := n / float64(outOne); r1 < 0.99*n/float64(outDev) || r1 > 1.01*n/float64(outDev) {
				b.Logf("ratios differ: device %.3f, one core %.3f", n/float64(outDev), r1)
			}
		})
	}
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }
