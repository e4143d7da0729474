package unix

import (
	"fmt"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// Cred is a peer's credentials as the kernel reports them (SO_PEERCRED): taken
// when the peer connected, not claimed by it.
type Cred struct {
	PID int32
	UID uint32
	GID uint32
}

// PeerCred returns the credentials of the process at the other end of a Unix
// socket.
func PeerCred(c syscall.Conn) (Cred, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return Cred{}, err
	}
	var uc *unix.Ucred
	var serr error
	if err := rc.Control(func(fd uintptr) {
		uc, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return Cred{}, err
	}
	if serr != nil {
		return Cred{}, fmt.Errorf("SO_PEERCRED: %w", serr)
	}
	return Cred{PID: uc.Pid, UID: uc.Uid, GID: uc.Gid}, nil
}

// Rights encodes file descriptors as an SCM_RIGHTS control message.
func Rights(fds ...int) []byte {
	if len(fds) == 0 {
		return nil
	}
	return unix.UnixRights(fds...)
}

// RightsSpace is the control buffer size that holds n descriptors.
func RightsSpace(n int) int { return unix.CmsgSpace(4 * n) }

// ParseRights extracts every descriptor passed in a control buffer. Descriptors
// it returns belong to the caller, who must close them, even on error: a
// control buffer can carry several messages and a parse error in one must not
// leak the descriptors of another.
func ParseRights(oob []byte) ([]int, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("control message: %w", err)
	}
	var fds []int
	var perr error
	for i := range msgs {
		if msgs[i].Header.Level != unix.SOL_SOCKET || msgs[i].Header.Type != unix.SCM_RIGHTS {
			continue
		}
		got, err := unix.ParseUnixRights(&msgs[i])
		if err != nil {
			perr = fmt.Errorf("SCM_RIGHTS: %w", err)
			continue
		}
		fds = append(fds, got...)
	}
	return fds, perr
}

// IsEventFD reports whether fd refers to an eventfd.
func IsEventFD(fd int) bool {
	target, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	return err == nil && target == "anon_inode:[eventfd]"
}

// MsgTruncated reports whether recvmsg flags say the data or the control part
// was cut.
func MsgTruncated(flags int) (data, control bool) {
	return flags&unix.MSG_TRUNC != 0, flags&unix.MSG_CTRUNC != 0
}

// PeerClosed reports, without blocking, whether the other end of a connected
// socket has hung up.
func PeerClosed(c syscall.Conn) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return true
	}
	closed := false
	if err := rc.Control(func(fd uintptr) {
		fds := [1]unix.PollFd{{Fd: int32(fd), Events: unix.POLLRDHUP}}
		if n, err := unix.Poll(fds[:], 0); err == nil && n > 0 {
			closed = fds[0].Revents&(unix.POLLRDHUP|unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0
		}
	}); err != nil {
		return true
	}
	return closed
}
