package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/accelq/accelq/internal/unix"
	"github.com/accelq/accelq/ring"
)

// afalgAlg is how the kernel's crypto API names an operation accelq offers.
type afalgAlg struct {
	typ, name string
	authSize  int
}

// afalgAlgs are the operations AF_ALG offers: hashes and MACs, the AEADs and
// AES-XTS, each as its result is defined in accelq (a seal's ciphertext and
// tag, XTS with the sector number as the tweak).
var afalgAlgs = map[ring.Opcode]afalgAlg{
	ring.OpSHA256:               {"hash", "sha256", 0},
	ring.OpSHA384:               {"hash", "sha384", 0},
	ring.OpSHA512:               {"hash", "sha512", 0},
	ring.OpHMACSHA256:           {"hash", "hmac(sha256)", 0},
	ring.OpHMACSHA512:           {"hash", "hmac(sha512)", 0},
	ring.OpAESGCMSeal:           {"aead", "gcm(aes)", 16},
	ring.OpChaCha20Poly1305Seal: {"aead", "rfc7539(chacha20,poly1305)", 16},
	ring.OpAESXTSEncrypt:        {"skcipher", "xts(aes)", 0},
}

// afalgCells lists the AF_ALG cells. Where the kernel has no AF_ALG the mode
// is skipped once, with the reason, rather than per workload.
func afalgCells(shapes []*shape, cfg Config, rep *Report) []cell {
	if err := AFALGAvailable(); err != nil {
		rep.Skipped = append(rep.Skipped, Skip{Mode: ModeAFALG, Reason: err.Error()})
		return nil
	}
	var cells []cell
	for _, s := range shapes {
		alg, ok := afalgAlgs[s.w.Op]
		if !ok {
			rep.Skipped = append(rep.Skipped, Skip{Mode: ModeAFALG, What: s.w.String(), Reason: "AF_ALG has no such operation"})
			continue
		}
		cells = append(cells, cell{label: fmt.Sprintf("afalg %v", s.w), run: func(ctx context.Context) ([]Row, error) {
			r, err := runAFALG(ctx, s, alg, cfg.Timing)
			var skip skipError
			if errors.As(err, &skip) {
				rep.Skipped = append(rep.Skipped, Skip{Mode: ModeAFALG, What: s.w.String(), Reason: skip.Error()})
				return nil, nil
			}
			if err != nil {
				return nil, err
			}
			return []Row{r}, nil
		}})
	}
	return cells
}

// runAFALG runs the workload through one AF_ALG operation socket, a write and
// a read (a sendmsg and a read for ciphers) per job: the synchronous model
// accelq's rings are measured against.
func runAFALG(ctx context.Context, s *shape, alg afalgAlg, t Timing) (Row, error) {
	var key []byte
	if s.key != nil {
		key = s.key
	}
	a, err := unix.OpenALG(alg.typ, alg.name, key, alg.authSize)
	if err != nil {
		// This kernel lacks the algorithm (ENOENT) or refuses its key: a
		// reason to skip the cell, not to end the run.
		return Row{}, skipError{err}
	}
	defer a.Close()
	if alg.typ != "hash" {
		if max := a.MaxRequest(len(s.src)); len(s.src) > max {
			return Row{}, skipError{fmt.Errorf("a %d-byte request exceeds the AF_ALG socket's send buffer (%d bytes; net.core.wmem_max)", len(s.src), max)}
		}
	}
	iv := s.aux // the nonce, or the sector
	if alg.typ == "skcipher" {
		iv = make([]byte, 16) // XTS tweak: the sector number, little-endian, in 16 bytes
		copy(iv, s.aux)
	}
	dst := make([]byte, s.dstLen)
	do := func() (int, error) {
		if alg.typ == "hash" {
			return a.Hash(s.src, dst)
		}
		return a.Crypt(true, iv, 0, s.src, dst)
	}
	st := &cellState{hist: newHistogram()}
	var m cpuMeter
	var cw cpuWindow
	var k int64
	var runErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		for !st.w.stopped() && ctx.Err() == nil {
			start := time.Now()
			n, err := do()
			now := time.Now()
			if err != nil {
				runErr = fmt.Errorf("AF_ALG %s: %w", alg.name, err)
				st.broken.Store(true)
				return
			}
			if st.w.measuring() {
				st.hist.record(now.Sub(start))
				st.w.jobs.Add(1)
			}
			if k++; k <= verifyFirst || k%verifyEvery == 0 {
				st.verified++
				if s.check(dst, n, 0) != nil {
					st.miscompares++
				}
			}
		}
	}()
	st.w.run(t, func() { m = startCPU(0) }, func() { cw = m.stop() }, st.broken.Load)
	<-done
	if runErr != nil {
		return Row{}, runErr
	}
	row := baseRow(s)
	row.Mode, row.Variant, row.Depth, row.Batch, row.Clients = ModeAFALG, alg.name, 1, 1, 1
	row.Jobs, row.Seconds = st.hist.count(), st.w.end.Sub(st.w.start).Seconds()
	st.fill(&row)
	row.Others = cw.Others
	if row.Jobs > 0 {
		row.CPUPerOp = cw.Self.Seconds() * 1e6 / float64(row.Jobs)
	}
	return row, nil
}

// skipError is a cell that cannot be measured on this machine, and why.
type skipError struct{ error }

// AFALGAvailable reports whether the kernel offers AF_ALG, and why not.
func AFALGAvailable() error {
	a, err := unix.OpenALG("hash", "sha256", nil, 0)
	if err != nil {
		return err
	}
	return a.Close()
}
