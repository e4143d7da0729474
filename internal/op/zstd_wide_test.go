package op

// A zstd frame for more than the decoder's window decodes on the device too:
// above zstdMaxWindow the encoder stops writing single-segment frames, whose
// window would be the whole content.

import (
	"bytes"
	"testing"

	"github.com/accelq/accelq/ring"
)

func TestZstdLargerThanWindowRoundTrips(t *testing.T) {
	if testing.Short() {
		t.Skip("compresses 12 MiB")
	}
	data := bytes.Repeat([]byte("accelq zstd frames larger than the decoder window. "), (12<<20)/51)
	dst := make([]byte, len(data))
	c := Run(ring.OpZstdCompress, 1, nil, data, nil, dst)
	if c.Status != ring.StatusOK {
		t.Fatalf("compress: %v", c.Status)
	}
	out := make([]byte, len(data))
	d := Run(ring.OpZstdDecompress, 0, nil, dst[:c.N], nil, out)
	if d.Status != ring.StatusOK || !bytes.Equal(out[:d.N], data) || d.Aux != c.Aux {
		t.Fatalf("decompress of a %d-byte frame: %v, %d bytes", c.N, d.Status, d.N)
	}
}
