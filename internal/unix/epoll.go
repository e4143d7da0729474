package unix

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// Poller sleeps on many eventfds at once: a device asleep on the doorbells of
// all its queues.
//
// It watches them edge-triggered and never reads them. Every write to an
// eventfd is a new edge whatever its counter holds, so a doorbell need not be
// drained to ring again; and a device that never reads a descriptor its
// clients share cannot be made to block by a client that drains it first or
// clears O_NONBLOCK on their shared file description.
type Poller struct {
	epfd   int
	events []unix.EpollEvent
	park   *parker
}

// NewPoller creates an empty poller.
func NewPoller() (*Poller, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	p := &Poller{epfd: fd, events: make([]unix.EpollEvent, 64), park: newParker(fd)}
	// Register with the runtime's poller now rather than at the first sleep,
	// so that a poller's descriptors are all made when it is.
	if _, _, err := p.park.conn(); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("epoll: %w", err)
	}
	return p, nil
}

// Add watches fd for writes.
func (p *Poller) Add(fd int) error {
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLET, Fd: int32(fd)}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return fmt.Errorf("epoll_ctl add %d: %w", fd, err)
	}
	return nil
}

// Remove stops watching fd. Call it before closing fd: epoll watches the file
// description, which lives on in any process fd was passed to.
func (p *Poller) Remove(fd int) error {
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, fd, nil); err != nil {
		return fmt.Errorf("epoll_ctl del %d: %w", fd, err)
	}
	return nil
}

// Wait sleeps until a watched eventfd is written or timeout passes (forever if
// negative). Spurious returns are allowed.
//
// A long or unbounded sleep parks the goroutine in the runtime's poller,
// which watches the epoll descriptor itself (readable while an edge is
// pending), and holds no P. The runtime's poller keeps time in milliseconds,
// though, and rounds a shorter timeout up to one: a sleep shorter than
// preciseBelow, which a device takes to wake up just before a modelled
// completion is due, is made in ppoll(2) instead, whose timeout is in
// nanoseconds, at the price of holding the P for that long.
func (p *Poller) Wait(timeout time.Duration) error {
	if timeout >= 0 && timeout < preciseBelow {
		if err := pollIn(p.epfd, timeout); err != nil {
			return fmt.Errorf("epoll: %w", err)
		}
		_, err := p.consume(p.epfd)
		return err
	}
	var werr error
	err := p.park.wait(timeout, func(fd int) bool {
		got, err := p.consume(fd)
		werr = err
		return got || err != nil
	})
	if err == nil {
		err = werr
	}
	if err != nil {
		return fmt.Errorf("epoll: %w", err)
	}
	return nil
}

// preciseBelow is the shortest sleep the runtime's poller can time: it
// rounds anything under a millisecond up to one, so sleeps under two are
// timed by the kernel instead.
const preciseBelow = 2 * time.Millisecond

// pollIn sleeps until fd is readable or timeout passes, in ppoll, whose
// timeout is in nanoseconds. An interrupted sleep returns early without an
// error.
func pollIn(fd int, timeout time.Duration) error {
	ts := unix.NsecToTimespec(int64(timeout))
	fds := [1]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	if _, err := unix.Ppoll(fds[:], &ts, nil); err != nil && err != unix.EINTR {
		return fmt.Errorf("ppoll: %w", err)
	}
	return nil
}

// consume takes every pending edge, so that the next Wait sleeps until a new
// write, and reports whether there was any.
func (p *Poller) consume(epfd int) (bool, error) {
	got := false
	for {
		n, err := unix.EpollWait(epfd, p.events, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return got, fmt.Errorf("epoll_wait: %w", err)
		}
		got = got || n > 0
		if n < len(p.events) {
			return got, nil
		}
	}
}

// Close releases the epoll descriptor, waking a goroutine in Wait.
func (p *Poller) Close() error {
	p.park.close()
	return unix.Close(p.epfd)
}
