package unix

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// MapShared maps size bytes of fd read-write and shared. The mapping is marked
// MADV_DONTFORK so that a forked child never inherits a live ring or buffer: the
// child sees nothing at that address rather than silently sharing its parent's
// queues (the same choice verbs makes with ibv_fork_init).
func MapShared(fd int, size int) ([]byte, error) {
	return mapShared(fd, size, unix.PROT_READ|unix.PROT_WRITE)
}

// MapSharedReadOnly maps size bytes of fd read-only and shared.
func MapSharedReadOnly(fd int, size int) ([]byte, error) {
	return mapShared(fd, size, unix.PROT_READ)
}

func mapShared(fd int, size int, prot int) ([]byte, error) {
	if size <= 0 {
		return nil, fmt.Errorf("mmap: size %d must be positive", size)
	}
	b, err := unix.Mmap(fd, 0, size, prot, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap %d bytes: %w", size, err)
	}
	if err := unix.Madvise(b, unix.MADV_DONTFORK); err != nil {
		unix.Munmap(b)
		return nil, fmt.Errorf("madvise MADV_DONTFORK: %w", err)
	}
	return b, nil
}

// Unmap releases a mapping made by MapShared.
func Unmap(b []byte) error {
	if err := unix.Munmap(b); err != nil {
		return fmt.Errorf("munmap: %w", err)
	}
	return nil
}
