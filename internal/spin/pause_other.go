//go:build !amd64 && !arm64

package spin

// pause has no hint to give on this architecture: the loop just runs.
func pause(n int) {}
