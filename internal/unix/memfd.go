package unix

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// SealShrink is F_SEAL_SHRINK: once set, the memfd can never become smaller, so a
// mapping of it can never fault with SIGBUS because its owner truncated it.
const SealShrink = unix.F_SEAL_SHRINK

// SealGrow is F_SEAL_GROW.
const SealGrow = unix.F_SEAL_GROW

// SealWrite is F_SEAL_WRITE and SealFutureWrite F_SEAL_FUTURE_WRITE: the
// memory can no longer be written, or mapped writable.
const (
	SealWrite       = unix.F_SEAL_WRITE
	SealFutureWrite = unix.F_SEAL_FUTURE_WRITE
)

// SealSeal is F_SEAL_SEAL: no further seals may be added or removed.
const SealSeal = unix.F_SEAL_SEAL

// Memfd creates an anonymous memory file of size bytes that allows sealing.
// The descriptor is close-on-exec.
func Memfd(name string, size int) (int, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return -1, fmt.Errorf("memfd_create %q: %w", name, err)
	}
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("ftruncate memfd to %d bytes: %w", size, err)
	}
	return fd, nil
}

// AddSeals adds seals to a memfd.
func AddSeals(fd int, seals int) error {
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
		return fmt.Errorf("F_ADD_SEALS: %w", err)
	}
	return nil
}

// Seals reports the seals set on fd.
func Seals(fd int) (int, error) {
	s, err := unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0)
	if err != nil {
		return 0, fmt.Errorf("F_GET_SEALS: %w", err)
	}
	return s, nil
}

// FileSize reports the current size of the file behind fd.
func FileSize(fd int) (int64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, fmt.Errorf("fstat: %w", err)
	}
	return st.Size, nil
}

// Close closes fd.
func Close(fd int) error { return unix.Close(fd) }

// Dup duplicates fd with close-on-exec set.
func Dup(fd int) (int, error) {
	return unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
}
