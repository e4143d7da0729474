package bytesize

import "testing"

func TestName(t *testing.T) {
	for n, want := range map[int]string{0: "0B", 64: "64B", 1000: "1000B", 1024: "1KiB", 4096: "4KiB",
		1536: "1536B", 1 << 20: "1MiB", 3 << 20: "3MiB", 1<<20 + 1024: "1025KiB"} {
		if got := Name(n); got != want {
			t.Errorf("Name(%d) = %q, want %q", n, got, want)
		}
	}
}
